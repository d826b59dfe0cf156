"""Figure 1: signed webhooks/s stored by `mediadesk serve` vs the bare receiver, same client, same run.

The contract's keep-alive client with 8 threads posts the same bodies to each server in turn (A B A B),
so drift on this shared machine hits both; the median of the per-round ratios is the figure.
"""

from __future__ import annotations

import shutil
import time

from bench.common import Figure, Receiver, Serve, load, median, percentile, text_body, tmpdir

RATIO_TARGET = 0.8
P99_TARGET_MS = 25.0


def run(quick: bool, name: str = "ingest") -> list[Figure]:
    rounds, n = (5, 1500) if quick else (5, 3000)
    total = rounds * n
    bodies = [text_body(i, "ING") for i in range(total)]
    warm = [text_body(total + i, "ING") for i in range(300)]
    serve = Serve(tmpdir("ingest"))
    recv = Receiver()
    ratios, m_rates, b_rates, m_p99, b_p99 = [], [], [], [], []
    m_all: list[float] = []
    statuses: dict[int, int] = {}
    try:
        serve.start()
        load(recv.base, warm)
        load(serve.base, warm)
        for r in range(rounds):
            chunk = bodies[r * n:(r + 1) * n]
            m_s, m_lat, st = load(serve.base, chunk)
            b_s, b_lat, _ = load(recv.base, chunk)
            m_rates.append(n / m_s)
            b_rates.append(n / b_s)
            ratios.append(b_s / m_s)
            m_all += m_lat
            m_p99.append(percentile(m_lat, 0.99) * 1000)
            b_p99.append(percentile(b_lat, 0.99) * 1000)
            for k, v in st.items():
                statuses[k] = statuses.get(k, 0) + v
        time.sleep(0.5)
        with serve.db() as c:
            uniq, rows = c.execute("select count(distinct wamid), count(*) from chats "
                                   "where wamid like 'wamid.ING%'").fetchone()
    finally:
        recv.stop()
        serve.stop()
        shutil.rmtree(serve.data, ignore_errors=True)
    want = total + len(warm)
    pooled = percentile(m_all, 0.99) * 1000
    return [
        Figure("ingest.ratio", ratios, "x", f">= {RATIO_TARGET}x (aim 1.0x)", median(ratios) >= RATIO_TARGET,
               note=f"mediadesk median {median(m_rates):.0f}/s vs bare receiver {median(b_rates):.0f}/s, "
                    f"{rounds} rounds x {n}, 8 client threads"),
        Figure("ingest.p99", m_p99, "ms", f"< {P99_TARGET_MS:.0f} ms", pooled < P99_TARGET_MS,
               note=f"p99 over all rounds {pooled:.1f} ms (the verdict); bare receiver p99 median "
                    f"{median(b_p99):.1f} ms"),
        Figure("ingest.stored_once", [float(uniq)], "rows", f"{want} unique, {want} rows",
               uniq == want and rows == want and set(statuses) == {200},
               note=f"{rows} rows, statuses {statuses}"),
    ]
