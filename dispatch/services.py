"""The dispatch rules: one function per command, `load -> decide -> store -> events`.

Each function runs inside one `UnitOfWork` (one transaction) given by the caller and returns an
outcome the adapter turns into an answer. Nothing here formats text or does I/O of its own.

Concurrency: first-to-accept is decided by one conditional UPDATE on the job
(`move_job(..., from_statuses=OPEN_JOB_STATUSES, to=ASSIGNED)`), whose row count says who won. Every
other command takes the job's row first (`lock_job`) before touching its requests, so processes take
locks in one order and nobody checks-then-writes on a row somebody else may hold.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from dispatch.eligibility import evaluate
from dispatch.events import (
    AssignmentTimedOut,
    BookingCancelled,
    BookingCreated,
    FieldworkerCancelled,
    JobAssigned,
    JobCancelled,
    JobNobodyToAsk,
    JobUnassigned,
    RequestAccepted,
    RequestDeclined,
    RequestPended,
    RequestRejectedLate,
    RequestSent,
    RequestWithdrawn,
    WithdrawnBecause,
)
from dispatch.model import (
    OPEN_JOB_STATUSES,
    Actor,
    ActorKind,
    BookingStatus,
    Channel,
    DispatchMode,
    EligibilityResult,
    HistoryAction,
    JobSpec,
    JobStatus,
    RequestStatus,
)
from dispatch.ports import BookingView, JobView, NewBooking, RequestView, UnitOfWork


class DispatchError(Exception):
    """A command that cannot be carried out; `code` is the API error code, nothing was changed."""

    def __init__(self, code: str, message: str, *, status: int = 409, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.field = field


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


@dataclass(frozen=True)
class RespondResult:
    """The outcome of one response to one request."""

    outcome: Outcome
    request_id: int | None = None
    job_id: int | None = None
    booking_id: int | None = None
    status: RequestStatus | None = None


@dataclass
class SendResult:
    """What `send_requests` did, job by job."""

    sent: list[int] = field(default_factory=list)  # new or re-sent request ids
    skipped: dict[int, str] = field(default_factory=dict)  # fieldworker id -> why not


def _responded_by(actor: Actor, fieldworker_id: int) -> int | None:
    """`on_behalf_of` for history: set when someone other than the fieldworker answered."""
    return fieldworker_id if actor.kind is not ActorKind.FIELDWORKER else None


def _job_spec(job: JobView, booking: BookingView) -> JobSpec:
    return JobSpec(
        job_id=job.id,
        service_code=job.service_code,
        location=booking.location,
        appointment=job.appointment,
        required_skills=booking.required_skills,
        custom_fields=booking.custom_fields,
    )


async def _load_job(uow: UnitOfWork, job_id: int, *, lock: bool) -> tuple[JobView, BookingView]:
    job = await (uow.lock_job(job_id) if lock else uow.get_job(job_id))
    if job is None:
        raise DispatchError("job_not_found", f"job {job_id} does not exist", status=404)
    booking = await uow.get_booking(job.booking_id)
    assert booking is not None  # a job always has its booking (foreign key)
    return job, booking


async def eligibility(uow: UnitOfWork, job_id: int) -> EligibilityResult:
    """Eligible fieldworkers for a job, nearest first, and the excluded ones with their reasons."""
    job, booking = await _load_job(uow, job_id, lock=False)
    settings = await uow.settings()
    skills = await uow.service_skills(job.service_code) or frozenset()
    return evaluate(
        _job_spec(job, booking),
        await uow.candidates(job),
        travel_radius_km=settings.travel_radius_km,
        required_services_skills=skills,
    )


async def create_booking(
    uow: UnitOfWork,
    new: NewBooking,
    actor: Actor,
    channel: Channel,
    *,
    fieldworker_id: int | None = None,
) -> int:
    """Create a booking with one job per (appointment, service) and start dispatching it.

    With `fieldworker_id` every job is assigned to that fieldworker at once (both modes; staff
    chose, so eligibility is not enforced). Otherwise, in `auto` mode every eligible fieldworker is
    asked at once; in `manual` mode nothing is sent until staff send requests.
    """
    for code in new.services:
        if await uow.service_skills(code) is None:
            raise DispatchError(
                "unknown_service", f"no service with code {code!r}", status=422, field="services"
            )
    if fieldworker_id is not None and not await uow.fieldworker_exists(fieldworker_id):
        raise DispatchError(
            "fieldworker_not_found",
            f"fieldworker {fieldworker_id} does not exist",
            status=422,
            field="fieldworker_id",
        )
    booking_id, job_ids = await uow.insert_booking(new)
    await uow.add_history(
        booking_id,
        HistoryAction.BOOKING_CREATED,
        actor,
        channel=channel,
        to_status=BookingStatus.OPEN,
        details={"jobs": job_ids, "dispatch_mode": new.dispatch_mode.value},
    )
    uow.emit(BookingCreated(booking_id))
    for job_id in job_ids:
        if fieldworker_id is not None:
            await assign(uow, job_id, fieldworker_id, actor, channel, force=True)
        elif new.dispatch_mode is DispatchMode.AUTO:
            await dispatch_job(uow, job_id, actor, channel)
    return booking_id


async def dispatch_job(
    uow: UnitOfWork,
    job_id: int,
    actor: Actor,
    channel: Channel,
    *,
    exclude: Collection[int] = (),
) -> list[int]:
    """Ask every eligible, reachable fieldworker not yet asked for this job; returns request ids.

    Nobody is asked twice for the same job: a fieldworker with any request for it (answered,
    withdrawn or expired) is skipped; only staff can ask them again (`respond(..., pend)` or
    `send_requests`). `exclude` names others never to ask now (the fieldworker a job was just
    taken from).
    """
    job, _booking = await _load_job(uow, job_id, lock=True)
    if job.status not in OPEN_JOB_STATUSES:
        return []
    result = await eligibility(uow, job_id)
    asked = {r.fieldworker_id for r in await uow.requests_of_job(job_id)} | set(exclude)
    fresh = [fw for fw in result.eligible_ids() if fw not in asked]
    reachable = await uow.reachable_fieldworkers(fresh)
    to_ask = [fw for fw in fresh if fw in reachable]
    sent = await _send(uow, job, to_ask, actor, channel)
    if not sent and not await _has_open_requests(uow, job_id):
        uow.emit(JobNobodyToAsk(job.booking_id, job_id))
    return sent


async def send_requests(
    uow: UnitOfWork,
    job_ids: Sequence[int],
    fieldworker_ids: Sequence[int],
    actor: Actor,
    channel: Channel,
) -> SendResult:
    """Staff ask chosen fieldworkers to take chosen jobs (manual dispatch, or extra asks in auto).

    A fieldworker already holding a pending or accepted request for a job is not asked again; one
    whose earlier request was declined, expired or withdrawn is asked again (staff chose them).
    Unreachable fieldworkers (no linked channel) are reported, not asked.
    """
    result = SendResult()
    # Every check before the first write: a refusal changes nothing, even without a rollback.
    for fw in fieldworker_ids:
        if not await uow.fieldworker_exists(fw):
            raise DispatchError(
                "fieldworker_not_found",
                f"fieldworker {fw} does not exist",
                status=404,
                field="fieldworker_ids",
            )
    jobs: list[JobView] = []
    for job_id in job_ids:
        job, _ = await _load_job(uow, job_id, lock=True)
        if job.status not in OPEN_JOB_STATUSES:
            raise DispatchError("job_not_open", f"job {job_id} is {job.status.value}")
        jobs.append(job)
    reachable = await uow.reachable_fieldworkers(fieldworker_ids)
    for job in jobs:
        job_id = job.id
        ask: list[int] = []
        for fw in fieldworker_ids:
            if fw not in reachable:
                result.skipped[fw] = "unreachable"
                continue
            existing = await uow.find_request(job_id, fw)
            if existing and existing.status in (RequestStatus.PENDING, RequestStatus.ACCEPTED):
                result.skipped[fw] = f"already_{existing.status.value}"
                continue
            if existing:
                await _pend(uow, existing, job, actor, channel, history=HistoryAction.REQUEST_SENT)
                result.sent.append(existing.id)
            else:
                ask.append(fw)
        result.sent.extend(await _send(uow, job, ask, actor, channel))
    return result


async def _send(
    uow: UnitOfWork, job: JobView, fieldworker_ids: Iterable[int], actor: Actor, channel: Channel
) -> list[int]:
    expires_at = await _request_deadline(uow)
    sent: list[int] = []
    for fw in fieldworker_ids:
        request = await uow.create_request(job.id, job.booking_id, fw, expires_at)
        await uow.add_history(
            job.booking_id,
            HistoryAction.REQUEST_SENT,
            actor,
            job_id=job.id,
            request_id=request.id,
            to_status=RequestStatus.PENDING,
            channel=channel,
            details={"fieldworker_id": fw},
        )
        uow.emit(RequestSent(job.booking_id, request.id, job.id, fw))
        sent.append(request.id)
    if sent and job.status is JobStatus.UNASSIGNED:
        await uow.move_job(job.id, [JobStatus.UNASSIGNED], JobStatus.OFFERED, fieldworker_id=None)
    return sent


async def _request_deadline(uow: UnitOfWork) -> datetime | None:
    """When a request sent now expires unanswered (`assignment_timeout_s`; 0: never)."""
    settings = await uow.settings()
    if not settings.assignment_timeout_s:
        return None
    return uow.now() + timedelta(seconds=settings.assignment_timeout_s)


async def _has_open_requests(uow: UnitOfWork, job_id: int) -> bool:
    return any(
        r.status in (RequestStatus.PENDING, RequestStatus.ACCEPTED)
        for r in await uow.requests_of_job(job_id)
    )


async def respond(
    uow: UnitOfWork,
    request_id: int,
    action: str,
    actor: Actor,
    channel: Channel,
    *,
    reason: str | None = None,
) -> RespondResult:
    """A fieldworker's answer to one request, or staff answering on their behalf.

    `action` is `accept`, `decline` or `pend` (staff only: back to pending, asked again).
    """
    request = await uow.get_request(request_id)
    if request is None:
        return RespondResult(Outcome.NOT_FOUND, request_id)
    if action == "accept":
        return await _accept(uow, request, actor, channel)
    if action == "decline":
        return await _decline(uow, request, actor, channel, reason)
    if action == "pend":
        if actor.kind is ActorKind.FIELDWORKER:
            raise DispatchError(
                "forbidden", "only staff can return a request to pending", status=403
            )
        job, _ = await _load_job(uow, request.job_id, lock=True)
        fresh = await uow.get_request(request_id)
        assert fresh is not None
        if job.status in (JobStatus.CANCELLED, JobStatus.COMPLETED):
            return _result(Outcome.JOB_CLOSED, fresh)
        if fresh.status is RequestStatus.PENDING:
            return _result(Outcome.PENDED, fresh)
        await _pend(uow, fresh, job, actor, channel, history=HistoryAction.REQUEST_PENDED)
        return _result(Outcome.PENDED, fresh, RequestStatus.PENDING)
    raise DispatchError("invalid_action", f"unknown action {action!r}", status=422, field="action")


def _result(
    outcome: Outcome, request: RequestView, status: RequestStatus | None = None
) -> RespondResult:
    return RespondResult(
        outcome, request.id, request.job_id, request.booking_id, status or request.status
    )


async def _accept(
    uow: UnitOfWork, request: RequestView, actor: Actor, channel: Channel
) -> RespondResult:
    job = await uow.get_job(request.job_id)
    assert job is not None
    booking = await uow.get_booking(job.booking_id)
    assert booking is not None
    if request.status is not RequestStatus.PENDING:
        if request.status is RequestStatus.ACCEPTED:
            return _result(Outcome.ALREADY_ACCEPTED, request)
        if request.status is RequestStatus.WITHDRAWN and job.status is JobStatus.ASSIGNED:
            return _result(Outcome.TAKEN, request)
        return _result(Outcome.CLOSED, request)
    if job.status in (JobStatus.CANCELLED, JobStatus.COMPLETED):
        return _result(Outcome.JOB_CLOSED, request)

    fw = request.fieldworker_id
    if booking.dispatch_mode is DispatchMode.AUTO:
        # The one conditional UPDATE that decides the race; it also takes the job's row lock.
        won = await uow.move_job(job.id, OPEN_JOB_STATUSES, JobStatus.ASSIGNED, fieldworker_id=fw)
        if not won:
            uow.emit(RequestRejectedLate(job.booking_id, request.id, job.id, fw))
            return _result(Outcome.TAKEN, request)
        if not await uow.move_request(
            request.id,
            [RequestStatus.PENDING],
            RequestStatus.ACCEPTED,
            actor=actor,
            channel=channel,
        ):
            # Closed between our read and our lock (expired by the scheduler): undo the job move.
            raise _Retry()
        await _history_response(
            uow, request, HistoryAction.REQUEST_ACCEPTED, actor, channel, RequestStatus.ACCEPTED
        )
        await uow.add_history(
            job.booking_id,
            HistoryAction.JOB_ASSIGNED,
            actor,
            job_id=job.id,
            request_id=request.id,
            on_behalf_of=_responded_by(actor, fw),
            from_status=job.status,
            to_status=JobStatus.ASSIGNED,
            channel=channel,
            details={"fieldworker_id": fw},
        )
        uow.emit(RequestAccepted(job.booking_id, request.id, job.id, fw, actor, channel, True))
        uow.emit(
            JobAssigned(
                job.booking_id,
                job.id,
                fw,
                None,
                actor,
                via_accept=True,
            )
        )
        await _withdraw_others(
            uow, job.id, keep=request.id, because=WithdrawnBecause.TAKEN, actor=Actor.system()
        )
        return _result(Outcome.ASSIGNED, request, RequestStatus.ACCEPTED)

    # Manual mode: acceptances are collected; staff confirm one with `assign`.
    job = await uow.lock_job(job.id)
    assert job is not None
    if job.status not in OPEN_JOB_STATUSES:
        return _result(
            Outcome.TAKEN if job.status is JobStatus.ASSIGNED else Outcome.JOB_CLOSED, request
        )
    if not await uow.move_request(
        request.id, [RequestStatus.PENDING], RequestStatus.ACCEPTED, actor=actor, channel=channel
    ):
        return _result(Outcome.CLOSED, request)
    await _history_response(
        uow, request, HistoryAction.REQUEST_ACCEPTED, actor, channel, RequestStatus.ACCEPTED
    )
    uow.emit(RequestAccepted(job.booking_id, request.id, job.id, fw, actor, channel, False))
    return _result(Outcome.ACCEPTED, request, RequestStatus.ACCEPTED)


class _Retry(Exception):
    """Raised to roll the transaction back and run the command again on fresh rows."""


#: Raised by commands when a concurrent change was detected mid-transaction; safe to retry.
RetryCommand = _Retry


async def _decline(
    uow: UnitOfWork, request: RequestView, actor: Actor, channel: Channel, reason: str | None
) -> RespondResult:
    settings = await uow.settings()
    reason = (reason or "").strip() or None
    job, booking = await _load_job(uow, request.job_id, lock=True)
    fresh = await uow.get_request(request.id)
    assert fresh is not None
    on_behalf = actor.kind is not ActorKind.FIELDWORKER
    # A fieldworker declines an open request; staff may also decline an accepted one for them.
    allowed = [RequestStatus.PENDING] + ([RequestStatus.ACCEPTED] if on_behalf else [])
    if fresh.status not in allowed:
        if fresh.status is RequestStatus.WITHDRAWN and job.status is JobStatus.ASSIGNED:
            return _result(Outcome.TAKEN, fresh)
        return _result(Outcome.CLOSED, fresh)
    if reason is None and (settings.decline_reason_required or on_behalf):
        return _result(Outcome.REASON_REQUIRED, fresh)
    if not await uow.move_request(
        fresh.id, allowed, RequestStatus.DECLINED, actor=actor, channel=channel, reason=reason
    ):
        raise _Retry()
    await _history_response(
        uow,
        fresh,
        HistoryAction.REQUEST_DECLINED,
        actor,
        channel,
        RequestStatus.DECLINED,
        details={"reason": reason},
    )
    uow.emit(
        RequestDeclined(
            job.booking_id, fresh.id, job.id, fresh.fieldworker_id, reason, actor, channel
        )
    )
    if job.status is JobStatus.ASSIGNED and job.fieldworker_id == fresh.fieldworker_id:
        await _unassign(uow, job, actor, channel)
        if booking.dispatch_mode is DispatchMode.AUTO and settings.auto_rebroadcast_on_cancel:
            await _redispatch(uow, job.id, fresh.fieldworker_id, actor, channel)
    elif job.status is JobStatus.OFFERED and not await _has_open_requests(uow, job.id):
        await uow.move_job(job.id, [JobStatus.OFFERED], JobStatus.UNASSIGNED, fieldworker_id=None)
        uow.emit(JobNobodyToAsk(job.booking_id, job.id))
    return _result(Outcome.DECLINED, fresh, RequestStatus.DECLINED)


async def _history_response(
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
        on_behalf_of=_responded_by(actor, request.fieldworker_id),
        from_status=request.status,
        to_status=to_status,
        channel=channel,
        details={"fieldworker_id": request.fieldworker_id, **(details or {})},
    )


async def _pend(
    uow: UnitOfWork,
    request: RequestView,
    job: JobView,
    actor: Actor,
    channel: Channel,
    *,
    history: HistoryAction,
) -> None:
    """Put a request back to pending and ask the fieldworker again (the job is already locked)."""
    expires_at = await _request_deadline(uow)
    if not await uow.move_request(
        request.id,
        [request.status],
        RequestStatus.PENDING,
        actor=actor,
        channel=channel,
        expires_at=expires_at,
    ):
        raise _Retry()
    await _history_response(uow, request, history, actor, channel, RequestStatus.PENDING)
    if job.status is JobStatus.ASSIGNED and job.fieldworker_id == request.fieldworker_id:
        await _unassign(uow, job, actor, channel, to=JobStatus.OFFERED)
    elif job.status is JobStatus.UNASSIGNED:
        await uow.move_job(job.id, [JobStatus.UNASSIGNED], JobStatus.OFFERED, fieldworker_id=None)
    uow.emit(RequestPended(job.booking_id, request.id, job.id, request.fieldworker_id, actor))


async def _unassign(
    uow: UnitOfWork,
    job: JobView,
    actor: Actor,
    channel: Channel,
    to: JobStatus = JobStatus.UNASSIGNED,
) -> None:
    assert job.fieldworker_id is not None
    if not await uow.move_job(
        job.id,
        [JobStatus.ASSIGNED],
        to,
        fieldworker_id=None,
        expect_fieldworker_id=job.fieldworker_id,
        check_fieldworker=True,
    ):
        raise _Retry()
    await uow.add_history(
        job.booking_id,
        HistoryAction.JOB_UNASSIGNED,
        actor,
        job_id=job.id,
        on_behalf_of=job.fieldworker_id if actor.kind is not ActorKind.FIELDWORKER else None,
        from_status=JobStatus.ASSIGNED,
        to_status=to,
        channel=channel,
        details={"fieldworker_id": job.fieldworker_id},
    )
    uow.emit(JobUnassigned(job.booking_id, job.id, job.fieldworker_id, actor))


async def _withdraw_others(
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
        if await uow.move_request(
            other.id, [other.status], RequestStatus.WITHDRAWN, actor=actor, channel=Channel.SYSTEM
        ):
            await uow.add_history(
                other.booking_id,
                HistoryAction.REQUEST_WITHDRAWN,
                actor,
                job_id=job_id,
                request_id=other.id,
                from_status=other.status,
                to_status=RequestStatus.WITHDRAWN,
                channel=Channel.SYSTEM,
                details={"fieldworker_id": other.fieldworker_id, "because": because.value},
            )
            uow.emit(
                RequestWithdrawn(other.booking_id, other.id, job_id, other.fieldworker_id, because)
            )


async def assign(
    uow: UnitOfWork,
    job_id: int,
    fieldworker_id: int,
    actor: Actor,
    channel: Channel,
    *,
    force: bool = False,
) -> bool:
    """Give a job to a fieldworker (assign, confirm an acceptor, or reassign).

    Without `force`, an ineligible fieldworker is refused with `not_eligible` and the reasons. Every
    other open request for the job is closed: acceptors are told they were not selected. Returns
    False when the job already belonged to that fieldworker (nothing changed).
    """
    if not await uow.fieldworker_exists(fieldworker_id):
        raise DispatchError(
            "fieldworker_not_found",
            f"fieldworker {fieldworker_id} does not exist",
            status=404,
            field="fieldworker_id",
        )
    job, booking = await _load_job(uow, job_id, lock=True)
    if job.status in (JobStatus.CANCELLED, JobStatus.COMPLETED):
        raise DispatchError("job_not_open", f"job {job_id} is {job.status.value}")
    if job.status is JobStatus.ASSIGNED and job.fieldworker_id == fieldworker_id:
        return False
    if not force:
        result = await eligibility(uow, job_id)
        excluded = {e.fieldworker_id: e.reasons for e in result.excluded}
        if fieldworker_id in excluded:
            reasons = [r.value for r in excluded[fieldworker_id]]
            raise DispatchError(
                "not_eligible",
                f"fieldworker {fieldworker_id} is not eligible for job {job_id}: "
                + ", ".join(reasons)
                + " (use force to assign anyway)",
                field="fieldworker_id",
            )
    previous = job.fieldworker_id if job.status is JobStatus.ASSIGNED else None
    if not await uow.move_job(
        job.id,
        [job.status],
        JobStatus.ASSIGNED,
        fieldworker_id=fieldworker_id,
        expect_fieldworker_id=job.fieldworker_id,
        check_fieldworker=True,
    ):
        raise _Retry()
    await uow.add_history(
        job.booking_id,
        HistoryAction.JOB_REASSIGNED if previous else HistoryAction.JOB_ASSIGNED,
        actor,
        job_id=job.id,
        from_status=job.status,
        to_status=JobStatus.ASSIGNED,
        channel=channel,
        details={
            "fieldworker_id": fieldworker_id,
            "previous_fieldworker_id": previous,
            "forced": force,
        },
    )
    mine = await uow.find_request(job_id, fieldworker_id)
    if mine and mine.status is not RequestStatus.ACCEPTED:
        # Their request (pending, or closed earlier) now says what happened: accepted for them.
        await uow.move_request(
            mine.id, [mine.status], RequestStatus.ACCEPTED, actor=actor, channel=channel
        )
        await _history_response(
            uow, mine, HistoryAction.REQUEST_ACCEPTED, actor, channel, RequestStatus.ACCEPTED
        )
    uow.emit(
        JobAssigned(
            job.booking_id,
            job.id,
            fieldworker_id,
            previous,
            actor,
            via_accept=False,
            request_id=mine.id if mine else None,
        )
    )
    because = (
        WithdrawnBecause.NOT_SELECTED
        if booking.dispatch_mode is DispatchMode.MANUAL
        else WithdrawnBecause.ASSIGNED_BY_STAFF
    )
    await _withdraw_others(
        uow, job_id, keep=mine.id if mine else None, because=because, actor=actor
    )
    return True


async def cancel_booking(uow: UnitOfWork, booking_id: int, actor: Actor, channel: Channel) -> bool:
    """Cancel a booking and its open jobs; returns False when it was already cancelled."""
    booking = await uow.get_booking(booking_id)
    if booking is None:
        raise DispatchError("booking_not_found", f"booking {booking_id} does not exist", status=404)
    if booking.status is BookingStatus.CANCELLED:
        return False
    if booking.status is BookingStatus.COMPLETED:
        raise DispatchError("booking_not_open", f"booking {booking_id} is completed")
    for job in await uow.jobs_of_booking(booking_id):
        locked = await uow.lock_job(job.id)
        assert locked is not None
        if locked.status in (JobStatus.COMPLETED, JobStatus.CANCELLED):
            continue
        if locked.status is JobStatus.ASSIGNED and locked.fieldworker_id is not None:
            mine = await uow.find_request(locked.id, locked.fieldworker_id)
            if mine is None or mine.status is not RequestStatus.ACCEPTED:
                # Assigned directly (no request to withdraw): tell them all the same.
                uow.emit(JobCancelled(booking_id, locked.id, locked.fieldworker_id))
        await uow.move_job(
            locked.id, [locked.status], JobStatus.CANCELLED, fieldworker_id=locked.fieldworker_id
        )
        await _withdraw_others(
            uow, job.id, keep=None, because=WithdrawnBecause.CANCELLED, actor=actor
        )
    await uow.set_booking_status(booking_id, BookingStatus.CANCELLED)
    await uow.add_history(
        booking_id,
        HistoryAction.BOOKING_CANCELLED,
        actor,
        from_status=booking.status,
        to_status=BookingStatus.CANCELLED,
        channel=channel,
    )
    uow.emit(BookingCancelled(booking_id))
    return True


async def rebroadcast(
    uow: UnitOfWork, booking_id: int, actor: Actor, channel: Channel
) -> list[int]:
    """Ask eligible fieldworkers not yet asked, for every open job of the booking."""
    booking = await uow.get_booking(booking_id)
    if booking is None:
        raise DispatchError("booking_not_found", f"booking {booking_id} does not exist", status=404)
    if booking.status is not BookingStatus.OPEN:
        raise DispatchError("booking_not_open", f"booking {booking_id} is {booking.status.value}")
    sent: list[int] = []
    for job in await uow.jobs_of_booking(booking_id):
        if job.status in OPEN_JOB_STATUSES:
            sent.extend(await dispatch_job(uow, job.id, actor, channel))
    return sent


async def expire_request(uow: UnitOfWork, request_id: int) -> bool:
    """The assignment timeout passed: close a pending request; True when this call expired it."""
    request = await uow.get_request(request_id)
    if request is None or request.status is not RequestStatus.PENDING:
        return False
    job, _ = await _load_job(uow, request.job_id, lock=True)
    if not await uow.move_request(
        request.id,
        [RequestStatus.PENDING],
        RequestStatus.EXPIRED,
        actor=Actor.system(),
        channel=Channel.SYSTEM,
    ):
        return False
    await uow.add_history(
        request.booking_id,
        HistoryAction.REQUEST_EXPIRED,
        Actor.system(),
        job_id=job.id,
        request_id=request.id,
        from_status=RequestStatus.PENDING,
        to_status=RequestStatus.EXPIRED,
        channel=Channel.SYSTEM,
        details={"fieldworker_id": request.fieldworker_id},
    )
    uow.emit(
        RequestWithdrawn(
            request.booking_id, request.id, job.id, request.fieldworker_id, WithdrawnBecause.EXPIRED
        )
    )
    if job.status is JobStatus.OFFERED and not await _has_open_requests(uow, job.id):
        # The last open request timed out: nobody took the job in time. Staff decide what next.
        await uow.move_job(job.id, [JobStatus.OFFERED], JobStatus.UNASSIGNED, fieldworker_id=None)
        asked = await uow.requests_of_job(job.id)
        await uow.add_history(
            job.booking_id,
            HistoryAction.TIMEOUT_ALERTED,
            Actor.system(),
            job_id=job.id,
            from_status=JobStatus.OFFERED,
            to_status=JobStatus.UNASSIGNED,
            channel=Channel.SYSTEM,
            details={"asked": len(asked)},
        )
        uow.emit(AssignmentTimedOut(job.booking_id, job.id, asked=len(asked)))
    return True


async def unassign(
    uow: UnitOfWork,
    job_id: int,
    actor: Actor,
    channel: Channel,
    *,
    reason: str | None,
    expect_fieldworker_id: int | None = None,
    redispatch: bool = True,
) -> list[int] | None:
    """Staff take an assigned job off its fieldworker (reassignment, a worker off sick).

    The fieldworker's open or accepted request is declined on their behalf with `reason`; a job
    they were assigned directly only moves. The job is open again; with `redispatch` in `auto`
    mode it is offered to eligible fieldworkers not yet asked, never back to the one it was taken
    from; in `manual` mode it waits for staff. Returns the ids of requests sent, or None when the
    job was not assigned (to `expect_fieldworker_id`, when given) and nothing changed.
    """
    job, booking = await _load_job(uow, job_id, lock=True)
    previous = job.fieldworker_id
    if job.status is not JobStatus.ASSIGNED or previous is None:
        return None
    if expect_fieldworker_id is not None and previous != expect_fieldworker_id:
        return None
    mine = await uow.find_request(job_id, previous)
    if mine is not None and mine.status in (RequestStatus.PENDING, RequestStatus.ACCEPTED):
        if not await uow.move_request(
            mine.id,
            [mine.status],
            RequestStatus.DECLINED,
            actor=actor,
            channel=channel,
            reason=reason,
        ):
            raise _Retry()
        await _history_response(
            uow,
            mine,
            HistoryAction.REQUEST_DECLINED,
            actor,
            channel,
            RequestStatus.DECLINED,
            details={"reason": reason},
        )
        uow.emit(RequestDeclined(job.booking_id, mine.id, job.id, previous, reason, actor, channel))
    await _unassign(uow, job, actor, channel)
    if redispatch and booking.dispatch_mode is DispatchMode.AUTO:
        return await _redispatch(uow, job_id, previous, actor, channel)
    return []


async def assigned_job_ids(
    uow: UnitOfWork, fieldworker_id: int, start: datetime, end: datetime
) -> list[int]:
    """The fieldworker's assigned jobs whose appointment starts in [start, end), soonest first."""
    return await uow.assigned_job_ids(fieldworker_id, start, end)


async def respond_for_fieldworker(
    uow: UnitOfWork,
    booking_id: int,
    fieldworker_id: int,
    action: str,
    actor: Actor,
    channel: Channel,
    *,
    job_ids: Sequence[int] | None = None,
    reason: str | None = None,
) -> list[RespondResult]:
    """Answer on a fieldworker's behalf: all their requests in the booking, or those for `job_ids`.

    Everything is checked before the first write: a job outside the booking, a job they hold no
    request for, or a decline without a reason is refused and nothing changes.
    """
    if action not in ("accept", "decline", "pend"):
        raise DispatchError(
            "invalid_action", f"unknown action {action!r}", status=422, field="action"
        )
    if action == "decline" and not (reason or "").strip():
        raise DispatchError(
            "reason_required",
            "a decline on a fieldworker's behalf needs a reason",
            status=422,
            field="reason",
        )
    requests: list[RequestView] = []
    for job_id in [j.id for j in await _booking_jobs(uow, booking_id, job_ids)]:
        found = await uow.find_request(job_id, fieldworker_id)
        if found is not None:
            requests.append(found)
        elif job_ids:
            raise DispatchError(
                "request_not_found",
                f"fieldworker {fieldworker_id} has no request for job {job_id}",
                status=404,
                field="job_ids",
            )
    if not requests:
        raise DispatchError(
            "request_not_found",
            f"fieldworker {fieldworker_id} has no request in booking {booking_id}",
            status=404,
            field="fieldworker_id",
        )
    return [await respond(uow, r.id, action, actor, channel, reason=reason) for r in requests]


async def assign_booking(
    uow: UnitOfWork,
    booking_id: int,
    fieldworker_id: int,
    actor: Actor,
    channel: Channel,
    *,
    job_ids: Sequence[int] | None = None,
    force: bool = False,
) -> list[tuple[int, bool]]:
    """`assign` for the listed jobs, or every job of the booking not cancelled or completed.

    Returns `(job id, changed)` pairs. Without `force`, an ineligible fieldworker for any job
    refuses the whole call (`not_eligible`, nothing kept: the caller's transaction rolls back).
    """
    booking = await uow.get_booking(booking_id)
    if booking is None:
        raise DispatchError("booking_not_found", f"booking {booking_id} does not exist", status=404)
    if booking.status is not BookingStatus.OPEN:
        raise DispatchError("booking_not_open", f"booking {booking_id} is {booking.status.value}")
    chosen = await _booking_jobs(uow, booking_id, job_ids)
    if not job_ids:
        chosen = [j for j in chosen if j.status not in (JobStatus.CANCELLED, JobStatus.COMPLETED)]
    if not chosen:
        raise DispatchError("no_open_jobs", f"booking {booking_id} has no job left to assign")
    return [
        (job.id, await assign(uow, job.id, fieldworker_id, actor, channel, force=force))
        for job in chosen
    ]


async def no_longer_attending(
    uow: UnitOfWork,
    job_id: int,
    fieldworker_id: int,
    actor: Actor,
    channel: Channel,
    *,
    reason: str | None = None,
) -> RespondResult:
    """The assigned fieldworker cannot come after all ("No longer attending", SMS `CANCEL`).

    Asks for a reason exactly like a decline (`REASON_REQUIRED`, nothing recorded). Their request,
    if any, is declined with the reason, the job is open again, staff are alerted and the customer
    told (`FieldworkerCancelled`), and with `auto_rebroadcast_on_cancel` in `auto` mode the job
    goes to eligible fieldworkers not yet asked, never back to them.
    """
    job, _ = await _load_job(uow, job_id, lock=True)
    mine = await uow.find_request(job_id, fieldworker_id)
    request_id = mine.id if mine else None
    if job.status is not JobStatus.ASSIGNED or job.fieldworker_id != fieldworker_id:
        return RespondResult(Outcome.CLOSED, request_id, job_id, job.booking_id)
    settings = await uow.settings()
    reason = (reason or "").strip() or None
    if reason is None and settings.decline_reason_required:
        return RespondResult(Outcome.REASON_REQUIRED, request_id, job_id, job.booking_id)
    sent = await unassign(
        uow,
        job.id,
        actor,
        channel,
        reason=reason,
        redispatch=settings.auto_rebroadcast_on_cancel,
        expect_fieldworker_id=fieldworker_id,
    )
    assert sent is not None  # the job is locked and was theirs
    uow.emit(
        FieldworkerCancelled(job.booking_id, job.id, fieldworker_id, reason, rebroadcast=bool(sent))
    )
    return RespondResult(
        Outcome.CANCELLED,
        request_id,
        job_id,
        job.booking_id,
        RequestStatus.DECLINED if mine else None,
    )


async def _booking_jobs(
    uow: UnitOfWork, booking_id: int, job_ids: Sequence[int] | None
) -> list[JobView]:
    """The listed jobs (each must belong to the booking: else `job_not_found`), or all of them."""
    jobs = {j.id: j for j in await uow.jobs_of_booking(booking_id)}
    if not job_ids:
        return list(jobs.values())
    strangers = [j for j in job_ids if j not in jobs]
    if strangers:
        raise DispatchError(
            "job_not_found",
            f"job {strangers[0]} is not part of booking {booking_id}",
            status=404,
            field="job_ids",
        )
    return [jobs[j] for j in job_ids]


async def _redispatch(
    uow: UnitOfWork, job_id: int, previous: int, actor: Actor, channel: Channel
) -> list[int]:
    """A freed job goes back out: to those who lost it to `previous` and never said no, then to
    eligible fieldworkers not yet asked. Never back to `previous`; declined and expired requests
    stay closed. Returns the request ids sent.

    A request withdrawn because someone else took the job (or staff chose someone else) is reopened
    and its fieldworker asked again, if still eligible and reachable: otherwise the usual flow (all
    asked at once, one accepts, then drops out) would leave nobody to ask.
    """
    job = await uow.lock_job(job_id)
    assert job is not None
    if job.status not in OPEN_JOB_STATUSES:
        return []
    result = await eligibility(uow, job_id)
    eligible = set(result.eligible_ids()) - {previous}
    reachable = await uow.reachable_fieldworkers(eligible)
    sent: list[int] = []
    for request in await uow.requests_of_job(job_id):
        if request.status is RequestStatus.WITHDRAWN and request.fieldworker_id in reachable:
            current = await uow.get_job(job_id)
            assert current is not None
            await _pend(uow, request, current, actor, channel, history=HistoryAction.REQUEST_SENT)
            sent.append(request.id)
    return sent + await dispatch_job(uow, job_id, actor, channel, exclude={previous})
