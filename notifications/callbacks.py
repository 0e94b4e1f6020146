"""Callback data of every inline button, defined once: typed presses, `pack` and `unpack`.

Telegram hands a button's `callback_data` back unchanged when it is pressed, possibly long after
the message was sent, so this text format is a wire format: buttons on messages already sent must
keep working. Never change what a kind of press packs to; add new ops instead. At most 64 bytes
(Telegram's limit), ASCII digits only, every id within a 32-bit serial column; anything else is
stale, forged or malformed and unpacks to None.

Fieldworker buttons (`handlers.telegram`):
`a:<request>` accept · `d:<request>` decline (shows the reasons) ·
`r:<request>:<n>` decline with the n-th configured reason (`0`: none, when reasons are optional) ·
`b:<request>` back to Accept/Decline · `n:<job>` No longer attending (shows the reasons) ·
`x:<job>:<n>` no longer attending with the n-th reason · `k:<job>` back ·
the day-before confirmation: `f:<job>` Confirm · `w:<job>` Can't attend (shows the reasons, then
`x:` as above) · `y:<job>` back to Confirm / Can't attend.

Reschedule Assist buttons (`handlers.assist_chat`), under a decline or "No longer attending":
`o:<job>:<minute>` pick or unpick the suggested time starting at that minute (minutes since
1970-01-01 UTC) · `m:<job>` send the picked times to the customer · `t:<job>` type times instead.

Staff buttons (`admin_commands.telegram`):
`s:<booking>:<fieldworker>` "Assign anyway" (assign with force) ·
`j:<booking>:<fieldworker>:<job>[:<job>...]` "Assign anyway" for the jobs listed (at most
`MAX_FORCE_JOBS`) ·
`p:<view>:<arg>:<page>` a page of a long list; views `u` unassigned (arg 0), `h` history (arg: the
booking id), `a` available fieldworkers (arg: the job id), `t` a day's jobs (arg: the day as
`YYYYMMDD`) ·
`e:<booking>` re-broadcast to everyone, expired requests included (under a timeout alert) ·
`v:<job>` show the available fieldworkers in a new message (under a timeout alert).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import ClassVar

from dispatch.settings import MAX_DECLINE_REASONS

#: Telegram refuses callback data longer than this (in UTF-8 bytes).
MAX_DATA_BYTES = 64
#: Ids live in 32-bit serial columns: a larger one cannot exist (and PostgreSQL rejects it).
MAX_ID = 2**31 - 1
#: Jobs an "Assign anyway" button can name: three 10-digit ids still fit in 64 bytes.
MAX_FORCE_JOBS = 3
#: Pages are numbered from 1; five digits is far beyond any list a chat can page through.
MAX_PAGE = 99_999
#: A number in callback data: ASCII digits (`[0-9]`, not `\d`, which also matches Arabic-Indic and
#: other digits that `int()` accepts), no sign, no leading zero: each value has one spelling.
_NUMBER = re.compile(r"0|[1-9][0-9]{0,9}")


class Op(StrEnum):
    """What a button does: the text before the first `:` of its callback data."""

    ACCEPT = "a"
    DECLINE = "d"
    DECLINE_REASON = "r"
    DECLINE_BACK = "b"
    NOT_ATTENDING = "n"
    NOT_ATTENDING_REASON = "x"
    NOT_ATTENDING_BACK = "k"
    CONFIRM = "f"
    CANT_ATTEND = "w"
    CANT_ATTEND_BACK = "y"
    ASSIGN_ANYWAY = "s"
    ASSIGN_JOBS_ANYWAY = "j"
    PAGE = "p"
    REBROADCAST_ALL = "e"
    SHOW_AVAILABLE = "v"
    PROPOSE_PICK = "o"
    PROPOSE_SEND = "m"
    PROPOSE_TYPE = "t"


#: Presses about a job request, and about an assigned job ("No longer attending").
REQUEST_OPS = frozenset({Op.ACCEPT, Op.DECLINE, Op.DECLINE_REASON, Op.DECLINE_BACK})
JOB_OPS = frozenset(
    {
        Op.NOT_ATTENDING,
        Op.NOT_ATTENDING_REASON,
        Op.NOT_ATTENDING_BACK,
        Op.CONFIRM,
        Op.CANT_ATTEND,
        Op.CANT_ATTEND_BACK,
    }
)
#: Presses of a fieldworker proposing other times for a job (Reschedule Assist).
PROPOSE_OPS = frozenset({Op.PROPOSE_PICK, Op.PROPOSE_SEND, Op.PROPOSE_TYPE})
#: The presses that carry a reason's index.
REASON_OPS = frozenset({Op.DECLINE_REASON, Op.NOT_ATTENDING_REASON})
STAFF_OPS = frozenset(
    {Op.ASSIGN_ANYWAY, Op.ASSIGN_JOBS_ANYWAY, Op.PAGE, Op.REBROADCAST_ALL, Op.SHOW_AVAILABLE}
)

_STAFF_PREFIX = "|".join(sorted(STAFF_OPS))
#: Routing for PTB's `CallbackQueryHandler`: staff buttons go to the admin handlers; everything
#: else, unknown data included, to the fieldworker handler, so that every press is answered.
STAFF_DATA = re.compile(rf"^(?:{_STAFF_PREFIX}):")
NOT_STAFF_DATA = re.compile(rf"^(?!(?:{_STAFF_PREFIX}):)")


def _check_id(value: int, what: str) -> None:
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"{what} {value} is out of range")


def _check_index(op: Op, index: int | None) -> None:
    if op in REASON_OPS:
        if index is None or not 0 <= index <= MAX_DECLINE_REASONS:
            raise ValueError(f"reason index {index} is out of range")
    elif index is not None:
        raise ValueError(f"{op!r} carries no reason index")


@dataclass(frozen=True)
class RequestPress:
    """A button under a job request: Accept, Decline, a decline reason (`index`), Back."""

    op: Op
    request_id: int
    #: With `DECLINE_REASON` only: the n-th configured reason from 1; 0 is "No reason".
    index: int | None = None

    def __post_init__(self) -> None:
        if self.op not in REQUEST_OPS:
            raise ValueError(f"{self.op!r} is not a request button")
        _check_id(self.request_id, "request id")
        _check_index(self.op, self.index)


@dataclass(frozen=True)
class JobPress:
    """A button under an assigned job: No longer attending, a reason (`index`), Back; and the
    day-before Confirm / Can't attend (whose reasons are `NOT_ATTENDING_REASON` presses)."""

    op: Op
    job_id: int
    #: With `NOT_ATTENDING_REASON` only: the n-th configured reason from 1; 0 is "No reason".
    index: int | None = None

    def __post_init__(self) -> None:
        if self.op not in JOB_OPS:
            raise ValueError(f"{self.op!r} is not a job button")
        _check_id(self.job_id, "job id")
        _check_index(self.op, self.index)


@dataclass(frozen=True)
class ProposePress:
    """A Reschedule Assist button: pick a suggested time (`minute`), send, or type times."""

    op: Op
    job_id: int
    #: With `PROPOSE_PICK` only: the time's start, in whole minutes since 1970-01-01 UTC.
    minute: int | None = None

    def __post_init__(self) -> None:
        if self.op not in PROPOSE_OPS:
            raise ValueError(f"{self.op!r} is not a Reschedule Assist button")
        _check_id(self.job_id, "job id")
        if self.op is Op.PROPOSE_PICK:
            if self.minute is None:
                raise ValueError("a pick names its time")
            _check_id(self.minute, "minute")
        elif self.minute is not None:
            raise ValueError(f"{self.op!r} carries no time")

    @property
    def start(self) -> datetime:
        """The picked time's start (`PROPOSE_PICK`)."""
        assert self.minute is not None
        return datetime.fromtimestamp(self.minute * 60, UTC)

    @classmethod
    def pick(cls, job_id: int, start: datetime) -> ProposePress:
        """The button that picks the time starting at `start` (whole minutes)."""
        return cls(Op.PROPOSE_PICK, job_id, int(start.timestamp()) // 60)


@dataclass(frozen=True)
class ForceAssign:
    """The "Assign anyway" button: the listed jobs, or (none) every job still to assign."""

    booking_id: int
    fieldworker_id: int
    job_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_id(self.booking_id, "booking id")
        _check_id(self.fieldworker_id, "fieldworker id")
        if len(self.job_ids) > MAX_FORCE_JOBS:
            raise ValueError(f"at most {MAX_FORCE_JOBS} jobs fit in a button")
        for job_id in self.job_ids:
            _check_id(job_id, "job id")

    @property
    def op(self) -> Op:
        """`s` for the whole booking (the format buttons already sent carry), `j` for jobs."""
        return Op.ASSIGN_JOBS_ANYWAY if self.job_ids else Op.ASSIGN_ANYWAY


@dataclass(frozen=True)
class RebroadcastAll:
    """The "Re-broadcast to everyone" button: ask again, those whose request expired included."""

    op: ClassVar[Op] = Op.REBROADCAST_ALL
    booking_id: int

    def __post_init__(self) -> None:
        _check_id(self.booking_id, "booking id")


@dataclass(frozen=True)
class ShowAvailable:
    """The "Show available" button: who may take the job, as a new message."""

    op: ClassVar[Op] = Op.SHOW_AVAILABLE
    job_id: int

    def __post_init__(self) -> None:
        _check_id(self.job_id, "job id")


class PageView(StrEnum):
    """The long lists a page button can show."""

    UNASSIGNED = "u"  # arg 0
    HISTORY = "h"  # arg: booking id
    AVAILABLE = "a"  # arg: job id
    TODAY = "t"  # arg: the day as YYYYMMDD (the list a page button shows never changes its day)


@dataclass(frozen=True)
class PageRef:
    """A "Prev"/"Next" button: which list, of what, which page (from 1)."""

    op: ClassVar[Op] = Op.PAGE
    view: PageView
    arg: int
    page: int

    def __post_init__(self) -> None:
        # Accept the view's letter too, so `PageRef("h", 42, 2) == PageRef(PageView.HISTORY, ...)`.
        object.__setattr__(self, "view", PageView(self.view))
        if self.view is PageView.UNASSIGNED:
            if self.arg != 0:
                raise ValueError("the unassigned list takes no argument")
        elif self.view is PageView.TODAY:
            day_of(self.arg)
        else:
            _check_id(self.arg, f"{self.view.name.lower()} argument")
        if not 1 <= self.page <= MAX_PAGE:
            raise ValueError(f"page {self.page} is out of range")


#: The presses of staff buttons, and every button press the product can receive.
StaffPress = ForceAssign | PageRef | RebroadcastAll | ShowAvailable
Press = RequestPress | JobPress | ProposePress | StaffPress


def day_number(day: date) -> int:
    """A day as the number a page button carries (`YYYYMMDD`)."""
    return day.year * 10_000 + day.month * 100 + day.day


def day_of(number: int) -> date:
    """The day a `YYYYMMDD` number names (ValueError for anything else)."""
    if not 10_000_101 <= number <= 99_991_231:
        raise ValueError(f"{number} is not a day")
    return date(number // 10_000, number // 100 % 100, number % 100)


def pack(press: Press) -> str:
    """The callback data of a button (at most 64 bytes)."""
    fields: tuple[object, ...]
    if isinstance(press, RequestPress):
        fields = (press.request_id, press.index)
    elif isinstance(press, JobPress):
        fields = (press.job_id, press.index)
    elif isinstance(press, ProposePress):
        fields = (press.job_id, press.minute)
    elif isinstance(press, ForceAssign):
        fields = (press.booking_id, press.fieldworker_id, *press.job_ids)
    elif isinstance(press, RebroadcastAll):
        fields = (press.booking_id,)
    elif isinstance(press, ShowAvailable):
        fields = (press.job_id,)
    else:
        fields = (press.view.value, press.arg, press.page)
    data = ":".join([press.op.value, *(str(f) for f in fields if f is not None)])
    assert len(data.encode()) <= MAX_DATA_BYTES, data
    return data


def _number(text: str) -> int:
    if _NUMBER.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not a number")
    return int(text)


def unpack(data: str) -> Press | None:
    """The press `data` names, or None when it is not valid (stale, forged, malformed)."""
    if len(data) > MAX_DATA_BYTES or not data.isascii():
        return None
    head, _, rest = data.partition(":")
    fields = rest.split(":")
    try:
        op = Op(head)
        if op is Op.PAGE:
            if len(fields) != 3:
                return None
            return PageRef(PageView(fields[0]), _number(fields[1]), _number(fields[2]))
        return _numeric_press(op, [_number(field) for field in fields])
    except ValueError:  # an unknown op or view, a bad number, or a value out of range
        return None


def _numeric_press(op: Op, numbers: list[int]) -> Press | None:
    """A press whose fields are all numbers, or None for the wrong count of them."""
    if op is Op.ASSIGN_JOBS_ANYWAY:
        if not 3 <= len(numbers) <= 2 + MAX_FORCE_JOBS:
            return None
        return ForceAssign(numbers[0], numbers[1], tuple(numbers[2:]))
    if len(numbers) != (2 if op in REASON_OPS | {Op.ASSIGN_ANYWAY, Op.PROPOSE_PICK} else 1):
        return None
    if op in PROPOSE_OPS:
        return ProposePress(op, numbers[0], numbers[1] if op is Op.PROPOSE_PICK else None)
    if op is Op.ASSIGN_ANYWAY:
        return ForceAssign(numbers[0], numbers[1])
    if op is Op.REBROADCAST_ALL:
        return RebroadcastAll(numbers[0])
    if op is Op.SHOW_AVAILABLE:
        return ShowAvailable(numbers[0])
    index = numbers[1] if op in REASON_OPS else None
    if op in REQUEST_OPS:
        return RequestPress(op, numbers[0], index)
    return JobPress(op, numbers[0], index)
