"""Figures 8 and 9: the console. Measured only when the console's code exists; otherwise SKIPPED with the reason.

8 (`chatlist`): 100,000 chats in the console's `ChatListModel` + `ChatListDelegate` in its `ChatListView` set up
  as the main window sets it up, offscreen. The model is virtual: a reload counts the chats and resets once
  to 100,000 rows (that one reset and the view's layout of every row are reported on their own line, as
  `chatlist.reset_layout`); pages are read off the GUI thread for the rows that are painted. The view is
  scrolled end to end, one viewport page per step (ScrollPerPixel), paced like a frame clock; every
  GUI-thread slice is timed: a scroll step with its `viewport().repaint()`, and each event-loop pass in
  between (those deliver the pages). At the end it waits (with a deadline) until the rows on screen are
  real chats, repaints, and checks that the delegate painted no placeholder and that the last row is shown.
  Then the count changes (`chatlist.count_change`): back at the top with a chat selected, `NEW` chats are
  written and the list reloads; every GUI-thread slice until the rows on screen are real again is timed, and
  the new chats must be the top rows with the selected chat still selected, NEW rows lower. Last the model is
  reset at 100,000+ rows (`chatlist.search_reset`): a search matching every chat, then the search cleared.
9 (`startup`): `mediadesk --screenshot out.png --data-dir TMP` prints `first window: N ms`.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from bench.common import HERE, PY, Figure, engine_config, mediadesk_bin, tmpdir

FRAME_MS = 16.0
START_TARGET_MS = 2000.0
CHATS = 100_000
NEW = 5  # chats written before the reload whose count changed


def _missing(module: str) -> str | None:
    try:
        if importlib.util.find_spec(module) is None:
            return f"{module.replace('.', '/')}.py does not exist yet"
    except ImportError as exc:
        return f"{module} cannot be imported: {exc}"
    return None


def _build(eng: Any, n: int, first: int = 1) -> None:
    """Chats `first`..`first + n - 1` ("Customer i"), one message each, the higher the newer."""
    from sqlalchemy import insert, select

    from engine.db.models import Chat, Contact, Workspace

    t0 = datetime(2025, 1, 1)
    with eng.db.engine.begin() as c:
        ws = c.execute(select(Workspace.id).where(Workspace.phone_number_id == "PNID-LIST")).scalar() or c.execute(
            insert(Workspace).values(name="bench", phone_number_id="PNID-LIST")).inserted_primary_key[0]
        step = 10_000
        for lo in range(first - 1, first - 1 + n, step):
            ids = range(lo + 1, min(first - 1 + n, lo + step) + 1)
            c.execute(insert(Contact), [dict(id=i, workspace_id=ws, wa_id=f"62811{i:07d}", name=f"Customer {i}")
                                        for i in ids])
            c.execute(insert(Chat), [dict(workspace_id=ws, contact_id=i, wamid=f"wamid.LIST{i:07d}", direction="in",
                                          type="text", body=f"order {i}: is it shipped yet?", meta={},
                                          created_at=t0 + timedelta(seconds=i)) for i in ids])


def chatlist(quick: bool) -> list[Figure]:
    """Runs the measurement in a child process: a crash of Qt or the console becomes a FAIL line, not the end of
    the whole benchmark run."""
    name = "chatlist.worst_frame"
    why = _missing("console.chat_list")
    if why:
        return [Figure(name, [], "ms", f"< {FRAME_MS:.0f} ms", None, skipped=why)]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([PY, "-m", "bench.console", "chatlist-child", "quick" if quick else "full"],
                         capture_output=True, text=True, timeout=1200, env=env, cwd=str(HERE.parent))
    lines = out.stdout.strip().splitlines() or [""]
    last = lines[-1]
    progress = next((ln for ln in reversed(lines) if ln.startswith("progress")), "progress: none")
    if out.returncode != 0 or not last.startswith("{"):
        err = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
        fatal = next((ln for ln in err if "Fatal" in ln or "Error" in ln), err[-1] if err else "no output")
        where = next((ln.strip() for ln in err if "File" in ln and "console/" in ln), "")
        return [Figure(name, [], "ms", f"no frame > {FRAME_MS:.0f} ms", False,
                       note=f"the child crashed (exit {out.returncode}) at {progress[9:]}: {fatal.strip()[:100]} "
                            f"{where[:120]}")]
    d = json.loads(last)
    return [Figure(name, d["frames"], "ms", f"no frame > {FRAME_MS:.0f} ms", d["ok"], note=d["note"]),
            Figure("chatlist.reset_layout", d["reset"], "ms", "reported (the first reload)", None,
                   note=d["reset_note"]),
            Figure("chatlist.count_change", d["change"], "ms", f"no frame > {FRAME_MS:.0f} ms", d["change_ok"],
                   note=d["change_note"]),
            Figure("chatlist.search_reset", d["search"], "ms", f"no frame > {FRAME_MS:.0f} ms", d["search_ok"],
                   note=d["search_note"])]


def chatlist_child(quick: bool) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from console import gc_guard
    from console.chat_list import ChatListDelegate, ChatListModel, ChatListView
    from console.gc_guard import GuiThreadGarbageCollector
    from engine.runtime import MediaDeskEngine

    class CountingDelegate(ChatListDelegate):
        """Counts what was painted, so the end check sees real rows, not placeholders."""

        real = placeholders = 0

        def paint(self, painter: Any, option: Any, index: Any) -> None:
            if self.parent().model().summary(index.row()) is None:
                CountingDelegate.placeholders += 1
            else:
                CountingDelegate.real += 1
            super().paint(painter, option, index)

    app = QApplication.instance() or QApplication([])
    work = tmpdir("chatlist")
    eng = MediaDeskEngine(engine_config(work / "data", "http://127.0.0.1:9"))
    eng.open()
    frames: list[float] = []  # every GUI-thread slice while scrolling
    reset: list[float] = []  # the slices of the first reload: reset, layout of every row, first paint
    pace = (4.0 if quick else FRAME_MS) / 1000  # a step per frame (full) or four times faster (quick)
    try:
        t_build = time.monotonic()
        _build(eng, CHATS)
        t_build = time.monotonic() - t_build
        model = ChatListModel(eng)
        view = ChatListView()  # as the main window: uniform rows, per pixel, no relayout when a page lands
        view.setModel(model)
        view.setItemDelegate(CountingDelegate(view))
        view.resize(420, 900)
        view.show()
        app.processEvents()
        collector = GuiThreadGarbageCollector(app)  # as the app runs: collections on the GUI thread's timer
        collector.start()
        loaded = [0]
        model.loaded.connect(lambda: loaded.__setitem__(0, loaded[0] + 1))

        def timed_pass(into: list[float]) -> None:
            t = time.perf_counter()
            app.processEvents()
            into.append((time.perf_counter() - t) * 1000)

        t_reload = time.perf_counter()
        model.reload()
        deadline = time.monotonic() + 60
        while not loaded[0] and time.monotonic() < deadline:
            timed_pass(reset)
            time.sleep(0.001)
        reset = [f for f in reset if f > 0.05]  # the passes that did something: the reset and the layout
        timed_pass(reset)  # the delayed layout of every row, if it was not in the pass above
        t = time.perf_counter()
        view.viewport().repaint()
        reset.append((time.perf_counter() - t) * 1000)
        t_reload = (time.perf_counter() - t_reload) * 1000

        bar = view.verticalScrollBar()
        step = bar.pageStep()
        deadline = time.monotonic() + (300 if quick else 900)
        steps = 0
        while bar.value() < bar.maximum() and time.monotonic() < deadline:
            t = time.perf_counter()
            bar.setValue(min(bar.maximum(), bar.value() + step))
            app.processEvents()
            view.viewport().repaint()
            frames.append((time.perf_counter() - t) * 1000)
            steps += 1
            while time.perf_counter() - t < pace:  # the rest of the frame: pages arrive here
                timed_pass(frames)
                time.sleep(0.0005)
            if steps % 1000 == 0:
                print(f"progress step={steps} value={bar.value()}/{bar.maximum()} frames={len(frames)} "
                      f"worst={max(frames):.1f}", flush=True)

        def visible_rows() -> range:
            top = view.indexAt(view.viewport().rect().topLeft()).row()
            bottom = view.indexAt(view.viewport().rect().bottomLeft()).row()
            return range(top, (bottom if bottom >= 0 else model.rowCount() - 1) + 1)

        def settle(into: list[float]) -> None:
            """Event-loop passes until the count is read and the rows on screen are real chats. The check is
            part of the timed slice: it asks the view which rows are on screen, and a view may lay its rows
            out right then (QListView.indexAt runs a pending layout)."""
            deadline = time.monotonic() + 30
            while True:
                t = time.perf_counter()
                app.processEvents()
                busy = model._loading or any(model.summary(r) is None for r in visible_rows())
                into.append((time.perf_counter() - t) * 1000)
                if not busy or time.monotonic() > deadline:
                    return
                time.sleep(0.001)

        def settle_and_paint(into: list[float]) -> None:
            settle(into)
            t = time.perf_counter()
            view.viewport().repaint()
            into.append((time.perf_counter() - t) * 1000)

        t_settle = time.perf_counter()
        settle(frames)
        t_settle = (time.perf_counter() - t_settle) * 1000
        CountingDelegate.real = CountingDelegate.placeholders = 0
        view.viewport().repaint()
        shown = visible_rows()
        painted_real, painted_placeholders = CountingDelegate.real, CountingDelegate.placeholders
        last = model.summary(CHATS - 1)
        at_end = bar.value() == bar.maximum() and shown[-1] == CHATS - 1
        real_end = painted_placeholders == 0 and painted_real >= len(shown) and last is not None \
            and last.name == "Customer 1"  # the oldest chat is the last row
        rows = model.rowCount()

        # The count changes: NEW chats write while a chat near the top is selected.
        from PySide6.QtCore import QItemSelectionModel

        bar.setValue(0)
        settle_and_paint([])
        chosen = model.index(3)
        chosen_name = model.summary(3).name if model.summary(3) else None
        view.selectionModel().setCurrentIndex(chosen, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        _build(eng, NEW, first=CHATS + 1)
        change: list[float] = []
        t_change = time.perf_counter()
        model.reload()
        settle_and_paint(change)
        t_change = (time.perf_counter() - t_change) * 1000
        current = view.currentIndex()
        selected = view.selectionModel().selectedRows()
        change_rows = model.rowCount()
        top = model.summary(0)
        change_right = (change_rows == CHATS + NEW and top is not None and top.name == f"Customer {CHATS + NEW}"
                        and current.row() == 3 + NEW and [i.row() for i in selected] == [3 + NEW]
                        and chosen_name is not None and model.summary(3 + NEW) is not None
                        and model.summary(3 + NEW).name == chosen_name)
        change = [f for f in change if f > 0.05]  # the passes that did something

        # A reset at 100,000+ rows: a search that every chat matches, then the search cleared.
        search: list[float] = []
        search_rows = []
        for text in ("Customer", ""):
            model.set_search(text)
            settle_and_paint(search)
            search_rows.append(model.rowCount())
        search = [f for f in search if f > 0.05]
        view.close()
        collector.stop()
        t_gc = time.perf_counter()
        gc.collect(2)
        t_gc = (time.perf_counter() - t_gc) * 1000
    finally:
        from console.tasks import wait_for_tasks

        wait_for_tasks(10_000)
        eng.stop()
        shutil.rmtree(work, ignore_errors=True)
    worst = max(frames) if frames else float("nan")
    over = sum(1 for f in frames if f > FRAME_MS)
    ok = rows == CHATS and at_end and real_end and worst <= FRAME_MS
    change_worst = max(change) if change else float("nan")
    change_ok = change_right and change_worst <= FRAME_MS
    search_worst = max(search) if search else float("nan")
    search_ok = search_rows == [CHATS + NEW] * 2 and search_worst <= FRAME_MS
    print(json.dumps(dict(frames=frames, ok=ok, reset=reset, note=(
        f"worst frame {worst:.1f} ms, {over} of {len(frames)} slices over {FRAME_MS:.0f} ms; {steps} steps of "
        f"{step} px to row {shown[-1] + 1}/{rows} ({'reached' if at_end else 'did NOT reach'} the end); "
        f"end rows {'real' if real_end else 'NOT real'} ({painted_real} painted, {painted_placeholders} "
        f"placeholders) after {t_settle:.0f} ms; a step every {pace * 1000:.0f} ms; the app's GC timer on (a full "
        f"collection, every {gc_guard.FULL_EVERY_S:.0f} s, costs {t_gc:.0f} ms here); "
        f"data built in {t_build:.1f} s"),
        reset_note=(f"the first reload: count + first page off the GUI thread, then {rows} rows; GUI-thread "
                    f"slices {' + '.join(f'{f:.0f}' for f in reset)} ms (worst {max(reset):.0f} ms); "
                    f"{t_reload:.0f} ms from reload() to the first paint"),
        change=change, change_ok=change_ok, change_note=(
            f"worst frame {change_worst:.1f} ms over {len(change)} busy slices: {NEW} new chats, reload() to "
            f"{change_rows} rows and the rows on screen real in {t_change:.0f} ms; new chats on top and the "
            f"selected chat ({chosen_name}) still selected {NEW} rows lower: "
            f"{'yes' if change_right else 'NO'} (current row {current.row()}, selected "
            f"{[i.row() for i in selected]})"),
        search=search, search_ok=search_ok, search_note=(
            f"worst frame {search_worst:.1f} ms over {len(search)} busy slices: reset to {search_rows[0]} rows "
            f"(search 'Customer'), then to {search_rows[1]} (search cleared), each until the rows on screen were "
            f"real"))))


def startup(quick: bool) -> list[Figure]:
    name = "startup.first_window"
    why = _missing("console.app")
    if why:
        return [Figure(name, [], "ms", f"< {START_TARGET_MS:.0f} ms", None, skipped=why)]
    rounds = 3 if quick else 6
    values, note = [], ""
    for r in range(rounds + 1):  # the first run warms the page cache and .pyc files
        work = tmpdir("startup")
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MEDIADESK_DATA_DIR=str(work))
        t0 = time.monotonic()
        out = subprocess.run([mediadesk_bin(), "--screenshot", str(work / "out.png"), "--data-dir", str(work)],
                             capture_output=True, text=True, timeout=120, env=env)
        wall = (time.monotonic() - t0) * 1000
        text = out.stdout + out.stderr
        m = re.search(r"first window:\s*([\d.]+)\s*ms", text)
        shutil.rmtree(work, ignore_errors=True)
        if not m:
            last = (text.strip().splitlines() or ["no output"])[-1]
            return [Figure(name, [], "ms", f"< {START_TARGET_MS:.0f} ms", None,
                           skipped=f"no 'first window: N ms' line (exit {out.returncode}): {last[:160]}")]
        if r:
            values.append(float(m.group(1)))
            note = f"process wall time incl. exit {wall:.0f} ms (last round)"
    return [Figure(name, values, "ms", f"< {START_TARGET_MS:.0f} ms", max(values) < START_TARGET_MS, note=note)]


def run(quick: bool, name: str = "chatlist") -> list[Figure]:
    return startup(quick) if name == "startup" else chatlist(quick)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "chatlist-child":
        chatlist_child(sys.argv[2] == "quick")
