"""The chat list and conversation models against a real engine and SQLite file."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from console_helpers import say, send_media
from PySide6.QtCore import QItemSelectionModel, QPoint, QRect, Qt

from console.chat_list import PAGE, ROW_HEIGHT, ChatListDelegate, ChatListModel, ChatListView, SummaryRole
from console.conversation import MessageListModel, MessageRole
from engine import MediaDeskEngine
from engine.db import queries
from engine.simulator import CloudSimulator, Fault


def test_chat_list_orders_by_latest_message_and_counts(qtbot: Any, qtmodeltester: Any, engine: MediaDeskEngine,
                                                       sim: CloudSimulator) -> None:
    say(engine, "111", "Ana", "old", minutes_ago=30)
    say(engine, "222", "Ben", "newer", minutes_ago=10)
    say(engine, "111", "Ana", "newest", minutes_ago=1)
    send_media(engine, sim, "333", "Cleo", "9001", fault=Fault(status=404))
    qtbot.waitUntil(lambda: _failed_count(engine) == 1, timeout=10_000)

    model = ChatListModel(engine)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    qtmodeltester.check(model)
    rows = [model.index(r).data(SummaryRole) for r in range(model.rowCount())]
    assert [c.name for c in rows] == ["Cleo", "Ana", "Ben"]
    assert rows[0].failed_media == 1 and rows[0].last_type == "image"
    assert rows[1].last_preview == "newest" and rows[1].messages == 2 and rows[1].unread == 2
    assert model.index(1).data() == "Ana"


def _customers(engine: MediaDeskEngine, n: int, first: int = 0) -> None:
    """Customers `first`..`first + n - 1`, one message each, the higher the newer."""
    from engine.simulator import text_message
    from engine.simulator.payloads import new_wamid

    engine.ingest([text_message(f"hello {i}", wa_id=f"49{i:06d}", name=f"Customer {i}", wamid=new_wamid(),
                                timestamp=1_700_000_000 + i) for i in range(first, first + n)])


def _count_page_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """How often each page offset was read by the model (the library reads every page with `chat_summaries`)."""
    reads: Counter[int] = Counter()
    read_page = queries.chat_summaries

    def counting(s: Any, **kw: Any) -> Any:
        reads[kw["offset"]] += 1
        return read_page(s, **kw)

    monkeypatch.setattr(queries, "chat_summaries", counting)
    return reads


def test_chat_list_is_sized_by_the_count_and_pages_in_on_demand(qtbot: Any, qtmodeltester: Any,
                                                                 engine: MediaDeskEngine,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    n = 2 * PAGE + 50
    _customers(engine, n)
    reads = _count_page_reads(monkeypatch)
    model = ChatListModel(engine)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    assert model.rowCount() == n  # every chat is a row at once; only the first page is read
    assert model.index(0).data() == f"Customer {n - 1}"  # the most recent first
    assert dict(reads) == {0: 1}
    assert model.summary(PAGE) is None and model.row_of(_contact_id(engine, "49000000")) == -1

    last = model.index(n - 1)
    for _ in range(5):  # painted several times before the page arrives: read once
        assert last.data(SummaryRole) is None and model.index(2 * PAGE).data() is None
    qtbot.waitUntil(lambda: model.summary(n - 1) is not None, timeout=5000)
    assert last.data() == "Customer 0" and model.index(2 * PAGE).data() == "Customer 49"
    assert model.row_of(_contact_id(engine, "49000000")) == n - 1
    assert reads[2 * PAGE] == 1 and reads[PAGE] == 0  # the page in between was never shown
    qtmodeltester.check(model)  # placeholders and real rows side by side


def test_chat_list_page_cache_is_bounded(qtbot: Any, engine: MediaDeskEngine) -> None:
    _customers(engine, 3 * PAGE)
    model = ChatListModel(engine, cache_pages=2)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    for page in (1, 2):
        model.index(page * PAGE).data()
        qtbot.waitUntil(lambda page=page: model.summary(page * PAGE) is not None, timeout=5000)
    assert model.summary(0) is None  # the least recently painted page went
    assert model.summary(PAGE) is not None and model.summary(2 * PAGE) is not None


def test_chat_list_searches(qtbot: Any, engine: MediaDeskEngine) -> None:
    _customers(engine, PAGE + 50)
    model = ChatListModel(engine)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_search("Customer 12")
    names = {model.index(r).data() for r in range(model.rowCount())}
    assert names == {"Customer 12", *{f"Customer 12{i}" for i in range(10)}}
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_search("49000007")  # by number too
    assert [model.index(r).data() for r in range(model.rowCount())] == ["Customer 7"]
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_search("nobody")
    assert model.rowCount() == 0


def _view(qtbot: Any, model: ChatListModel) -> ChatListView:
    view = ChatListView()
    view.setModel(model)
    view.setItemDelegate(ChatListDelegate(view))
    qtbot.addWidget(view)
    view.resize(360, 5 * ROW_HEIGHT)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_chat_list_count_change_puts_new_chats_on_top_and_keeps_the_selection(qtbot: Any, qtmodeltester: Any,
                                                                               engine: MediaDeskEngine) -> None:
    n = PAGE + 10
    _customers(engine, n)
    model = ChatListModel(engine)
    view = _view(qtbot, model)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    qtmodeltester.check(model)
    chosen = model.summary(3)
    assert chosen is not None and chosen.name == f"Customer {n - 4}"
    view.selectionModel().setCurrentIndex(model.index(3), QItemSelectionModel.SelectionFlag.ClearAndSelect)

    _customers(engine, 3, first=n)  # three new contacts wrote: the count grows, the model does not reset
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    assert model.rowCount() == n + 3
    assert [model.index(r).data() for r in range(4)] == [f"Customer {n + 2}", f"Customer {n + 1}", f"Customer {n}",
                                                         f"Customer {n - 1}"]
    assert view.currentIndex().row() == 6  # the selection went down with its chat
    assert [i.row() for i in view.selectionModel().selectedRows()] == [6]
    assert model.summary(6) == chosen and model.row_of(chosen.contact_id) == 6
    model.index(n + 2).data()  # the last row is still the oldest chat once its page is read
    qtbot.waitUntil(lambda: model.summary(n + 2) is not None, timeout=5000)
    assert model.index(n + 2).data() == "Customer 0"

    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_search(f"Customer {n}")  # another search: a reset, nothing stays selected on another chat
    assert [model.index(r).data() for r in range(model.rowCount())] == [f"Customer {n}"]
    assert not view.selectionModel().hasSelection() and not view.currentIndex().isValid()
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.set_search("")
    assert model.rowCount() == n + 3 and model.index(0).data() == f"Customer {n + 2}"


def test_chat_list_view_is_a_list_of_full_width_rows(qtbot: Any, engine: MediaDeskEngine) -> None:
    _customers(engine, 20)
    model = ChatListModel(engine)
    view = _view(qtbot, model)
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.reload()
    width = view.viewport().width()
    assert [view.visualRect(model.index(r)) for r in (0, 1)] == [QRect(0, 0, width, ROW_HEIGHT),
                                                                 QRect(0, ROW_HEIGHT, width, ROW_HEIGHT)]
    view.resize(500, 5 * ROW_HEIGHT)
    qtbot.waitUntil(lambda: view.visualRect(model.index(0)).width() == view.viewport().width() > width)
    assert view.indexAt(QPoint(10, ROW_HEIGHT + 5)).row() == 1
    assert view.verticalScrollBar().singleStep() == ROW_HEIGHT  # a wheel notch moves by rows, as the list did
    assert not view.showGrid() and not view.tabKeyNavigation()  # Tab leaves the list
    view.setCurrentIndex(model.index(2))
    qtbot.keyClick(view, Qt.Key.Key_End)  # Home/End go to the last/first chat, not along a row
    assert view.currentIndex().row() == 19
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert view.currentIndex().row() == 0
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert [i.row() for i in view.selectionModel().selectedRows()] == [1]


def test_conversation_model_shows_every_kind(qtbot: Any, qtmodeltester: Any, engine: MediaDeskEngine,
                                             sim: CloudSimulator) -> None:
    say(engine, "444", "Dana", "hi there", minutes_ago=5)
    send_media(engine, sim, "444", "Dana", "9100", caption="cake")
    qtbot.waitUntil(lambda: _completed_count(engine) == 1, timeout=10_000)
    model = MessageListModel(engine)
    cid = _contact_id(engine, "444")
    with qtbot.waitSignal(model.loaded, timeout=5000):
        model.open_chat(cid)
    qtmodeltester.check(model)
    msgs = [model.index(r).data(MessageRole) for r in range(model.rowCount())]
    assert [m.type for m in msgs] == ["text", "image"]
    assert msgs[1].media.status == "completed" and msgs[1].body == "cake"
    assert model.row_of_media(msgs[1].media.id) == 1


def _contact_id(engine: MediaDeskEngine, wa_id: str) -> int:
    from sqlalchemy import select

    from engine.db import Contact

    with engine.db.session() as s:
        return s.execute(select(Contact.id).where(Contact.wa_id == wa_id)).scalar_one()


def _count(engine: MediaDeskEngine, status: str) -> int:
    from sqlalchemy import func, select

    from engine.db import ChatMedia

    with engine.db.session() as s:
        return s.execute(select(func.count()).where(ChatMedia.processing_status == status)).scalar_one()


def _failed_count(engine: MediaDeskEngine) -> int:
    return _count(engine, "failed")


def _completed_count(engine: MediaDeskEngine) -> int:
    return _count(engine, "completed")
