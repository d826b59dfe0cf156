"""`python -m bench all [--quick]` runs every benchmark; `python -m bench NAME [--quick]` runs one.

Prints one line per figure (min, median and max over the rounds, the target, PASS/FAIL) and exits 1
when any target is missed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import traceback

from bench import common
from bench.common import Figure

# name -> module; each module has `run(quick: bool) -> list[Figure]`
BENCHMARKS: dict[str, str] = {
    "ingest": "bench.ingest",
    "scaleout": "bench.scaleout",
    "ceiling": "bench.ceiling",
    "latency": "bench.latency",
    "download": "bench.download",
    "memory": "bench.memory",
    "crash": "bench.crash",
    "chat": "bench.chat",
    "chatlist": "bench.console",
    "startup": "bench.console",
    "metrics": "bench.metrics",
    "mediaview": "bench.mediaview",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("name", choices=["all", *BENCHMARKS], help="a benchmark, or all of them")
    ap.add_argument("--quick", action="store_true", help="fewer rounds and shorter idles (under 5 minutes)")
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default=common.DB,
                    help="the database every server and engine uses: an SQLite file (default), or a throwaway "
                         "PostgreSQL cluster started for the run (its binaries installed; as user postgres when root)")
    args = ap.parse_args(argv)
    common.DB = args.db
    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    print(f"# mediadesk bench {'--quick ' if args.quick else ''}--db {args.db} {args.name}: {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, {platform.platform()}", flush=True)
    t_all = time.monotonic()
    failed: list[str] = []
    for name in names:
        mod = importlib.import_module(BENCHMARKS[name])
        t0 = time.monotonic()
        try:
            figures: list[Figure] = mod.run(args.quick, name)
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc(file=sys.stderr)
            figures = [Figure(name, [], "", "runs", False, note=f"crashed: {type(exc).__name__}: {exc}")]
        for f in figures:
            print(f.line(), flush=True)
            if f.ok is False:
                failed.append(f.name)
        print(f"#   ({name}: {time.monotonic() - t0:.0f} s)", flush=True)
    print(f"# total {time.monotonic() - t_all:.0f} s; "
          + (f"{len(failed)} target(s) missed: {', '.join(failed)}" if failed else "every target met"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
