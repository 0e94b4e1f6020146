"""The language adapters speak to the core: actions, and what a command's outcome was."""

from __future__ import annotations

from dataclasses import dataclass, field
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
