"""Callback data: every kind of press packs to today's wire format and back; bad data is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dispatch.model import Interval
from dispatch.settings import MAX_DECLINE_REASONS
from notifications.callbacks import (
    MAX_DATA_BYTES,
    MAX_FORCE_JOBS,
    MAX_ID,
    MAX_PAGE,
    NOT_STAFF_DATA,
    STAFF_DATA,
    ForceAssign,
    JobPress,
    Op,
    PageRef,
    PageView,
    Press,
    ProposePress,
    RebroadcastAll,
    RequestPress,
    ShowAvailable,
    StaffPress,
    day_number,
    day_of,
    pack,
    unpack,
)
from notifications.keyboards import (
    attending_keyboard,
    attending_reason_keyboard,
    propose_keyboard,
    reason_keyboard,
    request_keyboard,
)

#: Every kind of press with the exact data buttons already sent carry.
WIRE: list[tuple[Press, str]] = [
    (RequestPress(Op.ACCEPT, 17), "a:17"),
    (RequestPress(Op.DECLINE, 17), "d:17"),
    (RequestPress(Op.DECLINE_REASON, 17, 3), "r:17:3"),
    (RequestPress(Op.DECLINE_REASON, 17, 0), "r:17:0"),
    (RequestPress(Op.DECLINE_BACK, 17), "b:17"),
    (JobPress(Op.NOT_ATTENDING, 9), "n:9"),
    (JobPress(Op.NOT_ATTENDING_REASON, 9, 5), "x:9:5"),
    (JobPress(Op.NOT_ATTENDING_REASON, 9, 0), "x:9:0"),
    (JobPress(Op.NOT_ATTENDING_BACK, 9), "k:9"),
    (JobPress(Op.CONFIRM, 9), "f:9"),
    (JobPress(Op.CANT_ATTEND, 9), "w:9"),
    (JobPress(Op.CANT_ATTEND_BACK, 9), "y:9"),
    (ForceAssign(42, 7), "s:42:7"),
    (ForceAssign(42, 7, (101, 102)), "j:42:7:101:102"),
    (PageRef(PageView.UNASSIGNED, 0, 2), "p:u:0:2"),
    (PageRef(PageView.HISTORY, 42, 1), "p:h:42:1"),
    (PageRef(PageView.AVAILABLE, 8, 3), "p:a:8:3"),
    (PageRef(PageView.TODAY, 20261201, 2), "p:t:20261201:2"),
    (RebroadcastAll(42), "e:42"),
    (ShowAvailable(8), "v:8"),
    (ProposePress(Op.PROPOSE_PICK, 9, 29_936_730), "o:9:29936730"),
    (ProposePress(Op.PROPOSE_SEND, 9), "m:9"),
    (ProposePress(Op.PROPOSE_TYPE, 9), "t:9"),
]


@pytest.mark.parametrize(("press", "data"), WIRE, ids=[data for _, data in WIRE])
def test_every_kind_round_trips_in_the_wire_format(press: Press, data: str) -> None:
    assert pack(press) == data
    assert unpack(data) == press


def test_every_op_and_view_is_covered() -> None:
    assert {press.op for press, _ in WIRE} == set(Op)
    assert {press.view for press, _ in WIRE if isinstance(press, PageRef)} == set(PageView)


def test_largest_values_round_trip_within_64_bytes() -> None:
    largest: list[Press] = [
        RequestPress(Op.DECLINE_REASON, MAX_ID, MAX_DECLINE_REASONS),
        JobPress(Op.NOT_ATTENDING_REASON, MAX_ID, MAX_DECLINE_REASONS),
        ForceAssign(MAX_ID, MAX_ID),
        ForceAssign(MAX_ID, MAX_ID, (MAX_ID,) * MAX_FORCE_JOBS),
        PageRef(PageView.HISTORY, MAX_ID, MAX_PAGE),
        PageRef(PageView.TODAY, 99991231, MAX_PAGE),
        RebroadcastAll(MAX_ID),
        ShowAvailable(MAX_ID),
        ProposePress(Op.PROPOSE_PICK, MAX_ID, MAX_ID),
        ProposePress(Op.PROPOSE_SEND, MAX_ID),
    ]
    for press in largest:
        data = pack(press)
        assert len(data.encode()) <= MAX_DATA_BYTES
        assert unpack(data) == press


def test_a_page_view_may_be_given_by_its_letter() -> None:
    assert PageRef("h", 42, 2) == PageRef(PageView.HISTORY, 42, 2)  # type: ignore[arg-type]
    assert pack(PageRef("u", 0, 1)) == "p:u:0:1"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        "a:\u0661\u0662",  # Arabic-Indic digits: `int()` takes them, `\d` matches them
        "a:12\u0663",
        "r:5:\u0661",
        "x:5:²",  # superscript two: `str.isdigit()` is True, `int()` fails
        "s:\uff14\uff12:7",  # fullwidth digits
        "p:h:\u0664\u0662:1",
    ],
)
def test_unicode_digits_are_refused(data: str) -> None:
    assert unpack(data) is None


@pytest.mark.parametrize(
    "data",
    [
        f"a:{MAX_ID + 1}",
        f"n:{MAX_ID + 1}",
        f"r:{MAX_ID + 1}:1",
        f"s:{MAX_ID + 1}:1",
        f"s:1:{MAX_ID + 1}",
        f"p:h:{MAX_ID + 1}:1",
        "a:99999999999",  # eleven digits
        "a:0",
        "k:0",
        "s:0:7",
        "p:a:0:1",
        f"r:1:{MAX_DECLINE_REASONS + 1}",
        "x:1:99",
        f"p:u:0:{MAX_PAGE + 1}",
        "p:u:0:0",
        "p:u:3:1",  # the unassigned list has no argument
        f"e:{MAX_ID + 1}",
        "e:0",
        "v:0",
        "p:t:20261301:1",  # no 13th month
        "p:t:20260229:1",  # 2026 is no leap year
        "p:t:1201:1",  # a day needs its year
        "o:0:29936730",
        f"o:9:{MAX_ID + 1}",
        "o:9:0",
        "m:0",
    ],
)
def test_out_of_range_values_are_refused(data: str) -> None:
    assert unpack(data) is None


@pytest.mark.parametrize(
    "data",
    [
        "",
        "a",
        "a:",
        ":1",
        "a:1:",
        "a::1",
        "A:1",
        "q:1",
        "accept:7",
        "a:1:2",  # accept carries no reason
        "n:4:1",
        "r:5",  # a reason button without its index
        "x:5",
        "s:42",
        "s:42:7:1",
        "j:42:7",  # jobs named by none
        "j:1:2:3:4:5:6",  # more jobs than a button names
        "j:1:2:0",
        "p:x:1:1",
        "p:h:1",
        "p:h:1:1:1",
        "p::1:1",
        "a: 1",
        "a:+1",
        "a:-1",
        "a:01",  # each value has one spelling
        "r:5:03",
        "a:1.0",
        "a:1\n",
        "p:u:0:2\n",
        "a:1 ",
        "a:1\x00",
        "s:1:2" + "0" * 80,
        "p:h:1:1" + " " * 64,
        "e:1:2",
        "e:",
        "v:1:1",
        "v:@1",
        "o:9",  # a pick without its time
        "o:9:1:2",
        "m:9:29936730",  # send carries no time
        "t:9:1",
    ],
)
def test_malformed_data_is_refused(data: str) -> None:
    assert unpack(data) is None


def test_invalid_presses_cannot_be_built() -> None:
    with pytest.raises(ValueError):
        RequestPress(Op.NOT_ATTENDING, 1)
    with pytest.raises(ValueError):
        JobPress(Op.ACCEPT, 1)
    with pytest.raises(ValueError):
        RequestPress(Op.DECLINE_REASON, 1)
    with pytest.raises(ValueError):
        RequestPress(Op.ACCEPT, 1, 2)
    with pytest.raises(ValueError):
        ForceAssign(1, MAX_ID + 1)
    with pytest.raises(ValueError):
        ForceAssign(1, 2, (3,) * (MAX_FORCE_JOBS + 1))
    with pytest.raises(ValueError):
        PageRef("z", 1, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PageRef(PageView.TODAY, 20261232, 1)
    with pytest.raises(ValueError):
        RebroadcastAll(0)
    with pytest.raises(ValueError):
        ShowAvailable(MAX_ID + 1)
    with pytest.raises(ValueError):
        ProposePress(Op.PROPOSE_PICK, 1)
    with pytest.raises(ValueError):
        ProposePress(Op.PROPOSE_SEND, 1, 5)
    with pytest.raises(ValueError):
        ProposePress(Op.ACCEPT, 1)


def test_a_pick_carries_its_time_to_the_minute() -> None:
    start = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    press = ProposePress.pick(9, start)
    assert pack(press) == "o:9:29936730" and press.start == start
    assert unpack(pack(press)) == press


def test_the_propose_keyboard_ticks_picked_times_in_the_fieldworkers_zone() -> None:
    slots = [
        Interval(
            datetime(2026, 12, 2, 9, 30, tzinfo=UTC), datetime(2026, 12, 2, 11, 30, tzinfo=UTC)
        ),
        Interval(datetime(2026, 12, 3, 8, tzinfo=UTC), datetime(2026, 12, 3, 10, tzinfo=UTC)),
    ]
    markup = propose_keyboard(9, slots, {slots[1].start}, "Europe/Berlin")
    assert _data(markup) == ["o:9:29936730", f"o:9:{29936730 + 22 * 60 + 30}", "t:9", "m:9"]
    labels = [b["text"] for row in markup["inline_keyboard"] for b in row]
    assert labels[:2] == ["Wed 2 Dec 10:30-12:30 CET", "✅ Thu 3 Dec 09:00-11:00 CET"]
    # Nothing to pick: only typing is offered.
    assert _data(propose_keyboard(9, [], set(), "UTC")) == ["t:9"]


def test_a_day_is_carried_as_yyyymmdd() -> None:
    assert day_number(date(2026, 12, 1)) == 20261201
    assert day_of(20261201) == date(2026, 12, 1)
    assert day_of(day_number(date(2028, 2, 29))) == date(2028, 2, 29)


def test_routing_sends_staff_buttons_to_staff_and_everything_else_to_fieldworkers() -> None:
    for press, data in WIRE:
        staff = isinstance(press, StaffPress)
        assert bool(STAFF_DATA.match(data)) is staff
        assert bool(NOT_STAFF_DATA.match(data)) is not staff
    for unknown in ("", "zzz", "accept:7", "S:1:2"):
        assert NOT_STAFF_DATA.match(unknown) and not STAFF_DATA.match(unknown)


def _data(markup: dict[str, list[list[dict[str, str]]]]) -> list[str]:
    return [button["callback_data"] for row in markup["inline_keyboard"] for button in row]


def test_keyboards_carry_the_wire_format() -> None:
    assert request_keyboard(17) == {
        "inline_keyboard": [
            [
                {"text": "Accept ✅", "callback_data": "a:17"},
                {"text": "Decline ❌", "callback_data": "d:17"},
            ]
        ]
    }
    assert attending_keyboard(9) == {
        "inline_keyboard": [[{"text": "No longer attending", "callback_data": "n:9"}]]
    }
    reasons = ["Too far", "Other"]
    assert _data(reason_keyboard(17, reasons, True)) == ["r:17:1", "r:17:2", "b:17"]
    optional = reason_keyboard(17, reasons, False)
    assert _data(optional) == ["r:17:1", "r:17:2", "r:17:0", "b:17"]
    assert [row[0]["text"] for row in optional["inline_keyboard"]] == [
        "Too far",
        "Other",
        "No reason",
        "↩ Back",
    ]
    assert _data(attending_reason_keyboard(9, reasons, False)) == [
        "x:9:1",
        "x:9:2",
        "x:9:0",
        "k:9",
    ]
