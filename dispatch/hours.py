"""Working hours: whether an appointment lies inside a fieldworker's shifts, in their timezone.

Pure; used by `dispatch.eligibility`. Malformed data (an unknown timezone, a shift like `"8am"`)
means "not within", never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dispatch.model import Interval

# Index = `date.weekday()`.
_WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_MINUTES_PER_DAY = 24 * 60

# Anything that can go wrong reading a user-supplied timezone or shift table.
_HOURS_ERRORS = (ZoneInfoNotFoundError, ValueError, TypeError, AttributeError)


def within_working_hours(
    appointment_utc: Interval,
    working_hours: Mapping[str, Any],
    timezone: str,
) -> bool:
    """True when the whole appointment lies inside the union of the fieldworker's shifts."""
    try:
        zone = ZoneInfo(timezone)
        local_start = appointment_utc.start.astimezone(zone)
        local_end = appointment_utc.end.astimezone(zone)
        # A shift starts on its own day and ends at most 24 h later, so only shifts starting from
        # the day before the appointment up to its last day can touch it.
        shifts = _shift_spans(
            working_hours, zone, local_start.date() - timedelta(days=1), local_end.date()
        )
    except _HOURS_ERRORS:
        return False

    start, end = appointment_utc.start, appointment_utc.end
    for shift_start, shift_end in _merge(shifts):
        # Half-open shift: starting at its end is outside, ending at its end is inside.
        if shift_start <= start < shift_end and end <= shift_end:
            return True
    return False


def _shift_spans(
    working_hours: Mapping[str, Any], zone: tzinfo, first: date, last: date
) -> list[tuple[datetime, datetime]]:
    """Every shift starting on a local day in [first, last], as UTC (start, end) pairs."""
    by_day = {str(key).strip().lower(): shifts for key, shifts in working_hours.items()}
    spans: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        for shift in by_day.get(_WEEKDAYS[day.weekday()]) or ():
            start_text, end_text = shift
            start_minutes = _minutes(start_text, allow_end_of_day=False)
            end_minutes = _minutes(end_text, allow_end_of_day=True)
            end_day = day
            if end_minutes == _MINUTES_PER_DAY:
                end_day, end_minutes = day + timedelta(days=1), 0
            elif end_minutes <= start_minutes:
                end_day = day + timedelta(days=1)
            # Each end is built from its own local date and wall time, so a shift crossing a DST
            # change gets its true length. Wall times in a DST gap or fold resolve with fold=0.
            spans.append(
                (
                    _local(day, start_minutes, zone).astimezone(UTC),
                    _local(end_day, end_minutes, zone).astimezone(UTC),
                )
            )
        day += timedelta(days=1)
    return spans


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Union of spans; touching spans join so that back-to-back shifts cover midnight."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _minutes(text: str, *, allow_end_of_day: bool) -> int:
    """Minutes after midnight for "HH:MM"; "24:00" only where a shift may end."""
    match = _CLOCK.fullmatch(str(text).strip())
    if match is None:
        raise ValueError(f"not an HH:MM time: {text!r}")
    hours, minutes = int(match[1]), int(match[2])
    total = hours * 60 + minutes
    if minutes >= 60 or total > _MINUTES_PER_DAY:
        raise ValueError(f"not an HH:MM time: {text!r}")
    if total == _MINUTES_PER_DAY and not allow_end_of_day:
        raise ValueError(f"a shift cannot start at {text!r}")
    return total


def _local(day: date, minutes: int, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
