"""Figure 3: webhook to `completed` for a small image on loopback, and after the queue sat idle.

The real engine (MediaDeskEngine: the listener, group-commit writer, Huey workers) runs in this
process so that the `completed` event is timed exactly; the Graph simulator runs in its own process.
The reference does the least the same job needs, in one thread: POST the webhook to the bare receiver,
ask the simulator for the URL, stream the bytes to a file with sha256 and fsync.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import threading
import time
from pathlib import Path

import requests

from bench.common import TOKEN, Figure, Receiver, SimServer, engine_config, percentile, tmpdir
from engine.config import GRAPH_API_VERSION

P50_TARGET_MS, P95_TARGET_MS = 250.0, 1000.0


class _Waiter:
    def __init__(self) -> None:
        self.done: dict[int, float] = {}
        self.cond = threading.Condition()

    def __call__(self, event: object) -> None:
        from engine.events import MediaStatusChanged

        if isinstance(event, MediaStatusChanged) and event.status == "completed":
            with self.cond:
                self.done[event.media_id] = time.perf_counter()
                self.cond.notify_all()

    def wait_any_after(self, known: set[int], timeout: float = 30.0) -> tuple[int, float]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                new = [k for k in self.done if k not in known]
                if new:
                    return new[0], self.done[new[0]]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("media not completed in time")
                self.cond.wait(left)


def _reference(sess: requests.Session, recv: str, sim: str, body: bytes, sig: str, mid: str, out: Path) -> float:
    t0 = time.perf_counter()
    sess.post(recv + "/webhook", data=body, headers={"X-Hub-Signature-256": sig,
                                                       "Content-Type": "application/json"}).raise_for_status()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    info = sess.get(f"{sim}/{GRAPH_API_VERSION}/{mid}", headers=auth).json()
    h = hashlib.sha256()
    with sess.get(info["url"], headers=auth, stream=True) as r, open(out, "wb") as f:
        for chunk in r.iter_content(256 * 1024):
            h.update(chunk)
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    assert h.hexdigest() == info["sha256"]
    return time.perf_counter() - t0


def run(quick: bool, name: str = "latency") -> list[Figure]:
    from engine.runtime import MediaDeskEngine
    from engine.simulator import media_message
    from engine.simulator.sender import encode, sign

    samples, idle_s, idle_rounds = (30, 20.0, 1) if quick else (100, 120.0, 2)
    work = tmpdir("latency")
    sim = SimServer([["LAT", samples + 20 + idle_rounds, "image/jpeg", 0, 0]])
    recv = Receiver()
    eng = MediaDeskEngine(engine_config(work / "data", sim.url))
    waiter = _Waiter()
    eng.events.subscribe(waiter)
    rng = random.Random(6)
    subject, reference, idle = [], [], []
    sess, ref_sess = requests.Session(), requests.Session()
    try:
        eng.start()
        url = eng.listener.address + "/webhook"

        def one(i: int) -> float:
            body = encode(media_message("image", f"LAT{i:05d}", "image/jpeg", wa_id=f"1555{i % 7:07d}"))
            known = set(waiter.done)
            t0 = time.perf_counter()
            r = sess.post(url, data=body, headers={"X-Hub-Signature-256": sign(body, eng.cfg.app_secret),
                                                   "Content-Type": "application/json"})
            r.raise_for_status()
            _, t1 = waiter.wait_any_after(known)
            return t1 - t0

        def ref(i: int) -> float:
            body = encode(media_message("image", f"LAT{i:05d}", "image/jpeg"))
            return _reference(ref_sess, recv.base, sim.url, body, sign(body, eng.cfg.app_secret), f"LAT{i:05d}",
                              work / "ref.jpg")

        for i in range(5):  # warm-up
            one(samples + i)
            ref(samples + i)
        for i in range(samples):  # A B A B, with a random gap so no sample rides a poll tick
            subject.append(one(i) * 1000)
            reference.append(ref(i) * 1000)
            time.sleep(rng.uniform(0.0, 0.3))
        for k in range(idle_rounds):
            time.sleep(idle_s)
            idle.append(one(samples + 10 + k) * 1000)
    finally:
        eng.stop()
        recv.stop()
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    p50, p95 = percentile(subject, 0.5), percentile(subject, 0.95)
    idle_note = f"after {idle_s:.0f} s idle" + (" (--quick; the full run idles 120 s)" if quick else "")
    return [
        Figure("latency.p50", subject, "ms", f"p50 < {P50_TARGET_MS:.0f} ms", p50 < P50_TARGET_MS,
               note=f"p50 {p50:.1f} ms over {samples} webhooks; reference (bare POST + GET + stream + fsync) "
                    f"p50 {percentile(reference, 0.5):.1f} ms"),
        Figure("latency.p95", subject, "ms", f"p95 < {P95_TARGET_MS:.0f} ms", p95 < P95_TARGET_MS,
               note=f"p95 {p95:.1f} ms; reference p95 {percentile(reference, 0.95):.1f} ms"),
        Figure("latency.after_idle", idle, "ms", f"< {P95_TARGET_MS:.0f} ms", max(idle) < P95_TARGET_MS,
               note=idle_note),
    ]
