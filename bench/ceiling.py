"""Figure 2: the ingest ceiling with a load generator that is not the bottleneck.

`wrk` (C, epoll) with a Lua script cycling through pre-signed bodies, each wrk thread its own slice of
wamids; without wrk, several client processes each running the contract's client. The CPU each side
used per wall second says what limits the figure (a server near 1.0 core is bound by its one GIL).
"""

from __future__ import annotations

import multiprocessing
import re
import resource
import shutil
import subprocess
import time
from pathlib import Path

from bench.common import Figure, Receiver, Serve, cpu_seconds, load, median, sign, text_body, tmpdir

LUA = r"""
local n = 0
function setup(thread)
  thread:set("tid", n)
  n = n + 1
end
function init(args)
  bodies, sigs, idx = {}, {}, 0
  local nth, i = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if i % nth == tid then
      local sp = line:find(" ", 1, true)
      sigs[#sigs + 1] = line:sub(1, sp - 1)
      bodies[#bodies + 1] = line:sub(sp + 1)
    end
    i = i + 1
  end
end
function request()
  idx = idx % #bodies + 1
  return wrk.format("POST", "/webhook",
    {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = sigs[idx]}, bodies[idx])
end
"""
WRK_THREADS, WRK_CONNS = 2, 16


def _ms(v: str, unit: str) -> float:
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wrk(base: str, script: Path, bodies: Path, seconds: int) -> tuple[float, float, int, float]:
    """(requests/s, p99 ms, non-2xx, wrk CPU cores used)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNS}", f"-d{seconds}s", "--latency", "-s",
                          str(script), base + "/webhook", "--", str(bodies), str(WRK_THREADS)],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / seconds
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = _ms(m.group(1), m.group(2)) if m else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, p99, int(bad.group(1)) if bad else 0, cpu


def _proc_load(args: tuple[str, list[bytes]]) -> tuple[float, int]:
    secs, lat, _ = load(args[0], args[1], threads=4)
    return secs, len(lat)


def _mp(base: str, bodies: list[bytes], procs: int) -> tuple[float, float, int, float]:
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        t0 = time.perf_counter()
        res = pool.map(_proc_load, [(base, bodies[i::procs]) for i in range(procs)])
        wall = time.perf_counter() - t0
    return sum(n for _, n in res) / wall, float("nan"), 0, float("nan")


def run(quick: bool, name: str = "ceiling") -> list[Figure]:
    rounds, seconds = (2, 4) if quick else (3, 8)
    work = tmpdir("ceiling")
    use_wrk = shutil.which("wrk") is not None
    nbodies = 60_000 if quick else 120_000
    bodies = [text_body(i, "CEIL") for i in range(nbodies)]
    bodies_file, script = work / "bodies.txt", work / "cycle.lua"
    if use_wrk:
        with open(bodies_file, "wb") as f:
            for b in bodies:
                f.write(sign(b).encode() + b" " + b + b"\n")
        script.write_text(LUA)
    serve = Serve(work / "data")
    recv = Receiver()
    m_rates, b_rates, m_p99, m_srv_cpu, b_srv_cpu, client_cpu = [], [], [], [], [], []
    non2xx = 0
    try:
        serve.start()
        targets = [("m", serve.base, serve.proc.pid), ("b", recv.base, recv.proc.pid)]  # type: ignore[union-attr]
        for r in range(rounds + 1):  # round 0 is the warm-up
            for who, base, pid in targets:
                c0, t0 = cpu_seconds(pid), time.monotonic()
                if use_wrk:
                    rps, p99, bad, ccpu = _wrk(base, script, bodies_file, seconds if r else 1)
                else:
                    chunk = bodies[(r * 2 + (who == "b")) * 6000:][:6000]
                    rps, p99, bad, ccpu = _mp(base, chunk, 3)
                srv = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
                if r == 0:
                    continue
                if who == "m":
                    m_rates.append(rps)
                    m_p99.append(p99)
                    m_srv_cpu.append(srv)
                    non2xx += bad
                else:
                    b_rates.append(rps)
                    b_srv_cpu.append(srv)
                client_cpu.append(ccpu)
        with serve.db() as c:
            stored = c.execute("select count(*) - count(distinct wamid) from chats").fetchone()[0]
    finally:
        recv.stop()
        serve.stop()
        shutil.rmtree(work, ignore_errors=True)
    gen = (f"wrk -t{WRK_THREADS} -c{WRK_CONNS} {seconds}s, Lua cycling {nbodies} pre-signed bodies"
           if use_wrk else "3 client processes x 4 threads")
    limit = (f"server CPU {median(m_srv_cpu):.2f} cores (bare receiver {median(b_srv_cpu):.2f}), "
             f"load generator {median(client_cpu):.2f} cores of 2")
    return [
        Figure("ceiling.mediadesk", m_rates, "req/s", "report (no target)", None,
               note=f"{gen}; p99 median {median(m_p99):.1f} ms; {non2xx} non-2xx; {stored} duplicate rows; {limit}"),
        Figure("ceiling.bare", b_rates, "req/s", "report (no target)", None,
               note=f"ratio {median(m_rates) / median(b_rates):.2f}x"),
    ]
