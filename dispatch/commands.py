"""The language adapters speak to the core: actions, and what a command's outcome was."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from dispatch.model import ExclusionReason, Point, RequestStatus


class Action(StrEnum):
    """A response to a job request."""

    ACCEPT = "accept"
    DECLINE = "decline"
    PEND = "pend"  # staff only: back to pending, and ask again


@dataclass(frozen=True)
class BookingChanges:
    """What a booking change asks for; None: keep as it is."""

    address: str | None = None
    notes: str | None = None
    location: Point | None = None
    cancel: bool = False


class Outcome(StrEnum):
    """How a fieldworker's (or on-behalf) response ended."""

    ASSIGNED = "assigned"  # accepted and the job is theirs
    ACCEPTED = "accepted"  # accepted; staff confirm one acceptor (manual mode)
    ALREADY_ACCEPTED = "already_accepted"  # a repeated accept of their own accepted request
    TAKEN = "taken"  # too late: someone else has the job
    CLOSED = "closed"  # the request is no longer open (expired, withdrawn, declined)
    JOB_CLOSED = "job_closed"  # the job or booking was cancelled or completed
    REASON_REQUIRED = "reason_required"  # a decline needs a reason first; nothing recorded
    DECLINED = "declined"
    PENDED = "pended"
    NOT_FOUND = "not_found"
    CANCELLED = "cancelled"  # the assigned fieldworker is no longer attending
    CONFIRMED = "confirmed"  # the assigned fieldworker confirmed they will attend
    ALREADY_CONFIRMED = "already_confirmed"  # a repeated confirmation: nothing changed


@dataclass(frozen=True)
class RespondResult:
    """The outcome of one response to one request."""

    outcome: Outcome
    request_id: int | None = None
    job_id: int | None = None
    booking_id: int | None = None
    status: RequestStatus | None = None


@dataclass(frozen=True)
class NotSent:
    """One fieldworker not asked for one job: `reason` is a `SendResult.skipped` code."""

    fieldworker_id: int
    job_id: int
    reason: str
    exclusions: tuple[ExclusionReason, ...] = ()  # with `not_eligible`: every reason why


@dataclass
class SendResult:
    """What `send_requests` did, job by job."""

    sent: list[int] = field(default_factory=list)  # new or re-sent request ids
    # fieldworker id -> why not (`unreachable`, `not_eligible`, `already_pending`,
    # `already_accepted`); with several jobs, the last job's reason. `not_sent` has each job's.
    skipped: dict[int, str] = field(default_factory=dict)
    not_sent: list[NotSent] = field(default_factory=list)

    def skip(
        self, fieldworker_id: int, job_id: int, reason: str, *exclusions: ExclusionReason
    ) -> None:
        """Record that a fieldworker was not asked for a job, and why."""
        self.skipped[fieldworker_id] = reason
        self.not_sent.append(NotSent(fieldworker_id, job_id, reason, tuple(exclusions)))


@dataclass(frozen=True)
class AppointmentMove:
    """Move one appointment of a booking to [start, end); `appointment_id` None: the booking's
    only appointment."""

    appointment_id: int | None
    start: datetime
    end: datetime


class JobOutcome(StrEnum):
    """What a reschedule did to one job of a moved appointment."""

    KEPT = "kept"  # its fieldworker is still eligible at the new time and keeps it (told)
    UNASSIGNED = "unassigned"  # its fieldworker is not eligible then: unassigned, dispatched again
    REDISPATCHED = "redispatched"  # open: its requests withdrawn, dispatched again at the new time
    CLOSED = "closed"  # completed or cancelled: nothing to do


@dataclass(frozen=True)
class RescheduledJob:
    """One job of a moved appointment: what happened to it.

    `fieldworker_id` is who held it before (kept or unassigned); `withdrawn` the request ids
    closed for the old time; `sent` the request ids sent (or sent again) for the new time;
    `for_staff`: left open for staff to dispatch (manual mode), who are alerted.
    """

    job_id: int
    appointment_id: int
    outcome: JobOutcome
    fieldworker_id: int | None = None
    withdrawn: tuple[int, ...] = ()
    sent: tuple[int, ...] = ()
    for_staff: bool = False


@dataclass(frozen=True)
class RescheduleResult:
    """What `dispatch.rescheduling.reschedule` did: the appointments it moved (those already at
    their requested time are not), and each of their jobs."""

    booking_id: int
    moved: tuple[int, ...] = ()
    jobs: tuple[RescheduledJob, ...] = ()

    @property
    def changed(self) -> bool:
        """False when every appointment already was at its requested time (nothing was done)."""
        return bool(self.moved)
