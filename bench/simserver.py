"""The project's CloudSimulator in its own process: `python -m bench.simserver SPEC_JSON`.

SPEC rows are [prefix, count, mime, size, slow_bps]: media ids `{prefix}{i:05d}` for i < count. Prints
`URL DIGESTS_FILE` (a JSON map of media id -> sha256 hex) and serves until stdin closes.
"""

from __future__ import annotations

import json
import sys
import tempfile

from bench.common import TOKEN
from engine.simulator import CloudSimulator, Fault


def main() -> None:
    spec = json.loads(sys.argv[1])
    sim = CloudSimulator(access_token=TOKEN)
    digests: dict[str, str] = {}
    for prefix, count, mime, size, slow in spec:
        fault = Fault(slow_bps=int(slow)) if slow else None
        for i in range(int(count)):
            mid = f"{prefix}{i:05d}"
            digests[mid] = sim.add_media(mid, mime, fault=fault, size=int(size) if size else None).sha256
    url = sim.start()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, prefix="mediadesk-bench-sim-") as f:
        json.dump(digests, f)
    print(url, f.name, flush=True)
    sys.stdin.read()
    sim.stop()


if __name__ == "__main__":
    main()
