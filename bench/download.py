"""Figure 4: download throughput of the engine's path vs a bare `requests` + sha256 streaming loop.

Subject: `engine.media.download.run_download` (claim the row, ask Graph for a URL, stream to a temp file
with sha256, fsync, verify, sniff, atomic rename, mark completed) from N threads. Reference: per thread,
GET the metadata, stream with `requests` in 256 KiB chunks, sha256 each chunk, write, fsync. Both run in
this process against the simulator in another one, A B A B at concurrency 1 and 4.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from bench.common import TOKEN, Figure, SimServer, engine_config, median, tmpdir
from engine.config import GRAPH_API_VERSION
from engine.storage.dedupe import INDEX_DIR

SIZE = 20 * 1024 * 1024
RATIO_TARGET = 0.8
NMEDIA = 8  # one per row of the largest round: every download in a round fetches bytes not yet stored


def _parallel(jobs: list[Callable[[], None]], conc: int) -> float:
    lock = threading.Lock()
    todo = list(jobs)

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                job = todo.pop()
            job()

    ts = [threading.Thread(target=worker) for _ in range(conc)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


_local = threading.local()


def bare_download(sim_url: str, mid: str, out: Path) -> None:
    """The reference loop."""
    s = getattr(_local, "s", None) or requests.Session()
    _local.s = s
    auth = {"Authorization": f"Bearer {TOKEN}"}
    info = s.get(f"{sim_url}/{GRAPH_API_VERSION}/{mid}", headers=auth, timeout=30).json()
    h = hashlib.sha256()
    with s.get(info["url"], headers=auth, stream=True, timeout=30) as r, open(out, "wb") as f:
        r.raise_for_status()
        for chunk in r.iter_content(256 * 1024):
            h.update(chunk)
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    if h.hexdigest() != info["sha256"]:
        raise RuntimeError("reference download corrupted")


class EngineDownloads:
    """An opened (not started) engine whose pipeline we drive by hand, one fresh media row per download."""

    def __init__(self, data: Path, sim_url: str) -> None:
        from engine.media import Pipeline
        from engine.runtime import MediaDeskEngine

        self.eng = MediaDeskEngine(engine_config(data, sim_url))
        self.eng.open()
        self.pipeline = Pipeline(cfg=self.eng.cfg, db=self.eng.db, storage=self.eng.storage,
                                 events=self.eng.events, schedule=lambda mid, delay: None,
                                 # thumbnails on, as the engine runs: each completion enqueues its thumbnail
                                 after_complete=self.eng.thumbnail_later)
        self.n = 0

    def new_rows(self, wa_ids: list[str]) -> list[int]:
        from engine.simulator import media_message

        payloads = []
        for wa in wa_ids:
            self.n += 1
            payloads.append(media_message("document", wa, "application/pdf", filename=f"doc{self.n}.pdf",
                                          wamid=f"wamid.DL{self.n:07d}"))
        self.eng.queue.flush()
        results = self.eng.ingest(payloads)
        self.eng.queue.flush()  # nobody consumes it here; keep it empty
        return [m for r in results for m in r.media_ids]

    def download(self, media_id: int) -> None:
        from engine.media import run_download

        status = run_download(self.pipeline, media_id)
        if status != "completed":
            raise RuntimeError(f"engine download ended {status}")

    def clean(self) -> None:
        """Forget every stored file, the dedupe index included: the next round downloads fresh bytes. The
        folders stay, as a running engine's month folder does (making one durably is a once-a-month cost)."""
        for top in (self.eng.cfg.data_dir / "uploads", self.eng.cfg.data_dir / INDEX_DIR):
            for f in top.rglob("*"):
                if f.is_file():
                    f.unlink()

    def close(self) -> None:
        self.eng.stop()


def run(quick: bool, name: str = "download") -> list[Figure]:
    rounds, per_thread = (3, 2) if quick else (5, 3)
    work = tmpdir("download")
    sim = SimServer([["DOC", NMEDIA, "application/pdf", SIZE, 0]])
    ids = [f"DOC{i:05d}" for i in range(NMEDIA)]
    eng = EngineDownloads(work / "data", sim.url)
    ref_dir = work / "ref"
    ref_dir.mkdir()
    figures = []
    try:
        for conc in (1, 4):
            count = conc * per_thread
            wa = [ids[i % NMEDIA] for i in range(count)]
            ratios, e_rates, b_rates = [], [], []
            for r in range(rounds + 1):  # round 0 warms up
                rows = eng.new_rows(wa)
                e_s = _parallel([lambda m=m: eng.download(m) for m in rows], conc)
                eng.clean()
                b_s = _parallel([lambda i=i, w=w: bare_download(sim.url, w, ref_dir / f"{i}.bin")
                                 for i, w in enumerate(wa)], conc)
                shutil.rmtree(ref_dir)
                ref_dir.mkdir()
                if r == 0:
                    continue
                mb = count * SIZE / 1e6
                e_rates.append(mb / e_s)
                b_rates.append(mb / b_s)
                ratios.append(b_s / e_s)
            figures.append(Figure(f"download.c{conc}", ratios, "x", f">= {RATIO_TARGET}x",
                                  median(ratios) >= RATIO_TARGET,
                                  note=f"engine {median(e_rates):.0f} MB/s vs bare requests+sha256+fsync "
                                       f"{median(b_rates):.0f} MB/s; {count} x 20 MB per round"))
        figures.append(_again(eng, sim.url, ids[:2], ref_dir, rounds))
    finally:
        eng.close()
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    return figures


def _again(eng: EngineDownloads, sim_url: str, wa: list[str], ref_dir: Path, rounds: int) -> Figure:
    """Bytes already stored (a forwarded photo, a sticker sent again): the engine checks its copy and links
    it; the bare loop downloads them as it always does."""
    ratios = []
    for m in eng.new_rows(wa):  # stores them once
        eng.download(m)
    for _ in range(rounds):
        rows = eng.new_rows(wa)
        e_s = _parallel([lambda m=m: eng.download(m) for m in rows], 1)
        b_s = _parallel([lambda i=i, w=w: bare_download(sim_url, w, ref_dir / f"{i}.bin")
                         for i, w in enumerate(wa)], 1)
        ratios.append(b_s / e_s)
    eng.clean()
    return Figure("download.again", ratios, "x", f">= {RATIO_TARGET}x", median(ratios) >= RATIO_TARGET,
                  note=f"{len(wa)} x 20 MB already stored: checked and linked, not fetched again")
