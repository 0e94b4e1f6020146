"""Steps every use case shares: load a job, close or reopen a request, unassign, record history.

Each step runs inside the caller's unit of work on rows the caller has locked (the job first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from dispatch import timers
from dispatch.commands import Outcome, RespondResult
from dispatch.deadlines import TimerKind
from dispatch.errors import Conflict, NotFound, RetryCommand
from dispatch.events import (
    JobUnassigned,
    RequestDeclined,
    RequestPended,
    RequestWithdrawn,
    WithdrawnBecause,
)
from dispatch.model import (
    OPEN_JOB_STATUSES,
    Actor,
    ActorKind,
    BookingStatus,
    Channel,
    HistoryAction,
    JobSpec,
    JobStatus,
    RequestStatus,
)
from dispatch.ports import BookingView, JobView, RequestView, UnitOfWork


def on_behalf_of(actor: Actor, fieldworker_id: int) -> int | None:
    """`on_behalf_of` for history: set when someone other than the fieldworker answered."""
    return fieldworker_id if actor.kind is not ActorKind.FIELDWORKER else None


def job_spec(job: JobView, booking: BookingView) -> JobSpec:
    return JobSpec(
        job_id=job.id,
        service_code=job.service_code,
        location=booking.location,
        appointment=job.appointment,
        required_skills=booking.required_skills,
        custom_fields=booking.custom_fields,
    )


async def load_booking(uow: UnitOfWork, booking_id: int, *, open_only: bool = False) -> BookingView:
    """The booking (else `booking_not_found`); `open_only`: refused unless it is open."""
    booking = await uow.get_booking(booking_id)
    if booking is None:
        raise NotFound("booking_not_found", f"booking {booking_id} does not exist")
    if open_only and booking.status is not BookingStatus.OPEN:
        raise Conflict("booking_not_open", f"booking {booking_id} is {booking.status.value}")
    return booking


async def load_job(uow: UnitOfWork, job_id: int, *, lock: bool) -> tuple[JobView, BookingView]:
    job = await (uow.lock_job(job_id) if lock else uow.get_job(job_id))
    if job is None:
        raise NotFound("job_not_found", f"job {job_id} does not exist")
    booking = await uow.get_booking(job.booking_id)
    assert booking is not None  # a job always has its booking (foreign key)
    return job, booking


async def request_deadline(uow: UnitOfWork) -> datetime | None:
    """When a request sent now expires unanswered (`assignment_timeout_s`; 0: never)."""
    settings = await uow.settings()
    if not settings.assignment_timeout_s:
        return None
    return uow.now() + timedelta(seconds=settings.assignment_timeout_s)


async def has_open_requests(uow: UnitOfWork, job_id: int) -> bool:
    return any(
        r.status in (RequestStatus.PENDING, RequestStatus.ACCEPTED)
        for r in await uow.requests_of_job(job_id)
    )


def result_of(
    outcome: Outcome, request: RequestView, status: RequestStatus | None = None
) -> RespondResult:
    return RespondResult(
        outcome, request.id, request.job_id, request.booking_id, status or request.status
    )


async def record_response(
    uow: UnitOfWork,
    request: RequestView,
    action: HistoryAction,
    actor: Actor,
    channel: Channel,
    to_status: RequestStatus,
    details: dict[str, object] | None = None,
) -> None:
    await uow.add_history(
        request.booking_id,
        action,
        actor,
        job_id=request.job_id,
        request_id=request.id,
        on_behalf_of=on_behalf_of(actor, request.fieldworker_id),
        from_status=request.status,
        to_status=to_status,
        channel=channel,
        details={"fieldworker_id": request.fieldworker_id, **(details or {})},
    )


async def reopen_request(
    uow: UnitOfWork,
    request: RequestView,
    job: JobView,
    actor: Actor,
    channel: Channel,
    *,
    history: HistoryAction,
) -> None:
    """Put a request back to pending and ask the fieldworker again (the job is already locked)."""
    expires_at = await request_deadline(uow)
    if not await uow.move_request(
        request.id,
        [request.status],
        RequestStatus.PENDING,
        actor=actor,
        channel=channel,
        expires_at=expires_at,
    ):
        raise RetryCommand()
    await timers.arm(uow, TimerKind.NUDGE, request.id, request.booking_id, uow.now())
    await record_response(uow, request, history, actor, channel, RequestStatus.PENDING)
    if job.status is JobStatus.ASSIGNED and job.fieldworker_id == request.fieldworker_id:
        await unassign_job(uow, job, actor, channel, to=JobStatus.OFFERED)
    elif job.status in (JobStatus.UNASSIGNED, JobStatus.MISSED):
        await uow.move_job(job.id, [job.status], JobStatus.OFFERED, fieldworker_id=None)
    uow.emit(RequestPended(job.booking_id, request.id, job.id, request.fieldworker_id, actor))


async def unassign_job(
    uow: UnitOfWork,
    job: JobView,
    actor: Actor,
    channel: Channel,
    to: JobStatus = JobStatus.UNASSIGNED,
) -> None:
    fw = await leave_assigned(uow, job, to, HistoryAction.JOB_UNASSIGNED, actor, channel)
    uow.emit(JobUnassigned(job.booking_id, job.id, fw, actor))


async def leave_assigned(
    uow: UnitOfWork,
    job: JobView,
    to: JobStatus,
    action: HistoryAction,
    actor: Actor,
    channel: Channel,
    *,
    on_behalf: bool = True,
    details: Mapping[str, object] | None = None,
) -> int:
    """Move an assigned job on (unassigned, offered, missed, completed) and record it.

    The one compare-and-set on the job and its fieldworker every such move makes: when either
    changed meanwhile the command is retried on fresh rows. A completed job keeps its fieldworker.
    Returns the fieldworker it was assigned to.
    """
    fieldworker_id = job.fieldworker_id
    assert fieldworker_id is not None
    keep = to is JobStatus.COMPLETED
    if not await uow.move_job(
        job.id,
        [JobStatus.ASSIGNED],
        to,
        fieldworker_id=fieldworker_id if keep else None,
        expect_fieldworker_id=fieldworker_id,
        check_fieldworker=True,
    ):
        raise RetryCommand()
    await uow.add_history(
        job.booking_id,
        action,
        actor,
        job_id=job.id,
        on_behalf_of=on_behalf_of(actor, fieldworker_id) if on_behalf else None,
        from_status=JobStatus.ASSIGNED,
        to_status=to,
        channel=channel,
        details={"fieldworker_id": fieldworker_id, **(details or {})},
    )
    return fieldworker_id


async def close_request(
    uow: UnitOfWork,
    request: RequestView,
    to: RequestStatus,
    actor: Actor,
    channel: Channel,
    *,
    from_statuses: Sequence[RequestStatus] | None = None,
    reason: str | None = None,
    because: WithdrawnBecause | None = None,
    no_longer_attending: bool = False,
) -> bool:
    """Close a request (declined, withdrawn or expired): move it, record it, announce it.

    The one sequence every command uses to close a request. Returns False when the request had
    already moved on (nothing recorded); the caller decides whether that means retry.
    `no_longer_attending`: the fieldworker who held the job declines it (`RequestDeclined` says so).
    """
    if not await uow.move_request(
        request.id,
        list(from_statuses or [request.status]),
        to,
        actor=actor,
        channel=channel,
        reason=reason,
    ):
        return False
    fw = request.fieldworker_id
    if to is RequestStatus.DECLINED:
        await record_response(
            uow, request, HistoryAction.REQUEST_DECLINED, actor, channel, to, {"reason": reason}
        )
        uow.emit(
            RequestDeclined(
                request.booking_id,
                request.id,
                request.job_id,
                fw,
                reason,
                actor,
                channel,
                no_longer_attending=no_longer_attending,
            )
        )
        return True
    expired = to is RequestStatus.EXPIRED
    because = WithdrawnBecause.EXPIRED if expired else because
    assert because is not None, "a withdrawal says why"
    details: dict[str, object] = {"fieldworker_id": fw}
    if not expired:
        details["because"] = because.value
    await uow.add_history(
        request.booking_id,
        HistoryAction.REQUEST_EXPIRED if expired else HistoryAction.REQUEST_WITHDRAWN,
        actor,
        job_id=request.job_id,
        request_id=request.id,
        from_status=request.status,
        to_status=to,
        channel=channel,
        details=details,
    )
    uow.emit(RequestWithdrawn(request.booking_id, request.id, request.job_id, fw, because))
    return True


async def withdraw_others(
    uow: UnitOfWork,
    job_id: int,
    *,
    keep: int | None,
    because: WithdrawnBecause,
    actor: Actor,
    statuses: Sequence[RequestStatus] = (RequestStatus.PENDING, RequestStatus.ACCEPTED),
) -> None:
    for other in await uow.requests_of_job(job_id):
        if other.id == keep or other.status not in statuses:
            continue
        await close_request(
            uow, other, RequestStatus.WITHDRAWN, actor, Channel.SYSTEM, because=because
        )


class JobScope(StrEnum):
    """Which of a booking's jobs a command means when it names none."""

    ALL = "all"  # every job (answering on a fieldworker's behalf: all of theirs)
    OPEN = "open"  # still to be offered or taken: unassigned, offered, missed (sending requests)
    NOT_CLOSED = "not_closed"  # every job not cancelled or completed (assigning)
    ASSIGNED = "assigned"  # assigned to a fieldworker (completing)


_IN_SCOPE = {
    JobScope.ALL: frozenset(JobStatus),
    JobScope.OPEN: frozenset(OPEN_JOB_STATUSES),
    JobScope.NOT_CLOSED: frozenset(JobStatus) - {JobStatus.CANCELLED, JobStatus.COMPLETED},
    JobScope.ASSIGNED: frozenset({JobStatus.ASSIGNED}),
}


async def jobs_meant(
    uow: UnitOfWork, booking_id: int, job_ids: Sequence[int] | None, default: JobScope
) -> list[JobView]:
    """The jobs a command means: the listed ones, in order, or the booking's jobs in `default`.

    The one rule every adapter relies on for "which jobs" (REST `job_ids`, admin `JOB...`). A listed
    job outside the booking is refused (`job_not_found`). The answer may be empty: the caller says
    what that means for it.
    """
    jobs = {j.id: j for j in await uow.jobs_of_booking(booking_id)}
    if not job_ids:
        return [j for j in jobs.values() if j.status in _IN_SCOPE[default]]
    for i, job_id in enumerate(job_ids):
        if job_id not in jobs:
            raise NotFound(
                "job_not_found",
                f"job {job_id} is not part of booking {booking_id}",
                field=f"job_ids.{i}",
            )
    return [jobs[j] for j in job_ids]
