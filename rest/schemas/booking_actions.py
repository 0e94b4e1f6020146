"""Bodies of the dispatch actions on one booking, its history and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from dispatch.model import ActorKind, ExclusionReason, RequestStatus
from rest.schemas.common import ApiModel, Id, OutModel, UniqueIds


class EligibleOut(OutModel):
    """A fieldworker who may be asked."""

    fieldworker_id: int
    name: str
    distance_km: float | None


class ExcludedOut(OutModel):
    """A fieldworker who may not be asked, and every reason why."""

    fieldworker_id: int
    name: str
    reasons: list[ExclusionReason]
    distance_km: float | None


class AvailableOut(OutModel):
    """Eligibility of every fieldworker for one job, nearest first."""

    job_id: int
    eligible: list[EligibleOut]
    excluded: list[ExcludedOut]


class JobRequestsIn(ApiModel):
    """Ask chosen fieldworkers; without `job_ids`, for every open job of the booking."""

    fieldworker_ids: UniqueIds
    job_ids: UniqueIds | None = None
    actor_staff_id: Id | None = None
    force: bool = Field(default=False, description="ask even for jobs they are not eligible for")


class SendOut(OutModel):
    """Requests sent, and fieldworkers not asked with why (unreachable, not_eligible,
    already_pending, already_accepted)."""

    sent: list[int]
    skipped: dict[str, str]


class AssignIn(ApiModel):
    """Assign (or reassign); without `job_ids`, every job not cancelled or completed."""

    fieldworker_id: Id
    job_ids: UniqueIds | None = None
    actor_staff_id: Id | None = None
    force: bool = Field(default=False, description="assign even when not eligible")


class AssignResult(OutModel):
    """One job's assignment; `changed` is false when it already was theirs."""

    job_id: int
    fieldworker_id: int
    changed: bool


class AssignOut(OutModel):
    """What `assign` did, job by job."""

    results: list[AssignResult]


class RespondIn(ApiModel):
    """Answer on a fieldworker's behalf; without `job_ids`, all their requests of the booking."""

    action: Literal["accept", "decline", "pend"]
    fieldworker_id: Id
    job_ids: UniqueIds | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    actor_staff_id: Id | None = None


class RespondResultOut(OutModel):
    """One request's answer: `outcome` says what happened, `status` where the request is now."""

    job_id: int
    request_id: int
    outcome: str
    status: RequestStatus | None


class RespondOut(OutModel):
    """What `respond` did, request by request."""

    results: list[RespondResultOut]


class CompleteIn(ApiModel):
    """Mark jobs done (an empty body is the same as `{}`); without `job_ids`, every assigned job."""

    job_ids: UniqueIds | None = Field(
        default=None, description="only these jobs, each of which must be assigned (else 409)"
    )
    actor_staff_id: Id | None = None


class RebroadcastIn(ApiModel):
    """Re-broadcast (an empty body is the same as `{}`): ask eligible fieldworkers not yet asked."""

    include_expired: bool = Field(
        default=False,
        description=(
            "also ask again those whose request expired unanswered (after an assignment "
            "timeout): their requests reopen as pending and are re-sent; declined ones never"
        ),
    )
    actor_staff_id: Id | None = None


class RebroadcastOut(OutModel):
    """Request ids sent."""

    sent: list[int]


class HistoryActor(OutModel):
    """Who made the decision."""

    kind: ActorKind
    id: int | None
    name: str


class HistoryOut(OutModel):
    """One history row (append-only)."""

    id: int
    at: datetime
    actor: HistoryActor
    action: str
    on_behalf_of: int | None
    from_status: str | None
    to_status: str | None
    channel: str | None
    details: dict[str, Any]
    job_id: int | None
    request_id: int | None


class NotificationOut(OutModel):
    """One outbox entry."""

    id: int
    booking_id: int | None
    channel: str
    recipient: str
    template: str = Field(
        description="the event whose template wrote it: `/templates/{template}/{channel}`"
    )
    message_key: str = Field(
        description="which message of that event, e.g. `customer_assigned_sms`, "
        "`staff_no_acceptance`"
    )
    body: str
    status: str
    attempts: int
    error: str | None
    created_at: datetime
