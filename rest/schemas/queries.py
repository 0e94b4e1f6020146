"""Query strings: `actor_staff_id` everywhere, pages of lists, and filters."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from dispatch.model import BookingStatus, JobStatus
from rest.schemas.common import Id, IsoDateTime, QueryModel

#: The years a date or time in a filter may name: beyond them nothing is scheduled, and a day's
#: bounds stay far inside what dates, time zones and the databases can hold.
FIRST_YEAR, LAST_YEAR = 1900, 2999
#: A UTC offset whose `+` a query string turned into a space (`+` means space in a query).
_SPACED_OFFSET = re.compile(r"(T[0-9:.]+) ([0-9]{2}(:?[0-9]{2})?)$")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _in_years(value: Any) -> Any:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise PydanticCustomError(
            "invalid_value",
            "{value} is outside the years {first}-{last}",
            {"value": str(value), "first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return value


def _query_offset(value: Any) -> Any:
    """`2026-12-01T00:00:00 01:00` as sent unencoded means `+01:00`."""
    return _SPACED_OFFSET.sub(r"\1+\2", value) if isinstance(value, str) else value


def _day(value: Any) -> Any:
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise PydanticCustomError("invalid_value", "expected a date like 2026-12-01")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError(
            "invalid_value", "{value} is not a valid date", {"value": value}
        ) from None


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("invalid_value", "text must not contain NUL characters")
    return value


QueryDateTime = Annotated[IsoDateTime, BeforeValidator(_query_offset), AfterValidator(_in_years)]
Day = Annotated[
    dt.date,
    BeforeValidator(_day),
    AfterValidator(_in_years),
    Field(description="a date, YYYY-MM-DD"),
]
SearchText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_no_nul)
]


class ActorQuery(QueryModel):
    """`actor_staff_id` names the staff member acting; without it the API token acts."""

    actor_staff_id: Id | None = None


class PageQuery(ActorQuery):
    """A page of a list."""

    limit: int = Field(default=100, ge=1, le=500)
    # SQL OFFSET is a signed 64-bit integer on both backends: beyond it the query fails.
    offset: int = Field(default=0, ge=0, le=2**63 - 1)


class BookingListQuery(PageQuery):
    """Bookings, newest first. Every filter given must hold; the job filters (`job_status`,
    `fieldworker_id`, `date`, `from`, `to`) must hold for one same job of the booking."""

    status: BookingStatus | None = None
    job_status: JobStatus | None = Field(
        default=None, description="bookings with a job in this status"
    )
    date: Day | None = Field(
        default=None,
        description="bookings with an appointment starting on this day (YYYY-MM-DD) in the "
        "company's TIMEZONE",
    )
    from_: QueryDateTime | None = Field(
        default=None,
        alias="from",
        description="bookings with an appointment starting at or after this time (ISO 8601 with "
        "an offset; write its `+` as %2B)",
    )
    to: QueryDateTime | None = Field(
        default=None, description="bookings with an appointment starting before this time"
    )
    fieldworker_id: Id | None = Field(
        default=None, description="bookings with a job of this fieldworker (assigned or done)"
    )
    q: SearchText | None = Field(
        default=None,
        description="text in the customer's name, phone or the address, in any letter case",
    )

    @field_validator("to")
    @classmethod
    def _to_after_from(cls, to: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        start = info.data.get("from_")
        if to is not None and start is not None and to <= start:
            raise PydanticCustomError("end_before_start", "`to` must be after `from`")
        return to


class AvailableQuery(ActorQuery):
    """Which job to evaluate (default: the first open job, else the first job)."""

    job_id: Id | None = None


class NotificationQuery(PageQuery):
    """Outbox entries, oldest first."""

    booking_id: Id | None = None
