"""The state layer's view bookkeeping without a browser: what a tab shows for each change, and
that each change touches O(1) vars (what goes on the wire)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from chatapp.state import sidebar, timeline
from chatapp.state.timefmt import Clock
from chatapp.state.view import N_PAGES, N_ROWS, N_SLOTS, OPEN_PAGE, page_name, row_name, slot_name
from chatapp.wire import WireMessage


class StateStandIn(SimpleNamespace):
    """Stands in for a Reflex state: remembers which vars were assigned (= sent)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "assigned":
            self.__dict__.setdefault("assigned", []).append(name)
        super().__setattr__(name, value)

    def take(self) -> list[str]:
        out = self.__dict__.get("assigned", [])
        self.__dict__["assigned"] = []
        return out


def views_state() -> tuple[StateStandIn, StateStandIn]:
    history = StateStandIn(**{page_name(i): [] for i in range(N_PAGES)})
    arrivals = StateStandIn(**{slot_name(i): {} for i in range(N_SLOTS)})
    history.take()
    arrivals.take()
    return history, arrivals


def wire(i: int, sender: int = 2, at: int = 1_700_000_000_000) -> WireMessage:
    return {
        "id": i,
        "cid": f"client-{i:06d}",
        "conv": 7,
        "sender": sender,
        "body": f"message {i}",
        "at": at + i * 1000,
        "img": "",
        "full": "",
        "w": 0,
        "h": 0,
    }


CLOCK = Clock.parse("Europe/Berlin|h23")


def view(i: int, *, prev_at: int = 0, prev_sender: int = 0, status: Any = "sent") -> Any:
    return timeline.view_of(
        wire(i), viewer=1, clock=CLOCK, prev_at=prev_at, prev_sender=prev_sender, status=status
    )


def test_a_new_message_touches_exactly_one_slot() -> None:
    history, arrivals = views_state()
    cur = timeline.Cursor()
    cur.fold_at = N_SLOTS  # (the latest a cursor folds)
    timeline.show_page(cur, history, [view(1)])
    assert history.take() == [page_name(OPEN_PAGE)]
    for i in range(2, 2 + N_SLOTS):
        timeline.put(cur, history, arrivals, view(i, prev_at=cur.last_at, prev_sender=2))
        assert arrivals.take() == [slot_name(i - 2)]
        assert history.take() == []


def test_status_change_rewrites_only_its_own_slot_and_keeps_labels() -> None:
    history, arrivals = views_state()
    cur = timeline.Cursor()
    pending = view(5, status="pending")
    timeline.put(cur, history, arrivals, pending)
    timeline.put(cur, history, arrivals, view(6, prev_at=cur.last_at, prev_sender=2))
    arrivals.take()
    sent = {**view(5, prev_at=cur.last_at, prev_sender=2), "status": "sent"}
    timeline.put(cur, history, arrivals, sent)
    assert arrivals.take() == [slot_name(0)]
    shown = arrivals.a00
    assert shown["status"] == "sent"
    assert shown["day"] == pending["day"] and shown["first"] == pending["first"]


def test_full_slots_fold_into_one_newer_page_and_keep_unsent_ones() -> None:
    history, arrivals = views_state()
    cur = timeline.Cursor()
    cur.fold_at = N_SLOTS
    timeline.put(cur, history, arrivals, view(1, status="failed"))
    for i in range(2, N_SLOTS + 1):
        timeline.put(cur, history, arrivals, view(i))
    history.take()
    timeline.put(cur, history, arrivals, view(N_SLOTS + 1))
    assert history.take() == [page_name(OPEN_PAGE + 1)]
    folded = getattr(history, page_name(OPEN_PAGE + 1))
    assert [v["id"] for v in folded] == list(range(2, N_SLOTS + 1))
    # The failed one stays retryable in a slot, the new one follows it.
    assert arrivals.a00["id"] == 1 and arrivals.a00["status"] == "failed"
    assert arrivals.a01["id"] == N_SLOTS + 1
    # A message folded into a page is recognised as already shown.
    assert timeline.is_shown(cur, wire(3))


def test_tabs_fold_their_slots_at_different_messages() -> None:
    """Every member's tab of a busy group got the same messages since they opened it together:
    had each folded its slots into a page at the same message, 200 tabs would have sent a
    12 KB page at once (the slowest messages of `bench group` came every 32nd message). Each
    cursor folds somewhere in the last quarter of the slots, drawn again after each fold."""
    thresholds = {timeline.Cursor().fold_at for _ in range(200)}
    assert min(thresholds) >= N_SLOTS - N_SLOTS // 4 and max(thresholds) <= N_SLOTS
    assert len(thresholds) > 4
    history, arrivals = views_state()
    cur = timeline.Cursor()
    at = cur.fold_at
    for i in range(1, at + 1):
        timeline.put(cur, history, arrivals, view(i))
    history.take()
    timeline.put(cur, history, arrivals, view(at + 1))
    assert history.take() == [page_name(OPEN_PAGE + 1)]  # folded when its threshold was full
    assert [v["id"] for v in getattr(history, page_name(OPEN_PAGE + 1))] == list(range(1, at + 1))
    assert N_SLOTS - N_SLOTS // 4 <= cur.fold_at <= N_SLOTS


def test_messages_already_in_the_page_are_not_shown_twice() -> None:
    history, _ = views_state()
    cur = timeline.Cursor()
    timeline.show_page(cur, history, [view(8), view(9), view(10)])
    assert timeline.is_shown(cur, wire(9))
    assert not timeline.is_shown(cur, wire(11))


def test_a_message_committed_after_a_newer_one_is_still_shown() -> None:
    """Ids are given at insert, not at commit: a message can commit (and be published) after
    one with a higher id that the opened page already holds. It must still be shown (it was
    dropped as "already shown" because its id was below the page's newest)."""
    history, _ = views_state()
    cur = timeline.Cursor()
    timeline.show_page(cur, history, [view(104), view(106)])
    assert not timeline.is_shown(cur, wire(105))


def test_day_separators_and_runs() -> None:
    day1 = int(datetime(2026, 11, 20, 22, 30, tzinfo=UTC).timestamp() * 1000)  # 23:30 Berlin
    day2 = int(datetime(2026, 11, 20, 23, 30, tzinfo=UTC).timestamp() * 1000)  # 00:30 next day
    a = timeline.view_of({**wire(1), "at": day1}, viewer=1, clock=CLOCK, prev_at=0, prev_sender=0)
    b = timeline.view_of(
        {**wire(2), "at": day1 + 60_000}, viewer=1, clock=CLOCK, prev_at=a["at"], prev_sender=2
    )
    c = timeline.view_of(
        {**wire(3), "at": day2}, viewer=1, clock=CLOCK, prev_at=b["at"], prev_sender=2
    )
    assert a["day"] == "Fri, 20 Nov 2026" and a["first"]
    assert b["day"] == "" and not b["first"]  # same day, same sender: one run
    assert c["day"] == "Sat, 21 Nov 2026" and c["first"]  # midnight in Berlin, not in UTC
    assert a["time"] == "23:30"
    assert Clock.parse("America/New_York|h12").time(day1) == "5:30 PM"
    assert Clock.parse("Not/A_Zone|").time(day1) == "22:30"  # unknown zone: UTC


def test_today_and_yesterday_labels() -> None:
    now = int(datetime.now(UTC).timestamp() * 1000)
    clock = Clock.parse("UTC|h23")
    assert clock.day_label(now) == "Today"
    assert clock.day_label(now - 86_400_000) == "Yesterday"


def test_older_pages_fill_downwards_then_the_oldest_grows() -> None:
    history, _ = views_state()
    cur = timeline.Cursor()
    for i in range(OPEN_PAGE + 2):
        timeline.prepend_older(cur, history, [view(1000 - i)])
    assert getattr(history, page_name(OPEN_PAGE - 1))[0]["id"] == 1000
    assert [v["id"] for v in history.p00] == [949, 950, 951]  # p00 (951) grew by 950, 949


def sidebar_state() -> StateStandIn:
    sb = StateStandIn(
        **{row_name(i): {} for i in range(N_ROWS)}, order=[], _slot_of_conv={}, unread_total=0
    )
    sb.take()
    return sb


def row(conv: int, peer: int = 0) -> Any:
    return {"id": conv, "title": f"c{conv}", "peer_id": peer, "unread": 0, "preview": ""}


def test_sidebar_update_touches_one_row_and_moves_it_up() -> None:
    sb = sidebar_state()
    sidebar.reset(sb, [row(1), row(2), row(3)])
    sb.take()
    assert sidebar.update(sb, 3, {"preview": "hi", "unread": 1}, to_top=True)
    assert sb.take() == [row_name(2), "unread_total", "order"]  # (the tab title's count)
    assert sb.order == [2, 0, 1]
    # Already on top: only the row changes.
    sidebar.update(sb, 3, {"preview": "again"}, to_top=True)
    assert sb.take() == [row_name(2)]
    # Nothing changed: nothing sent.
    sidebar.update(sb, 3, {"preview": "again"}, to_top=True)
    assert sb.take() == []
    assert not sidebar.update(sb, 99, {"preview": "x"})


def test_the_unread_total_leaves_muted_conversations_out_and_is_sent_only_when_it_changes() -> None:
    sb = sidebar_state()
    sidebar.reset(sb, [{**row(1), "unread": 2}, {**row(2), "unread": 3}, row(3)])
    assert sb.unread_total == 5
    sb.take()
    sidebar.update(sb, 3, {"preview": "hi"})
    assert sb.take() == [row_name(2)]  # the total did not change: not sent
    far = 253_370_764_800_000  # muted "always"
    sidebar.update(sb, 2, {"muted": far})
    assert sb.unread_total == 2
    sidebar.update(sb, 2, {"muted": 1})  # muted until a moment long past: counts again
    assert sb.unread_total == 5
    sidebar.insert_top(sb, {**row(4), "unread": 1})
    assert sb.unread_total == 6
    sidebar.remove(sb, 1)
    assert sb.unread_total == 4


def test_sidebar_insert_reuses_the_least_recent_slot_when_full() -> None:
    sb = sidebar_state()
    sidebar.reset(sb, [row(i) for i in range(N_ROWS)])
    sidebar.insert_top(sb, row(500))
    assert sb.order[0] == N_ROWS - 1
    assert getattr(sb, row_name(N_ROWS - 1))["id"] == 500
    assert len(sb.order) == N_ROWS


def test_presence_reaches_every_row_of_that_person() -> None:
    sb = sidebar_state()
    sidebar.reset(sb, [row(1, peer=9), row(2, peer=8)])
    sb.take()
    assert sidebar.update_people(sb, 9, {"online": True}) == [1]
    assert sb.take() == [row_name(0)]


def test_the_cursor_remembers_a_bounded_number_of_client_ids() -> None:
    """A tab left open on a busy conversation: the cursor (read on every send and delivery)
    stays small, and a recently folded message is still recognised as shown."""
    history, arrivals = views_state()
    cur = timeline.Cursor()
    for i in range(1, 20 * N_SLOTS):
        timeline.put(cur, history, arrivals, view(i, prev_at=cur.last_at, prev_sender=2))
        assert len(cur.slot_of) <= N_SLOTS and len(cur.folded) <= timeline.FOLDED_MEMORY
    assert timeline.is_shown(cur, wire(20 * N_SLOTS - N_SLOTS - 1))  # folded just now
    assert timeline.Cursor.load(cur) is cur  # the var holds the object itself: no copy


def test_a_cursor_saved_as_a_dict_by_an_older_version_still_loads() -> None:
    cur = timeline.Cursor.load(
        {
            "pages_used": [OPEN_PAGE],
            "older_next": OPEN_PAGE - 1,
            "newer_next": OPEN_PAGE + 1,
            "slots_used": 1,
            "slot_of": {"client-000001": -1, "client-000002": 0},
            "newest_id": 5,
            "last_at": 1,
            "last_sender": 2,
        }
    )
    assert cur.slot_of == {"client-000002": 0} and list(cur.folded) == ["client-000001"]
    assert timeline.is_shown(cur, wire(1)) and cur.slots_used == 1
