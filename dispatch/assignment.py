"""Assignment: staff give a job to a fieldworker, take it off them, or confirm an acceptor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dispatch import timers
from dispatch.assist import withdraw_offers
from dispatch.errors import Conflict, DispatchError, Invalid, NotFound, RetryCommand
from dispatch.events import (
    FieldworkerCancelled,
    JobAssigned,
    WithdrawnBecause,
)
from dispatch.model import (
    Actor,
    Channel,
    DispatchMode,
    HistoryAction,
    JobStatus,
    RequestStatus,
)
from dispatch.offering import eligibility, rebroadcast_freed_job
from dispatch.ports import JobView, TransactionRunner, UnitOfWork
from dispatch.steps import (
    JobScope,
    close_request,
    jobs_meant,
    leave_assigned,
    load_booking,
    load_job,
    record_response,
    unassign_job,
    withdraw_others,
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
        raise NotFound(
            "fieldworker_not_found",
            f"fieldworker {fieldworker_id} does not exist",
            field="fieldworker_id",
        )
    job, booking = await load_job(uow, job_id, lock=True)
    if job.status in (JobStatus.CANCELLED, JobStatus.COMPLETED):
        raise Conflict("job_not_open", f"job {job_id} is {job.status.value}")
    if job.status is JobStatus.ASSIGNED and job.fieldworker_id == fieldworker_id:
        return False
    if not force:
        result = await eligibility(uow, job_id, fieldworker_ids=[fieldworker_id])
        excluded = {e.fieldworker_id: e.reasons for e in result.excluded}
        if fieldworker_id in excluded:
            reasons = [r.value for r in excluded[fieldworker_id]]
            raise Conflict(
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
        raise RetryCommand()
    await timers.arm_for_assigned(uow, job, fieldworker_id)
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
        await record_response(
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
    await withdraw_others(uow, job_id, keep=mine.id if mine else None, because=because, actor=actor)
    await withdraw_offers(uow, job_id)
    return True


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
    await load_booking(uow, booking_id, open_only=True)
    chosen = await jobs_meant(uow, booking_id, job_ids, JobScope.NOT_CLOSED)
    if not chosen:
        raise Conflict("no_open_jobs", f"booking {booking_id} has no job left to assign")
    return [
        (job.id, await assign(uow, job.id, fieldworker_id, actor, channel, force=force))
        for job in chosen
    ]


async def unassign(
    uow: UnitOfWork,
    job_id: int,
    actor: Actor,
    channel: Channel,
    *,
    reason: str | None,
    expect_fieldworker_id: int | None = None,
    rebroadcast: bool = True,
) -> list[int] | None:
    """Staff take an assigned job off its fieldworker (reassignment, a worker off sick).

    The fieldworker's open or accepted request is declined on their behalf with `reason`; a job
    they were assigned directly only moves. The job is open again; with `rebroadcast` in `auto`
    mode it is offered to eligible fieldworkers not yet asked, never back to the one it was taken
    from; in `manual` mode it waits for staff. Returns the ids of requests sent, or None when the
    job was not assigned (to `expect_fieldworker_id`, when given) and nothing changed.
    """
    job, booking = await load_job(uow, job_id, lock=True)
    previous = job.fieldworker_id
    if job.status is not JobStatus.ASSIGNED or previous is None:
        return None
    if expect_fieldworker_id is not None and previous != expect_fieldworker_id:
        return None
    mine = await uow.find_request(job_id, previous)
    open_statuses = (RequestStatus.PENDING, RequestStatus.ACCEPTED)
    if (
        mine is not None
        and mine.status in open_statuses
        and not await close_request(
            uow, mine, RequestStatus.DECLINED, actor, channel, reason=reason
        )
    ):
        raise RetryCommand()
    await unassign_job(uow, job, actor, channel)
    if rebroadcast and booking.dispatch_mode is DispatchMode.AUTO:
        return await rebroadcast_freed_job(uow, job_id, previous, actor, channel)
    return []


async def miss(
    uow: UnitOfWork, job: JobView, actor: Actor, channel: Channel, *, reason: str | None
) -> list[int]:
    """The assigned fieldworker will not come after all: the job is `missed`, then offered again.

    Their own "No longer attending", or a decline on their behalf once the job was theirs. The job
    moves to `missed` (history `job_missed`) before anything else; in `auto` mode with
    `auto_rebroadcast_on_cancel` it goes back out at once (`offered`), never to them; otherwise it
    stays `missed` until staff assign, request or re-broadcast. Staff are alerted and the customer
    told (`FieldworkerCancelled`). The caller has locked the job and closed their request; returns
    the ids of the requests sent.
    """
    assert job.status is JobStatus.ASSIGNED
    fw = await leave_assigned(
        uow,
        job,
        JobStatus.MISSED,
        HistoryAction.JOB_MISSED,
        actor,
        channel,
        details={"reason": reason},
    )
    _, booking = await load_job(uow, job.id, lock=False)
    settings = await uow.settings()
    sent: list[int] = []
    if booking.dispatch_mode is DispatchMode.AUTO and settings.auto_rebroadcast_on_cancel:
        sent = await rebroadcast_freed_job(uow, job.id, fw, actor, channel)
    uow.emit(FieldworkerCancelled(job.booking_id, job.id, fw, reason, rebroadcast=bool(sent)))
    return sent


@dataclass(frozen=True)
class UnassignedJob:
    """One job of a range reassignment: what happened to it."""

    job_id: int
    booking_id: int | None
    dispatch_mode: DispatchMode | None
    sent: list[int] | None  # requests sent; None: it was no longer theirs, nothing changed
    refused: DispatchError | None = None


async def unassign_range(
    tx: TransactionRunner,
    fieldworker_id: int,
    start: datetime,
    end: datetime,
    actor: Actor,
    channel: Channel,
    *,
    reason: str,
) -> list[UnassignedJob]:
    """Take every assigned job of a fieldworker starting in [start, end) off them (off sick).

    Each job is dispatched again by its booking's mode (`unassign`). One transaction per job: a
    long range neither holds every job's lock at once nor fails as a whole because one job changed
    meanwhile; a job refused is reported in its result and the others go on.
    """
    if end <= start:
        raise Invalid("end_before_start", "`to` must be after `from`", field="to")
    job_ids = await tx.run(lambda uow: uow.assigned_job_ids(fieldworker_id, start, end))
    results: list[UnassignedJob] = []
    for job_id in job_ids:

        async def one(uow: UnitOfWork, job_id: int = job_id) -> UnassignedJob:
            sent = await unassign(
                uow, job_id, actor, channel, reason=reason, expect_fieldworker_id=fieldworker_id
            )
            job, booking = await load_job(uow, job_id, lock=False)
            return UnassignedJob(job_id, job.booking_id, booking.dispatch_mode, sent)

        try:
            results.append(await tx.run(one))
        except DispatchError as exc:
            results.append(UnassignedJob(job_id, None, None, None, refused=exc))
    return results
