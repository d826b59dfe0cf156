"""One load client in a process of its own (`python -m bench.loadclient BASE TAG FIRST N THREADS START_AT`).

Posts text bodies FIRST..FIRST+N-1 with `bench.common.load`, starting at the wall-clock time START_AT so that
several clients begin together, and prints one JSON line: start, end, p99 and status counts. A process per
client: one Python client is about a core by itself, and two in one process would share its GIL.
"""

from __future__ import annotations

import json
import sys
import time

from bench.common import load, percentile, sign, text_body


def main() -> None:
    base, tag, first, n, threads, start_at = sys.argv[1:7]
    bodies = [text_body(i, tag) for i in range(int(first), int(first) + int(n))]
    for b in bodies:
        sign(b)  # the same work load() does first: warm, outside the timed span
    time.sleep(max(0.0, float(start_at) - time.time()))
    t0 = time.time()
    seconds, lat, statuses = load(base, bodies, threads=int(threads))
    print(json.dumps({"start": t0, "end": t0 + seconds, "p99_ms": percentile(lat, 0.99) * 1000,
                      "statuses": statuses}), flush=True)


if __name__ == "__main__":
    main()
