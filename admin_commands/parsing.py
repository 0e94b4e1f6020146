"""Argument parsing for the admin commands: pure functions, no I/O, unit-testable.

Every parser takes the words after the command (PTB's `context.args`) and returns a frozen
dataclass, or raises `UsageError`; the handler then answers with the command's usage line and
changes nothing. The admin buttons ("Assign anyway" `s:`, list pages `p:`, the timeout alert's
`e:` and `v:`) are packed and validated in `notifications.callbacks`; `parse_callback` keeps only
those presses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from dispatch.days import local_days
from notifications.callbacks import MAX_ID, StaffPress, unpack

PAGE_SIZE = 10
#: Telegram usernames are 5-32 characters; accept any plausible spelling, the lookup decides.
_USERNAME = re.compile(r"@([A-Za-z0-9_]{1,64})")
_ID = re.compile(r"#?([0-9]{1,10})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: The word that starts a list of job ids (`job 12 13`): where several fieldworkers or a free-text
#: reason come before it, nothing else could tell where they end. `jobs` reads better for several.
JOB_WORDS = frozenset({"job", "jobs"})

#: The usage line of every admin command, in the order `/help` lists them.
USAGE: dict[str, str] = {
    "accept_for": "/accept_for BOOKING FIELDWORKER [JOB...]",
    "decline_for": "/decline_for BOOKING FIELDWORKER REASON... [job JOB...]",
    "pend": "/pend BOOKING FIELDWORKER [JOB...]",
    "assign": "/assign BOOKING FIELDWORKER [JOB...]",
    "request": "/request BOOKING FIELDWORKER... [job JOB...]",
    "rebroadcast": "/rebroadcast BOOKING [all]",
    "reassign_all": "/reassign_all FIELDWORKER FROM TO",
    "available": "/available BOOKING",
    "booking": "/booking BOOKING",
    "history": "/history BOOKING",
    "unassigned": "/unassigned",
    "today": "/today",
}


class UsageError(ValueError):
    """The arguments do not fit the command; `str(error)` says what is wrong."""


@dataclass(frozen=True)
class FieldworkerRef:
    """A fieldworker as typed: by id, or by Telegram username (without `@`)."""

    id: int | None = None
    username: str | None = None

    def __str__(self) -> str:
        return f"@{self.username}" if self.username is not None else f"#{self.id}"


@dataclass(frozen=True)
class RespondArgs:
    """`/accept_for`, `/decline_for`, `/pend`: whose requests, which jobs (empty: all), why."""

    booking_id: int
    fieldworker: FieldworkerRef
    job_ids: tuple[int, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class BookingFieldworkerArgs:
    """`/assign BOOKING FIELDWORKER [JOB...]`: which jobs (empty: every job still to assign)."""

    booking_id: int
    fieldworker: FieldworkerRef
    job_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class RequestArgs:
    """`/request BOOKING FIELDWORKER... [job JOB...]` (duplicates removed, order kept)."""

    booking_id: int
    fieldworkers: tuple[FieldworkerRef, ...]
    job_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class BookingArgs:
    """Commands taking only a booking id."""

    booking_id: int


@dataclass(frozen=True)
class RebroadcastArgs:
    """`/rebroadcast BOOKING [all]`: `all` asks again those whose request expired, too."""

    booking_id: int
    include_expired: bool = False


@dataclass(frozen=True)
class ReassignArgs:
    """`/reassign_all FIELDWORKER FROM TO`: company-local dates, both included."""

    fieldworker: FieldworkerRef
    first_day: date
    last_day: date


# -- single values -------------------------------------------------------------------------------


def parse_id(text: str, what: str) -> int:
    """A positive integer id (`42` or `#42`)."""
    match = _ID.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"{what} must be a number, not {text!r}")
    value = int(match[1])
    if not 1 <= value <= MAX_ID:
        raise UsageError(f"{what} {value} is out of range")
    return value


def parse_fieldworker(text: str) -> FieldworkerRef:
    """A fieldworker id, or `@telegram_username` (kept as typed; compared ignoring case)."""
    match = _USERNAME.fullmatch(text.strip())
    if match is not None:
        return FieldworkerRef(username=match[1])
    if text.strip().startswith("@"):
        raise UsageError(f"{text!r} is not a Telegram username")
    return FieldworkerRef(id=parse_id(text, "FIELDWORKER"))


def parse_date(text: str, what: str) -> date:
    """A `YYYY-MM-DD` date."""
    if not _DATE.fullmatch(text):
        raise UsageError(f"{what} must be a date like 2026-12-01, not {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{what} {text!r} is not a valid date") from None


def booking_id_of(args: Sequence[str]) -> int | None:
    """The booking id when the first argument is one, else None (for refusals, never raises)."""
    if not args:
        return None
    try:
        return parse_id(args[0], "BOOKING")
    except UsageError:
        return None


# -- commands ------------------------------------------------------------------------------------


def _need(args: Sequence[str], count: int, what: str) -> None:
    if len(args) < count:
        raise UsageError(f"missing {what}")


def _job_ids(words: Sequence[str]) -> tuple[int, ...]:
    """Job ids, each once in order; a leading `job` word is allowed (`/assign 4 7 job 12`)."""
    if words and words[0].casefold() in JOB_WORDS:
        words = words[1:]
        if not words:
            raise UsageError("missing JOB after 'job'")
    ids: list[int] = []
    for word in words:
        job_id = parse_id(word, "JOB")
        if job_id not in ids:
            ids.append(job_id)
    return tuple(ids)


def _split_job_list(words: Sequence[str]) -> tuple[list[str], tuple[int, ...]]:
    """Words before a trailing `job JOB...`, and those job ids (none without the `job` word).

    Only a last `job` followed by nothing but ids counts, so a reason that merely mentions a job
    ("got another job") stays part of the reason.
    """
    for i in range(len(words) - 1, -1, -1):
        if words[i].casefold() in JOB_WORDS:
            tail = words[i + 1 :]
            if tail and all(_ID.fullmatch(word.strip()) for word in tail):
                return list(words[:i]), _job_ids(tail)
            break
    return list(words), ()


def parse_respond(args: Sequence[str], *, action: str) -> RespondArgs:
    """`BOOKING FIELDWORKER [JOB...]` for accept and pend; `BOOKING FIELDWORKER REASON... [job
    JOB...]` for decline (the reason is every remaining word before the job list, required)."""
    _need(args, 1, "BOOKING")
    booking_id = parse_id(args[0], "BOOKING")
    _need(args, 2, "FIELDWORKER")
    fieldworker = parse_fieldworker(args[1])
    rest = list(args[2:])
    if action == "decline":
        words, job_ids = _split_job_list(rest)
        reason = " ".join(words).strip()
        if not reason:
            raise UsageError("a reason is required")
        if len(reason) > 500:
            raise UsageError("the reason is too long (500 characters at most)")
        return RespondArgs(booking_id, fieldworker, job_ids, reason)
    return RespondArgs(booking_id, fieldworker, _job_ids(rest))


def parse_booking_fieldworker(args: Sequence[str]) -> BookingFieldworkerArgs:
    """`BOOKING FIELDWORKER [JOB...]` (the job ids may follow the word `job`)."""
    _need(args, 1, "BOOKING")
    booking_id = parse_id(args[0], "BOOKING")
    _need(args, 2, "FIELDWORKER")
    return BookingFieldworkerArgs(booking_id, parse_fieldworker(args[1]), _job_ids(args[2:]))


def parse_request(args: Sequence[str]) -> RequestArgs:
    """`BOOKING FIELDWORKER... [job JOB...]` (at least one fieldworker; no job ids: every open
    job). A bare number is a fieldworker id: job ids only ever follow the word `job`."""
    _need(args, 1, "BOOKING")
    booking_id = parse_id(args[0], "BOOKING")
    words, job_ids = _split_job_list(args[1:])
    if not words:
        raise UsageError("missing FIELDWORKER")
    refs: list[FieldworkerRef] = []
    seen: set[str] = set()
    for word in words:
        if word.casefold() in JOB_WORDS:
            raise UsageError("'job' must be followed by job ids, and come last")
        ref = parse_fieldworker(word)
        key = str(ref).casefold()
        if key not in seen:
            seen.add(key)
            refs.append(ref)
    if len(refs) > 50:
        raise UsageError("at most 50 fieldworkers at once")
    return RequestArgs(booking_id, tuple(refs), job_ids)


def parse_booking(args: Sequence[str]) -> BookingArgs:
    """`BOOKING`, nothing more."""
    _need(args, 1, "BOOKING")
    if len(args) > 1:
        raise UsageError("too many arguments")
    return BookingArgs(parse_id(args[0], "BOOKING"))


def parse_rebroadcast(args: Sequence[str]) -> RebroadcastArgs:
    """`BOOKING`, optionally followed by the word `all` (any letter case)."""
    _need(args, 1, "BOOKING")
    if len(args) > 2:
        raise UsageError("too many arguments")
    if len(args) == 2 and args[1].casefold() != "all":
        raise UsageError(f"expected `all` after BOOKING, not {args[1]!r}")
    return RebroadcastArgs(parse_id(args[0], "BOOKING"), include_expired=len(args) == 2)


def parse_no_args(args: Sequence[str]) -> None:
    """Commands without arguments."""
    if args:
        raise UsageError("this command takes no arguments")


def parse_reassign(args: Sequence[str]) -> ReassignArgs:
    """`FIELDWORKER FROM TO` with `FROM <= TO`, at most a year apart."""
    if len(args) != 3:
        raise UsageError("expected FIELDWORKER FROM TO")
    fieldworker = parse_fieldworker(args[0])
    first, last = parse_date(args[1], "FROM"), parse_date(args[2], "TO")
    if last < first:
        raise UsageError("TO is before FROM")
    if (last - first).days > 366:
        raise UsageError("the range is longer than a year")
    return ReassignArgs(fieldworker, first, last)


def day_range(first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    """`[first 00:00, day after last 00:00)` in `timezone`, as aware datetimes.

    Both ends are local midnights, so a DST change inside the range is handled by the zone.
    """
    span = local_days(first, last, timezone)
    return span.start, span.end


# -- buttons -------------------------------------------------------------------------------------


def parse_callback(data: str) -> StaffPress | None:
    """An admin button's press, or None when `data` is not one (stale, forged, malformed)."""
    press = unpack(data)
    return press if isinstance(press, StaffPress) else None


@dataclass(frozen=True)
class PageWindow:
    """Which slice of a list one page shows."""

    page: int  # from 1, clamped to the pages that exist
    pages: int  # at least 1
    offset: int
    limit: int

    @property
    def has_prev(self) -> bool:
        """A page before this one exists."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """A page after this one exists."""
        return self.page < self.pages


def page_window(total: int, page: int, size: int = PAGE_SIZE) -> PageWindow:
    """The window for `page` of `total` items; a page beyond the end shows the last one."""
    pages = max(1, math.ceil(total / size))
    page = min(max(1, page), pages)
    return PageWindow(page, pages, (page - 1) * size, size)
