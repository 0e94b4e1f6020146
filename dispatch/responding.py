"""Responding: a fieldworker (or staff on their behalf) accepts, declines, pends, or drops out.

First-to-accept is decided by one conditional UPDATE on the job (`move_job(..., from_statuses=
OPEN_JOB_STATUSES, to=ASSIGNED)`), whose row count says who won.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

from dispatch import timers
from dispatch.assignment import miss
from dispatch.assist import invite, withdraw_offers
from dispatch.commands import Action, Outcome, RespondResult
from dispatch.errors import Forbidden, Invalid, NotFound, RetryCommand
from dispatch.events import (
    AcceptanceWaiting,
    JobAssigned,
    JobNobodyToAsk,
    RequestAccepted,
    RequestRejectedLate,
    WithdrawnBecause,
)
from dispatch.model import (
    OPEN_JOB_STATUSES,
    Actor,
    ActorKind,
    Channel,
    DispatchMode,
    HistoryAction,
    JobStatus,
    RequestStatus,
)
from dispatch.ports import RequestView, UnitOfWork
from dispatch.steps import (
    JobScope,
    close_request,
    has_open_requests,
    jobs_meant,
    load_job,
    on_behalf_of,
    record_response,
    reopen_request,
    result_of,
    withdraw_others,
)


async def respond(
    uow: UnitOfWork,
    request_id: int,
    action: Action,
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
    if action is Action.ACCEPT:
        return await _accept(uow, request, actor, channel)
    if action is Action.DECLINE:
        return await _decline(uow, request, actor, channel, reason)
    if action is Action.PEND:
        if actor.kind is ActorKind.FIELDWORKER:
            raise Forbidden("forbidden", "only staff can return a request to pending")
        job, _ = await load_job(uow, request.job_id, lock=True)
        fresh = await uow.get_request(request_id)
        assert fresh is not None
        if job.status in (JobStatus.CANCELLED, JobStatus.COMPLETED):
            return result_of(Outcome.JOB_CLOSED, fresh)
        if fresh.status is RequestStatus.PENDING:
            return result_of(Outcome.PENDED, fresh)
        await reopen_request(uow, fresh, job, actor, channel, history=HistoryAction.REQUEST_PENDED)
        return result_of(Outcome.PENDED, fresh, RequestStatus.PENDING)
    assert_never(action)


def settled_press(accept: bool, request: RequestStatus, job: JobStatus) -> Outcome | None:
    """The answer to a fieldworker's button press on their request when the press can change
    nothing, or None when it may (then it takes a write transaction).

    A request no longer pending (accepted, declined, withdrawn, expired) is final for its
    fieldworker's buttons: Accept is told why (`ALREADY_ACCEPTED`, `TAKEN` when another won the
    job, else `CLOSED`), Decline and its reasons `CLOSED`. A pending request may change, so it
    always goes to `respond`, where the first accept wins in one transaction.
    """
    if request is RequestStatus.PENDING:
        return None
    if not accept:
        return Outcome.CLOSED
    if request is RequestStatus.ACCEPTED:
        return Outcome.ALREADY_ACCEPTED
    if request is RequestStatus.WITHDRAWN and job is JobStatus.ASSIGNED:
        return Outcome.TAKEN
    return Outcome.CLOSED


async def _accept(
    uow: UnitOfWork, request: RequestView, actor: Actor, channel: Channel
) -> RespondResult:
    job = await uow.get_job(request.job_id)
    assert job is not None
    booking = await uow.get_booking(job.booking_id)
    assert booking is not None
    settled = settled_press(True, request.status, job.status)
    if settled is not None:
        return result_of(settled, request)
    if job.status in (JobStatus.CANCELLED, JobStatus.COMPLETED):
        return result_of(Outcome.JOB_CLOSED, request)

    fw = request.fieldworker_id
    if booking.dispatch_mode is DispatchMode.AUTO:
        # The one conditional UPDATE that decides the race; it also takes the job's row lock.
        won = await uow.move_job(job.id, OPEN_JOB_STATUSES, JobStatus.ASSIGNED, fieldworker_id=fw)
        if not won:
            uow.emit(RequestRejectedLate(job.booking_id, request.id, job.id, fw))
            return result_of(Outcome.TAKEN, request)
        if not await uow.move_request(
            request.id,
            [RequestStatus.PENDING],
            RequestStatus.ACCEPTED,
            actor=actor,
            channel=channel,
        ):
            # Closed between our read and our lock (expired by the scheduler): undo the job move.
            raise RetryCommand()
        await timers.arm_for_assigned(uow, job, fw)
        await record_response(
            uow, request, HistoryAction.REQUEST_ACCEPTED, actor, channel, RequestStatus.ACCEPTED
        )
        await uow.add_history(
            job.booking_id,
            HistoryAction.JOB_ASSIGNED,
            actor,
            job_id=job.id,
            request_id=request.id,
            on_behalf_of=on_behalf_of(actor, fw),
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
        await withdraw_others(
            uow, job.id, keep=request.id, because=WithdrawnBecause.TAKEN, actor=Actor.system()
        )
        await withdraw_offers(uow, job.id)
        return result_of(Outcome.ASSIGNED, request, RequestStatus.ACCEPTED)

    return await _accept_manual(uow, request, actor, channel)


async def _accept_manual(
    uow: UnitOfWork, request: RequestView, actor: Actor, channel: Channel
) -> RespondResult:
    """Manual mode: acceptances are collected; staff confirm one with `assign`."""
    fw = request.fieldworker_id
    job = await uow.lock_job(request.job_id)
    assert job is not None
    if job.status not in OPEN_JOB_STATUSES:
        return result_of(
            Outcome.TAKEN if job.status is JobStatus.ASSIGNED else Outcome.JOB_CLOSED, request
        )
    if not await uow.move_request(
        request.id, [RequestStatus.PENDING], RequestStatus.ACCEPTED, actor=actor, channel=channel
    ):
        return result_of(Outcome.CLOSED, request)
    await record_response(
        uow, request, HistoryAction.REQUEST_ACCEPTED, actor, channel, RequestStatus.ACCEPTED
    )
    uow.emit(RequestAccepted(job.booking_id, request.id, job.id, fw, actor, channel, False))
    if actor.kind is ActorKind.FIELDWORKER:
        # The job now waits for staff; an acceptance staff entered themselves needs no alert.
        uow.emit(AcceptanceWaiting(job.booking_id, request.id, job.id, fw))
    return result_of(Outcome.ACCEPTED, request, RequestStatus.ACCEPTED)


async def _decline(
    uow: UnitOfWork, request: RequestView, actor: Actor, channel: Channel, reason: str | None
) -> RespondResult:
    settings = await uow.settings()
    reason = (reason or "").strip() or None
    job, _ = await load_job(uow, request.job_id, lock=True)
    fresh = await uow.get_request(request.id)
    assert fresh is not None
    on_behalf = actor.kind is not ActorKind.FIELDWORKER
    # A fieldworker declines an open request; staff may also decline an accepted one for them.
    allowed = [RequestStatus.PENDING] + ([RequestStatus.ACCEPTED] if on_behalf else [])
    if fresh.status not in allowed:
        if fresh.status is RequestStatus.WITHDRAWN and job.status is JobStatus.ASSIGNED:
            return result_of(Outcome.TAKEN, fresh)
        return result_of(Outcome.CLOSED, fresh)
    if reason is None and (settings.decline_reason_required or on_behalf):
        return result_of(Outcome.REASON_REQUIRED, fresh)
    if not await close_request(
        uow, fresh, RequestStatus.DECLINED, actor, channel, from_statuses=allowed, reason=reason
    ):
        raise RetryCommand()
    if job.status is JobStatus.ASSIGNED and job.fieldworker_id == fresh.fieldworker_id:
        # A decline (on their behalf) of a job already theirs: they will not come, it is missed.
        await miss(uow, job, actor, channel, reason=reason)
    elif job.status is JobStatus.OFFERED and not await has_open_requests(uow, job.id):
        await uow.move_job(job.id, [JobStatus.OFFERED], JobStatus.UNASSIGNED, fieldworker_id=None)
        uow.emit(JobNobodyToAsk(job.booking_id, job.id))
    await invite(uow, job.id, fresh.fieldworker_id, actor, fresh.id, reason=reason)
    return result_of(Outcome.DECLINED, fresh, RequestStatus.DECLINED)


async def respond_for_fieldworker(
    uow: UnitOfWork,
    booking_id: int,
    fieldworker_id: int,
    action: Action,
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
    if action is Action.DECLINE and not (reason or "").strip():
        raise Invalid(
            "reason_required",
            "a decline on a fieldworker's behalf needs a reason",
            field="reason",
        )
    requests: list[RequestView] = []
    for job_id in [j.id for j in await jobs_meant(uow, booking_id, job_ids, JobScope.ALL)]:
        found = await uow.find_request(job_id, fieldworker_id)
        if found is not None:
            requests.append(found)
        elif job_ids:
            raise NotFound(
                "request_not_found",
                f"fieldworker {fieldworker_id} has no request for job {job_id}",
                field="job_ids",
            )
    if not requests:
        raise NotFound(
            "request_not_found",
            f"fieldworker {fieldworker_id} has no request in booking {booking_id}",
            field="fieldworker_id",
        )
    return [await respond(uow, r.id, action, actor, channel, reason=reason) for r in requests]


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
    if any, is declined with the reason and the job is `missed` (`assignment.miss`: staff alerted,
    customer told, offered again at once with `auto_rebroadcast_on_cancel` in `auto` mode, never
    back to them; otherwise it waits for staff).
    """
    job, _ = await load_job(uow, job_id, lock=True)
    mine = await uow.find_request(job_id, fieldworker_id)
    request_id = mine.id if mine else None
    if job.status is not JobStatus.ASSIGNED or job.fieldworker_id != fieldworker_id:
        return RespondResult(Outcome.CLOSED, request_id, job_id, job.booking_id)
    settings = await uow.settings()
    reason = (reason or "").strip() or None
    if reason is None and settings.decline_reason_required:
        return RespondResult(Outcome.REASON_REQUIRED, request_id, job_id, job.booking_id)
    open_statuses = (RequestStatus.PENDING, RequestStatus.ACCEPTED)
    if (
        mine is not None
        and mine.status in open_statuses
        and not await close_request(
            uow,
            mine,
            RequestStatus.DECLINED,
            actor,
            channel,
            reason=reason,
            no_longer_attending=True,
        )
    ):
        raise RetryCommand()
    await miss(uow, job, actor, channel, reason=reason)
    await invite(uow, job_id, fieldworker_id, actor, request_id, reason=reason, dropped=True)
    return RespondResult(
        Outcome.CANCELLED,
        request_id,
        job_id,
        job.booking_id,
        RequestStatus.DECLINED if mine else None,
    )
