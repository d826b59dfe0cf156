"""Figure 5: peak memory growth of a process downloading a 100 MB file through the engine pipeline.

Each measurement is a fresh child process (`python -m bench.memory child MODE SIM_URL DATA`): it imports
and opens the engine, inserts the media row, resets its peak RSS (/proc/self/clear_refs) and reads VmHWM,
downloads, reads VmHWM again. The reference child does the bare `requests` + sha256 loop instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.common import PY, Figure, SimServer, median, tmpdir

SIZE = 100 * 1024 * 1024
TARGET_MB, AIM_MB = 50.0, 16.0


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def child(mode: str, sim_url: str, data: str) -> None:
    from bench.download import EngineDownloads, bare_download

    eng = EngineDownloads(Path(data), sim_url)
    rows = eng.new_rows(["BIG00000"])
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
        reset = True
    except OSError:
        reset = False
    before, rss0 = _status("VmHWM"), _status("VmRSS")
    if mode == "engine":
        eng.download(rows[0])
    else:
        bare_download(sim_url, "BIG00000", Path(data) / "ref.bin")
    after = _status("VmHWM")
    eng.close()
    print(json.dumps({"growth": after - max(before, rss0) if reset else after - before, "reset": reset,
                      "before": before, "after": after}))


def _measure(mode: str, sim_url: str, data: Path) -> dict:
    out = subprocess.run([PY, "-m", "bench.memory", "child", mode, sim_url, str(data)], capture_output=True,
                         text=True, timeout=300, cwd=str(Path(__file__).resolve().parent.parent))
    if out.returncode != 0:
        raise RuntimeError(f"memory child failed: {out.stderr[-400:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool, name: str = "memory") -> list[Figure]:
    rounds = 2 if quick else 4
    work = tmpdir("memory")
    sim = SimServer([["BIG", 1, "application/pdf", SIZE, 0]])
    eng, ref = [], []
    reset = True
    try:
        for r in range(rounds):
            a = _measure("engine", sim.url, work / f"e{r}")
            b = _measure("bare", sim.url, work / f"b{r}")
            eng.append(a["growth"] / 2**20)
            ref.append(b["growth"] / 2**20)
            reset = reset and a["reset"]
    finally:
        sim.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return [Figure("memory.100MB", eng, "MB", f"< {TARGET_MB:.0f} MB (aim {AIM_MB:.0f})", max(eng) < TARGET_MB,
                   note=f"peak RSS growth (VmHWM{' after clear_refs' if reset else ''}); bare requests loop "
                        f"{median(ref):.1f} MB")]


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
