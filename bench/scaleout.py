"""Two listeners on one PostgreSQL: `mediadesk serve --no-workers` twice on the same database, the load split
between them, against one of them taking all of it (A B A B in the same run).

Both sides use the same two client processes (`bench.loadclient`, 8 threads each): "one" sends both halves to
the first listener, "two" sends each half to a listener of its own. The figure is the aggregate rate of "two"
over "one" (bodies over the span from the first client's start to the last one's end). SQLite has one writer
at a time by design: this benchmark needs `--db postgresql`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

from bench import common
from bench.common import HERE, PY, Figure, Serve, load, median, text_body, tmpdir

RATIO_TARGET = 1.5
THREADS = 8


def _clients(bases: list[str], tag: str, first: int, n: int) -> tuple[float, list[float], dict[int, int]]:
    """Two client processes, half of the bodies each, to bases[0] and bases[1 % len]; (rate, p99s, statuses)."""
    start_at = time.time() + 1.5  # after the interpreters start
    half = n // 2
    procs = [subprocess.Popen([PY, "-m", "bench.loadclient", bases[k % len(bases)], tag, str(first + k * half),
                               str(half), str(THREADS), f"{start_at:.6f}"], stdout=subprocess.PIPE, text=True,
                              cwd=str(HERE.parent)) for k in range(2)]
    outs = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    span = max(o["end"] for o in outs) - min(o["start"] for o in outs)
    statuses: dict[int, int] = {}
    for o in outs:
        for k, v in o["statuses"].items():
            statuses[int(k)] = statuses.get(int(k), 0) + v
    return 2 * half / span, [o["p99_ms"] for o in outs], statuses


def run(quick: bool, name: str = "scaleout") -> list[Figure]:
    if common.DB != "postgresql":
        return [Figure("scaleout.ratio", [], "x", f">= {RATIO_TARGET}x", None,
                       skipped="two listeners share a PostgreSQL: run it with --db postgresql")]
    rounds, n = (4, 6000) if quick else (6, 12000)
    db = common.database_url()
    a = Serve(tmpdir("scaleout-a"), args=["--no-workers"], database=db)
    b = Serve(tmpdir("scaleout-b"), args=["--no-workers"], database=db)
    ratios, one_rates, two_rates, p99s = [], [], [], []
    statuses: dict[int, int] = {}
    try:
        a.start()
        b.start()
        load(a.base, [text_body(10_000_000 + i, "SCW") for i in range(300)])
        load(b.base, [text_body(20_000_000 + i, "SCW") for i in range(300)])
        for r in range(rounds):
            one, p_one, st1 = _clients([a.base], "SC1", r * n, n)
            two, p_two, st2 = _clients([a.base, b.base], "SC2", r * n, n)
            one_rates.append(one)
            two_rates.append(two)
            ratios.append(two / one)
            p99s += p_one + p_two
            for st in (st1, st2):
                for k, v in st.items():
                    statuses[k] = statuses.get(k, 0) + v
        with a.db() as c:
            uniq, rows = c.execute("select count(distinct wamid), count(*) from chats "
                                   "where wamid like 'wamid.SC_%'").fetchone()
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(a.data, ignore_errors=True)
        shutil.rmtree(b.data, ignore_errors=True)
    want = 2 * rounds * (n // 2) * 2 + 600
    return [
        Figure("scaleout.ratio", ratios, "x", f">= {RATIO_TARGET}x", median(ratios) >= RATIO_TARGET,
               note=f"two listeners median {median(two_rates):.0f}/s vs one {median(one_rates):.0f}/s, {rounds} "
                    f"rounds x {n}, 2 client processes x {THREADS} threads on both sides"),
        Figure("scaleout.p99", p99s, "ms", "report (no target)", None, note="per client process and round"),
        Figure("scaleout.stored_once", [float(uniq)], "rows", f"{want} unique, {want} rows",
               uniq == want and rows == want and set(statuses) == {200}, note=f"{rows} rows, statuses {statuses}"),
    ]
