"""Company-local days as time spans: what "the jobs of a day" and a date range mean.

Pure. A day runs from one local midnight to the next in the company's zone (`TIMEZONE`), so a day
with a daylight-saving change is 23 or 25 hours long, as the zone says.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatch.model import Interval


def local_days(first: date, last: date, timezone: str) -> Interval:
    """`[first 00:00, the day after last 00:00)` in `timezone`, with aware ends."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    return Interval(start, end)


def local_day(at: datetime, timezone: str) -> date:
    """The day it is at `at` (aware) in `timezone`."""
    return at.astimezone(ZoneInfo(timezone)).date()
