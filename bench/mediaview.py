"""Figure 10 (`mediaview`): the Media view at 100,000 media, scrolled end to end, offscreen.

100,000 media rows (one message each, 2,000 contacts; completed photos with stored thumbnails, PDFs, failed
media with a reason) in the console's `MediaView`, as View > Media shows it. A reload counts them and resets
once; the table is scrolled one viewport page per step, paced like a frame clock, and every GUI-thread slice is
timed: a scroll step with its `viewport().repaint()`, and each event-loop pass in between (those deliver the
pages and the decoded thumbnails). At the end it waits until the rows on screen are real and checks that the
last row is the oldest media. Then a filter (status: failed) and clearing it, each a reset at 100,000 rows.
Runs in a child process, as the chat list's: a crash of Qt becomes a FAIL line.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from bench.common import HERE, PY, Figure, engine_config, tmpdir

FRAME_MS = 16.0
MEDIA = 100_000
CONTACTS = 2_000
THUMBS = 200  # distinct thumbnail files; each row still decodes its own (the cache is per media)


def _build(eng: Any, n: int) -> None:
    from PIL import Image
    from sqlalchemy import insert

    from engine.db.models import Chat, ChatMedia, Contact, Workspace

    folder = eng.cfg.data_dir / "thumbnails" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(THUMBS):
        buf = io.BytesIO()
        Image.new("RGB", (320, 240), ((i * 37) % 255, (i * 91) % 255, 160)).save(buf, "JPEG", quality=82)
        (folder / f"{i}.jpg").write_bytes(buf.getvalue())
    t0 = datetime(2025, 1, 1)
    with eng.db.engine.begin() as c:
        ws = c.execute(insert(Workspace).values(name="bench", phone_number_id="PNID-MEDIA")).inserted_primary_key[0]
        c.execute(insert(Contact), [dict(id=i, workspace_id=ws, wa_id=f"62812{i:07d}", name=f"Customer {i}")
                                    for i in range(1, CONTACTS + 1)])
        step = 10_000
        for lo in range(0, n, step):
            ids = range(lo + 1, min(n, lo + step) + 1)
            media, chats = [], []
            for i in ids:
                kind = ("image", "image", "document", "image", "video")[i % 5]
                failed = i % 17 == 0
                mime = {"image": "image/jpeg", "document": "application/pdf", "video": "video/mp4"}[kind]
                meta: dict[str, Any] = {"reason": "expired", "error": "the link expired"} if failed else {}
                if not failed and kind == "image":
                    meta["thumbnail"] = f"thumbnails/bench/{i % THUMBS}.jpg"
                media.append(dict(id=i, name=f"{kind}-{i}.{mime.split('/')[1]}", type=mime, size=50_000 + i,
                                  path=None if failed else f"uploads/bench/{i}", location="local",
                                  processing_status="failed" if failed else "completed", metadata=meta,
                                  wa_media_id=f"M{i}", created_at=t0 + timedelta(seconds=i),
                                  updated_at=t0 + timedelta(seconds=i)))
                chats.append(dict(workspace_id=ws, contact_id=1 + i % CONTACTS, wamid=f"wamid.MV{i:07d}",
                                  direction="in", type=kind, meta={}, created_at=t0 + timedelta(seconds=i),
                                  media_id=i))
            c.execute(insert(ChatMedia.__table__), media)  # the table: its JSON column is named "metadata"
            c.execute(insert(Chat), chats)


def run(quick: bool, name: str = "mediaview") -> list[Figure]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([PY, "-m", "bench.mediaview", "child", "quick" if quick else "full"],
                         capture_output=True, text=True, timeout=1200, env=env, cwd=str(HERE.parent))
    lines = out.stdout.strip().splitlines() or [""]
    if out.returncode != 0 or not lines[-1].startswith("{"):
        err = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
        return [Figure("mediaview.worst_frame", [], "ms", f"no frame > {FRAME_MS:.0f} ms", False,
                       note=f"the child failed (exit {out.returncode}): {(err[-1] if err else 'no output')[:160]}")]
    d = json.loads(lines[-1])
    return [Figure("mediaview.worst_frame", d["frames"], "ms", f"no frame > {FRAME_MS:.0f} ms", d["ok"],
                   note=d["note"]),
            Figure("mediaview.filter_reset", d["filter"], "ms", f"no frame > {FRAME_MS:.0f} ms", d["filter_ok"],
                   note=d["filter_note"])]


def child(quick: bool) -> None:
    from PySide6.QtWidgets import QApplication

    from console.bridge import EngineBridge
    from console.gc_guard import GuiThreadGarbageCollector
    from console.media_view import MediaDelegate, MediaView
    from console.tasks import wait_for_tasks
    from engine import MediaFilter
    from engine.runtime import MediaDeskEngine

    class CountingDelegate(MediaDelegate):
        real = placeholders = 0

        def paint(self, painter: Any, option: Any, index: Any) -> None:
            if self.parent().model().item(index.row()) is None:
                CountingDelegate.placeholders += 1
            else:
                CountingDelegate.real += 1
            super().paint(painter, option, index)

    app = QApplication.instance() or QApplication([])
    work = tmpdir("mediaview")
    eng = MediaDeskEngine(engine_config(work / "data", "http://127.0.0.1:9"))
    eng.open()
    frames: list[float] = []
    pace = (4.0 if quick else FRAME_MS) / 1000
    try:
        t_build = time.monotonic()
        _build(eng, MEDIA)
        t_build = time.monotonic() - t_build
        bridge = EngineBridge()
        view = MediaView(eng, bridge)
        table, model = view.table, view.model
        table.setItemDelegate(CountingDelegate(view.thumbnails, view.header, table))
        view.resize(1280, 900)
        view.show()
        app.processEvents()
        collector = GuiThreadGarbageCollector(app)
        collector.start()

        def timed_pass(into: list[float]) -> None:
            t = time.perf_counter()
            app.processEvents()
            into.append((time.perf_counter() - t) * 1000)

        def visible_rows() -> range:
            top = table.rowAt(0)
            bottom = table.rowAt(table.viewport().height() - 1)
            return range(max(top, 0), (bottom if bottom >= 0 else model.rowCount() - 1) + 1)

        def settle(into: list[float]) -> None:
            deadline = time.monotonic() + 30
            while True:
                t = time.perf_counter()
                app.processEvents()
                busy = model.loading or any(model.item(r) is None for r in visible_rows())
                into.append((time.perf_counter() - t) * 1000)
                if not busy or time.monotonic() > deadline:
                    return
                time.sleep(0.001)

        first: list[float] = []
        model.reload()
        settle(first)
        bar = table.verticalScrollBar()
        until = time.monotonic() + 10
        while bar.maximum() == 0 and time.monotonic() < until:  # the scroll range is laid out late
            timed_pass(first)
            table.viewport().repaint()
        step = bar.pageStep()
        deadline = time.monotonic() + (300 if quick else 900)
        steps = 0
        while bar.value() < bar.maximum() and time.monotonic() < deadline:
            t = time.perf_counter()
            bar.setValue(min(bar.maximum(), bar.value() + step))
            app.processEvents()
            table.viewport().repaint()
            frames.append((time.perf_counter() - t) * 1000)
            steps += 1
            while time.perf_counter() - t < pace:
                timed_pass(frames)
                time.sleep(0.0005)
        t_settle = time.perf_counter()
        settle(frames)
        t_settle = (time.perf_counter() - t_settle) * 1000
        CountingDelegate.real = CountingDelegate.placeholders = 0
        table.viewport().repaint()
        shown = visible_rows()
        last = model.item(MEDIA - 1)
        at_end = bar.value() == bar.maximum() and shown[-1] == MEDIA - 1
        real_end = CountingDelegate.placeholders == 0 and last is not None and last.media_id == 1
        rows = model.rowCount()

        filt: list[float] = []
        filter_rows = []
        for f in (MediaFilter(status="failed"), MediaFilter()):
            model.set_filter(f)
            settle(filt)
            t = time.perf_counter()
            table.viewport().repaint()
            filt.append((time.perf_counter() - t) * 1000)
            filter_rows.append(model.rowCount())
        filt = [x for x in filt if x > 0.05]
        view.close()
        collector.stop()
    finally:
        wait_for_tasks(10_000)
        eng.stop()
        shutil.rmtree(work, ignore_errors=True)
    worst = max(frames) if frames else float("nan")
    over = sum(1 for f in frames if f > FRAME_MS)
    ok = rows == MEDIA and at_end and real_end and worst <= FRAME_MS
    f_worst = max(filt) if filt else float("nan")
    failed_n = sum(1 for i in range(1, MEDIA + 1) if i % 17 == 0)
    filter_ok = filter_rows == [failed_n, MEDIA] and f_worst <= FRAME_MS
    print(json.dumps(dict(frames=frames, ok=ok, filter=filt, filter_ok=filter_ok, note=(
        f"worst frame {worst:.1f} ms, {over} of {len(frames)} slices over {FRAME_MS:.0f} ms; {steps} steps of "
        f"{step} px to row {shown[-1] + 1}/{rows} ({'reached' if at_end else 'did NOT reach'} the end); end rows "
        f"{'real' if real_end else 'NOT real'} after {t_settle:.0f} ms; thumbnails decoded off the GUI thread; "
        f"a step every {pace * 1000:.0f} ms; first reload's slices worst {max(first):.1f} ms; "
        f"data built in {t_build:.1f} s"),
        filter_note=(f"worst frame {f_worst:.1f} ms over {len(filt)} busy slices: filter status=failed "
                     f"({filter_rows[0]} rows), then cleared ({filter_rows[1]} rows), until the rows on screen "
                     f"were real"))))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "child":
        child(sys.argv[2] == "quick")
