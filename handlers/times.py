"""Times a fieldworker types (Reschedule Assist): `Tue 10:00`, `25/11 14:30`, `2026-11-25 10:00`.

Several times are separated by commas, semicolons or new lines. Each is read in the fieldworker's
own time zone: a weekday means the next one (today when the time is still ahead), a day without a
year this year (next year for a day more than a month past), a time `10:00`, `10.30`, `10`,
`2pm` or `2:30pm`. What cannot be read, or lies in the past, is refused naming the piece, so the
fieldworker can type it again. Whether a time is acceptable for the job is the core's decision
(`dispatch.assist.propose`).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: How a typed time should look, for the refusals.
EXAMPLES = "Tue 10:00, 25/11 14:30 or 2026-11-25 10:00"
#: More pieces than this is not a list of times.
MAX_PIECES = 10

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SEPARATORS = re.compile(r"[,;\n]+")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ]+|$)(.*)")
_DAY_MONTH = re.compile(r"(\d{1,2})[/.](\d{1,2})(?:[/.](\d{4}|\d{2}))?\.?(?:\s+|$)(.*)")
_WORD = re.compile(r"([a-z]+)\.?(?:\s+|$)(.*)")
_CLOCK = re.compile(r"(?:at\s+)?(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm)?")


class UnreadableTime(ValueError):
    """A piece of the text that is not a time, or a time in the past; `message` says which."""

    def __init__(self, piece: str, why: str) -> None:
        self.piece = piece
        self.message = f"“{piece}” {why}"
        super().__init__(self.message)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _clock(text: str) -> time | None:
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        return None
    hour, minute, half = int(match[1]), int(match[2] or 0), match[3]
    if half is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _weekday(word: str) -> int | None:
    """Monday 0 .. Sunday 6 for a weekday's name or its start (`tue`, `tues`, `thursday`)."""
    if len(word) < 3:
        return None
    return next((i for i, name in enumerate(_WEEKDAYS) if name.startswith(word)), None)


def _day(text: str, today: date) -> tuple[date, str, bool] | None:
    """The day a piece starts with, the rest of it, and whether the day was a weekday name."""
    if match := _ISO.fullmatch(text):
        return date(int(match[1]), int(match[2]), int(match[3])), match[4], False
    if match := _DAY_MONTH.fullmatch(text):
        year_text = match[3]
        year = today.year if year_text is None else int(year_text)
        year += 2000 if year_text is not None and len(year_text) == 2 else 0
        day = date(year, int(match[2]), int(match[1]))
        if year_text is None and day < today - timedelta(days=31):
            day = day.replace(year=year + 1)
        return day, match[4], False
    if match := _WORD.fullmatch(text):
        word, rest = match[1], match[2]
        if word == "today":
            return today, rest, False
        if word == "tomorrow":
            return today + timedelta(days=1), rest, False
        weekday = _weekday(word)
        if weekday is not None:
            return today + timedelta(days=(weekday - today.weekday()) % 7), rest, True
    return None


def read_time(piece: str, now: datetime, timezone: str) -> datetime:
    """One typed time, as an aware datetime in the fieldworker's zone (`UnreadableTime` if not)."""
    zone = _zone(timezone)
    text = " ".join(piece.lower().split())
    local_now = now.astimezone(zone)
    try:
        found = _day(text, local_now.date())
    except ValueError:  # a 31st of a month without one, month 13, ...
        raise UnreadableTime(piece, "is not a date") from None
    clock = _clock(found[1]) if found else None
    if found is None or clock is None:
        raise UnreadableTime(piece, f"is not a time I can read: write it like {EXAMPLES}")
    day, _, by_name = found
    when = datetime.combine(day, clock, tzinfo=zone)
    if by_name and when <= local_now:
        when = datetime.combine(day + timedelta(days=7), clock, tzinfo=zone)
    if when <= local_now:
        raise UnreadableTime(piece, "is in the past")
    return when


def read_times(text: str, now: datetime, timezone: str) -> list[datetime]:
    """Every time in `text` (comma, semicolon or line separated), in order, each once."""
    pieces = [p.strip() for p in _SEPARATORS.split(text) if p.strip()]
    if not pieces:
        raise UnreadableTime(text.strip(), f"has no time in it: write times like {EXAMPLES}")
    if len(pieces) > MAX_PIECES:
        raise UnreadableTime(pieces[MAX_PIECES], "is one time too many")
    times: list[datetime] = []
    for piece in pieces:
        when = read_time(piece, now, timezone)
        if when not in times:
            times.append(when)
    return times
