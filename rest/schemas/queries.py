"""Query strings: `actor_staff_id` everywhere, pages of lists, and filters."""

from __future__ import annotations

from pydantic import Field

from dispatch.model import BookingStatus
from rest.schemas.common import Id, QueryModel


class ActorQuery(QueryModel):
    """`actor_staff_id` names the staff member acting; without it the API token acts."""

    actor_staff_id: Id | None = None


class PageQuery(ActorQuery):
    """A page of a list."""

    limit: int = Field(default=100, ge=1, le=500)
    # SQL OFFSET is a signed 64-bit integer on both backends: beyond it the query fails.
    offset: int = Field(default=0, ge=0, le=2**63 - 1)


class BookingListQuery(PageQuery):
    """Bookings, newest first."""

    status: BookingStatus | None = None


class AvailableQuery(ActorQuery):
    """Which job to evaluate (default: the first open job, else the first job)."""

    job_id: Id | None = None


class NotificationQuery(PageQuery):
    """Outbox entries, oldest first."""

    booking_id: Id | None = None
