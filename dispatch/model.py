"""The dispatch vocabulary: states, the legal moves between them, and the views the core reasons on.

Nothing here does I/O or formats text. Storage adapters build these views; the core decides on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class DispatchMode(StrEnum):
    """How a booking's jobs find a fieldworker."""

    AUTO = "auto"  # broadcast to every eligible fieldworker; the first accept wins
    MANUAL = "manual"  # staff send requests and confirm one acceptor


class BookingStatus(StrEnum):
    """A booking is open until it is cancelled or all its jobs are done."""

    OPEN = "open"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class JobStatus(StrEnum):
    """A job is one service of one appointment."""

    UNASSIGNED = "unassigned"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    MISSED = "missed"  # the assigned fieldworker dropped out; open again until someone has it
    COMPLETED = "completed"
    CANCELLED = "cancelled"


#: Jobs that may still be given to a fieldworker: a missed job (its fieldworker dropped out) is
#: offered and assigned again like one never taken.
OPEN_JOB_STATUSES: tuple[JobStatus, ...] = (
    JobStatus.UNASSIGNED,
    JobStatus.OFFERED,
    JobStatus.MISSED,
)


class RequestStatus(StrEnum):
    """A job request is one fieldworker being asked to take one job."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class FieldworkerStatus(StrEnum):
    """Account status; only `active` fieldworkers are dispatched to."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    RESTRICTED = "restricted"


class ActorKind(StrEnum):
    """Who made a decision."""

    FIELDWORKER = "fieldworker"
    STAFF = "staff"
    SYSTEM = "system"


class Channel(StrEnum):
    """Where a fieldworker or customer is reached, and where a decision came from."""

    TELEGRAM = "telegram"
    SMS = "sms"
    EMAIL = "email"
    API = "api"
    SYSTEM = "system"


class Permission(StrEnum):
    """What a staff role may do."""

    RESPOND_ON_BEHALF = "respond_on_behalf"
    ASSIGN = "assign"
    SEND_REQUESTS = "send_requests"
    MANAGE_SETTINGS = "manage_settings"
    VIEW = "view"


class ExclusionReason(StrEnum):
    """Why a fieldworker is not eligible for a job (CONTRACT §4 reason codes)."""

    OUTSIDE_RADIUS = "outside_radius"
    OUTSIDE_TERRITORY = "outside_territory"
    MISSING_SERVICE = "missing_service"
    MISSING_SKILL = "missing_skill"
    CUSTOM_FIELD_MISMATCH = "custom_field_mismatch"
    OUTSIDE_WORKING_HOURS = "outside_working_hours"
    TIME_OFF = "time_off"
    SCHEDULE_CONFLICT = "schedule_conflict"
    INACTIVE = "inactive"
    RESTRICTED = "restricted"


class HistoryAction(StrEnum):
    """What a history row records (CONTRACT §4)."""

    BOOKING_CREATED = "booking_created"
    BOOKING_CHANGED = "booking_changed"
    BOOKING_CANCELLED = "booking_cancelled"
    REQUEST_SENT = "request_sent"
    REQUEST_ACCEPTED = "request_accepted"
    REQUEST_DECLINED = "request_declined"
    REQUEST_PENDED = "request_pended"
    REQUEST_WITHDRAWN = "request_withdrawn"
    REQUEST_EXPIRED = "request_expired"
    JOB_ASSIGNED = "job_assigned"
    JOB_REASSIGNED = "job_reassigned"
    JOB_UNASSIGNED = "job_unassigned"
    JOB_MISSED = "job_missed"
    TIMEOUT_ALERTED = "timeout_alerted"
    CUSTOMER_NOTIFIED = "customer_notified"
    PERMISSION_REFUSED = "permission_refused"
    DELIVERY_FAILED = "delivery_failed"
    JOB_COMPLETED = "job_completed"
    BOOKING_COMPLETED = "booking_completed"  # its last open job completed (not in CONTRACT's list)
    BOOKING_RESCHEDULED = "booking_rescheduled"
    RESCHEDULE_PROPOSED = "reschedule_proposed"
    RESCHEDULE_CHOSEN = "reschedule_chosen"
    REMINDER_SENT = "reminder_sent"
    CUSTOMER_REPLIED = "customer_replied"
    # Not in CONTRACT's list (it says more may be added):
    UNASSIGNED_ALERTED = "unassigned_alerted"  # staff told a job is unassigned close to its start
    REMINDER_CONFIRMED = "reminder_confirmed"  # the assigned fieldworker confirmed the day before


DEFAULT_DECLINE_REASONS: tuple[str, ...] = (
    "Too far",
    "Not available",
    "Missing skill or equipment",
    "Personal",
    "Other",
)

#: The reason that asks for a typed reply instead of being recorded as is.
OTHER_REASON = "Other"


@dataclass(frozen=True)
class Actor:
    """Who did something; `name` is denormalised for the history."""

    kind: ActorKind
    id: int | None = None
    name: str = ""

    @classmethod
    def system(cls) -> Actor:
        """The scheduler or the service itself."""
        return cls(ActorKind.SYSTEM, None, "system")


@dataclass(frozen=True)
class Point:
    """A WGS84 position."""

    lat: float
    lon: float


@dataclass(frozen=True)
class Interval:
    """A half-open time span [start, end) with timezone-aware ends."""

    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        """True when the two spans share any instant (touching ends do not overlap)."""
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class FieldworkerProfile:
    """What eligibility needs to know about one fieldworker.

    `working_hours` maps `mon`..`sun` to lists of `("HH:MM", "HH:MM")` shifts in the fieldworker's
    own `timezone`; a shift whose end is not after its start runs overnight into the next day.
    `None` means always available. `busy` holds the appointments of jobs already assigned to them.
    `territories` is a GeoJSON Polygon or MultiPolygon mapping, or `None` for no restriction.
    """

    id: int
    name: str = ""
    status: FieldworkerStatus = FieldworkerStatus.ACTIVE
    services: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset()
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    base_location: Point | None = None
    territories: Mapping[str, Any] | None = None
    working_hours: Mapping[str, list[tuple[str, str]]] | None = None
    time_off: tuple[Interval, ...] = ()
    timezone: str = "UTC"
    busy: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class JobSpec:
    """What eligibility needs to know about one job."""

    job_id: int
    service_code: str
    location: Point
    appointment: Interval
    required_skills: frozenset[str] = frozenset()
    custom_fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Eligible:
    """A fieldworker who may be asked, with the distance used for ranking."""

    fieldworker_id: int
    distance_km: float | None


@dataclass(frozen=True)
class Excluded:
    """A fieldworker who may not be asked, with every reason that applies."""

    fieldworker_id: int
    reasons: tuple[ExclusionReason, ...]
    distance_km: float | None = None


@dataclass(frozen=True)
class EligibilityResult:
    """Eligible fieldworkers nearest first; excluded ones in input order."""

    eligible: tuple[Eligible, ...]
    excluded: tuple[Excluded, ...]

    def eligible_ids(self) -> list[int]:
        """Ids of eligible fieldworkers, nearest first."""
        return [e.fieldworker_id for e in self.eligible]


# The legal moves. The storage adapter turns each into a conditional UPDATE on the `from` states.
REQUEST_MOVES: Mapping[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.PENDING: frozenset(
        {
            RequestStatus.ACCEPTED,
            RequestStatus.DECLINED,
            RequestStatus.EXPIRED,
            RequestStatus.WITHDRAWN,
        }
    ),
    # Staff may return an answered request to pending (`/pend`).
    # An accepted request is declined when staff decline on the fieldworker's behalf.
    RequestStatus.ACCEPTED: frozenset(
        {RequestStatus.PENDING, RequestStatus.WITHDRAWN, RequestStatus.DECLINED}
    ),
    # Staff may ask again (pending) or assign the job to them outright (accepted for them).
    RequestStatus.DECLINED: frozenset({RequestStatus.PENDING, RequestStatus.ACCEPTED}),
    RequestStatus.EXPIRED: frozenset({RequestStatus.PENDING, RequestStatus.ACCEPTED}),
    RequestStatus.WITHDRAWN: frozenset({RequestStatus.PENDING, RequestStatus.ACCEPTED}),
}


def can_move_request(src: RequestStatus, dst: RequestStatus) -> bool:
    """True when a job request may go from `src` to `dst`."""
    return dst in REQUEST_MOVES.get(src, frozenset())
