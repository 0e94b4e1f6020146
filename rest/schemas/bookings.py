"""Bodies of `/bookings` and `/bookings/{id}`: a booking with its jobs and their requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from dispatch.model import ActorKind, BookingStatus, DispatchMode, JobStatus, RequestStatus
from rest.schemas.common import (
    Address,
    ApiModel,
    Email,
    Id,
    LatLon,
    LatLonOut,
    Name,
    OutModel,
    Phone,
    Text,
    TimeSpan,
    TimeSpanOut,
    UniqueCodes,
    UniqueTags,
    patch_model,
)


class CustomerIn(ApiModel):
    """The person the booking is for."""

    name: Name
    phone: Phone | None = None
    email: Email | None = None


class Requirements(ApiModel):
    """What every fieldworker of the booking must have."""

    skills: UniqueTags = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class BookingIn(ApiModel):
    """A new booking: one job per (appointment, service)."""

    customer: CustomerIn
    address: Address
    location: LatLon
    services: Annotated[UniqueCodes, Field(min_length=1)]
    appointments: Annotated[list[TimeSpan], Field(min_length=1, max_length=50)]
    dispatch_mode: DispatchMode | None = Field(
        default=None, description="left out or null: the company setting"
    )
    requirements: Requirements = Field(default_factory=Requirements)
    notes: Text = ""
    fieldworker_id: Id | None = Field(
        default=None, description="assign every job to this fieldworker at once"
    )
    actor_staff_id: Id | None = None


class AppointmentMoveIn(TimeSpan):
    """An appointment's new time: `id` from the booking's `appointments` (may be left out when the
    booking has one appointment)."""

    id: Id | None = Field(
        default=None, description="the appointment to move; optional with a single appointment"
    )


class BookingChanges(ApiModel):
    """Changes to a booking (PATCH: send only what changes).

    `"status": "cancelled"` cancels the booking and its open jobs. `appointments` reschedules:
    each named appointment moves to its new `start`/`end` (one left at its time is unchanged).
    """

    address: Address
    location: LatLon
    notes: Text
    status: Literal["cancelled"]
    appointments: Annotated[list[AppointmentMoveIn], Field(min_length=1, max_length=50)] = Field(
        description="reschedule: the appointments to move, each with its new start and end"
    )
    actor_staff_id: Id | None


BookingPatch = patch_model("BookingPatch", BookingChanges)


class CustomerOut(OutModel):
    """The booking's customer."""

    name: str
    phone: str | None
    email: str | None


class RequirementsOut(OutModel):
    """What every fieldworker of the booking must have."""

    skills: list[str]
    custom_fields: dict[str, Any]


class RespondedBy(OutModel):
    """Who answered a request."""

    kind: ActorKind
    id: int | None


class JobRequestOut(OutModel):
    """One fieldworker asked to take one job."""

    id: int
    fieldworker_id: int
    status: RequestStatus
    reason: str | None
    responded_by: RespondedBy | None
    responded_at: datetime | None
    channel: str | None


class AppointmentOut(TimeSpanOut):
    """One visit of a booking: its `id` names it when rescheduling."""

    id: int


class JobOut(OutModel):
    """One service of one appointment."""

    id: int
    appointment: AppointmentOut
    service: str
    status: JobStatus
    fieldworker_id: int | None
    requests: list[JobRequestOut]


class BookingOut(OutModel):
    """A booking with its jobs and their requests."""

    id: int
    status: BookingStatus
    dispatch_mode: DispatchMode
    customer: CustomerOut
    address: str
    location: LatLonOut
    notes: str
    requirements: RequirementsOut
    created_at: datetime
    appointments: list[AppointmentOut]
    jobs: list[JobOut]
