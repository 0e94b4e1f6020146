"""Offering jobs: who is eligible, sending requests, re-broadcast, request expiry.

Nobody is asked twice for the same job by the system; staff can ask anyone again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from dispatch import timers
from dispatch.commands import SendResult
from dispatch.deadlines import TimerKind
from dispatch.eligibility import eligible_only, evaluate
from dispatch.errors import Conflict, NotFound
from dispatch.events import (
    AssignmentTimedOut,
    JobNobodyToAsk,
    RequestSent,
)
from dispatch.model import (
    OPEN_JOB_STATUSES,
    Actor,
    Channel,
    EligibilityResult,
    HistoryAction,
    JobStatus,
    RequestStatus,
)
from dispatch.narrowing import narrowing
from dispatch.ports import JobView, UnitOfWork
from dispatch.steps import (
    JobScope,
    close_request,
    has_open_requests,
    job_spec,
    jobs_meant,
    load_booking,
    load_job,
    reopen_request,
    request_deadline,
)


async def eligibility(
    uow: UnitOfWork, job_id: int, *, fieldworker_ids: Collection[int] | None = None
) -> EligibilityResult:
    """Eligible fieldworkers for a job, nearest first, and the excluded ones with their reasons.

    Every fieldworker is evaluated (or only those of `fieldworker_ids`): this is the explaining
    path, for staff who need to see why each one was left out. It reads the whole fleet, so it
    grows with it; to only find whom to ask, `eligible_ids` is the fast path.
    """
    job, booking = await load_job(uow, job_id, lock=False)
    settings = await uow.settings()
    skills = await uow.service_skills(job.service_code) or frozenset()
    return evaluate(
        job_spec(job, booking),
        await uow.candidates(job, fieldworker_ids=fieldworker_ids),
        travel_radius_km=settings.travel_radius_km,
        required_services_skills=skills,
    )


async def eligible_ids(uow: UnitOfWork, job_id: int) -> list[int]:
    """Ids of the fieldworkers eligible for a job, nearest first (ties by id).

    The same answer as `eligibility(uow, job_id).eligible_ids()`, without reading the whole fleet:
    storage narrows it first (`dispatch.narrowing`: status, service, the travel radius's bounding
    box, territories' bounding boxes) and `evaluate` decides over what is left.
    """
    job, booking = await load_job(uow, job_id, lock=False)
    settings = await uow.settings()
    skills = await uow.service_skills(job.service_code) or frozenset()
    spec = job_spec(job, booking)
    found = eligible_only(
        spec,
        await uow.candidates(job, narrowing=narrowing(spec, settings.travel_radius_km)),
        travel_radius_km=settings.travel_radius_km,
        required_services_skills=skills,
    )
    return [e.fieldworker_id for e in found]


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
    job, _booking = await load_job(uow, job_id, lock=True)
    if job.status not in OPEN_JOB_STATUSES:
        return []
    eligible = await eligible_ids(uow, job_id)
    asked = {r.fieldworker_id for r in await uow.requests_of_job(job_id)} | set(exclude)
    fresh = [fw for fw in eligible if fw not in asked]
    reachable = await uow.reachable_fieldworkers(fresh)
    to_ask = [fw for fw in fresh if fw in reachable]
    sent = await _send(uow, job, to_ask, actor, channel)
    if not sent and not await has_open_requests(uow, job_id):
        uow.emit(JobNobodyToAsk(job.booking_id, job_id))
    return sent


async def request_jobs(
    uow: UnitOfWork,
    booking_id: int,
    fieldworker_ids: Sequence[int],
    actor: Actor,
    channel: Channel,
    *,
    job_ids: Sequence[int] | None = None,
    force: bool = False,
) -> SendResult:
    """Staff ask fieldworkers for the listed jobs of a booking, or for every open one."""
    await load_booking(uow, booking_id, open_only=True)
    jobs = await jobs_meant(uow, booking_id, job_ids, JobScope.OPEN)
    if not jobs:
        raise Conflict("no_open_jobs", f"booking {booking_id} has no open job")
    return await send_requests(
        uow, [j.id for j in jobs], fieldworker_ids, actor, channel, force=force
    )


async def send_requests(
    uow: UnitOfWork,
    job_ids: Sequence[int],
    fieldworker_ids: Sequence[int],
    actor: Actor,
    channel: Channel,
    *,
    force: bool = False,
) -> SendResult:
    """Staff ask chosen fieldworkers to take chosen jobs (manual dispatch, or extra asks in auto).

    Each fieldworker is considered job by job, and not asked (reported in `skipped` and
    `not_sent`) when they cannot be reached (`unreachable`: no linked channel), are not eligible
    for that job (`not_eligible`, with the exclusion reasons: a service they do not offer, too
    far, busy...; unless `force`, staff overriding eligibility as with `assign`), or already hold
    a pending or accepted request for it. One whose earlier request was declined, expired or
    withdrawn is asked again (staff chose them).
    """
    result = SendResult()
    jobs = await _open_jobs_for(uow, job_ids, fieldworker_ids)
    reachable = await uow.reachable_fieldworkers(fieldworker_ids)
    for job in jobs:
        job_id = job.id
        excluded = (
            {}
            if force
            else {
                e.fieldworker_id: e.reasons
                for e in (await eligibility(uow, job_id, fieldworker_ids=fieldworker_ids)).excluded
            }
        )
        ask: list[int] = []
        for fw in fieldworker_ids:
            if fw not in reachable:
                result.skip(fw, job_id, "unreachable")
                continue
            if fw in excluded:
                result.skip(fw, job_id, "not_eligible", *excluded[fw])
                continue
            existing = await uow.find_request(job_id, fw)
            if existing and existing.status in (RequestStatus.PENDING, RequestStatus.ACCEPTED):
                result.skip(fw, job_id, f"already_{existing.status.value}")
                continue
            if existing:
                await reopen_request(
                    uow, existing, job, actor, channel, history=HistoryAction.REQUEST_SENT
                )
                result.sent.append(existing.id)
            else:
                ask.append(fw)
        result.sent.extend(await _send(uow, job, ask, actor, channel))
    return result


async def _open_jobs_for(
    uow: UnitOfWork, job_ids: Sequence[int], fieldworker_ids: Sequence[int]
) -> list[JobView]:
    """The jobs, locked; refuses an unknown fieldworker or a job no longer open."""
    # Every check before the first write: a refusal changes nothing, even without a rollback.
    for fw in fieldworker_ids:
        if not await uow.fieldworker_exists(fw):
            raise NotFound(
                "fieldworker_not_found",
                f"fieldworker {fw} does not exist",
                field="fieldworker_ids",
            )
    jobs: list[JobView] = []
    for job_id in job_ids:
        job, _ = await load_job(uow, job_id, lock=True)
        if job.status not in OPEN_JOB_STATUSES:
            raise Conflict("job_not_open", f"job {job_id} is {job.status.value}")
        jobs.append(job)
    return jobs


async def _send(
    uow: UnitOfWork, job: JobView, fieldworker_ids: Iterable[int], actor: Actor, channel: Channel
) -> list[int]:
    expires_at = await request_deadline(uow)
    sent: list[int] = []
    asked = list(fieldworker_ids)
    # All of them in one go: a broadcast to hundreds is a few statements, not a few each.
    created = await uow.create_requests(job.id, job.booking_id, asked, expires_at)
    for fw, request in zip(asked, created, strict=True):
        await timers.arm(uow, TimerKind.NUDGE, request.id, job.booking_id, uow.now())
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
    if sent and job.status in (JobStatus.UNASSIGNED, JobStatus.MISSED):
        await uow.move_job(job.id, [job.status], JobStatus.OFFERED, fieldworker_id=None)
    return sent


async def rebroadcast(
    uow: UnitOfWork,
    booking_id: int,
    actor: Actor,
    channel: Channel,
    *,
    include_expired: bool = False,
) -> list[int]:
    """Ask eligible fieldworkers not yet asked, for every open job of the booking.

    With `include_expired` (staff's "everyone", after an assignment timeout) those whose request
    expired unanswered are asked again first: each such request reopens as pending and is re-sent,
    if its fieldworker is still eligible and reachable. Declined requests never reopen here.
    Returns the request ids sent, reopened ones included.
    """
    await load_booking(uow, booking_id, open_only=True)
    sent: list[int] = []
    for job in await uow.jobs_of_booking(booking_id):
        if job.status in OPEN_JOB_STATUSES:
            if include_expired:
                sent.extend(await _reopen_expired(uow, job.id, actor, channel))
            sent.extend(await dispatch_job(uow, job.id, actor, channel))
    return sent


async def _reopen_expired(
    uow: UnitOfWork, job_id: int, actor: Actor, channel: Channel
) -> list[int]:
    """Reopen the job's expired requests whose fieldworkers are still eligible and reachable."""
    await load_job(uow, job_id, lock=True)  # the job row first, then its requests
    expired = [r for r in await uow.requests_of_job(job_id) if r.status is RequestStatus.EXPIRED]
    if not expired:
        return []
    eligible = set(await eligible_ids(uow, job_id))
    reachable = await uow.reachable_fieldworkers(eligible)
    sent: list[int] = []
    for request in expired:
        if request.fieldworker_id in reachable:
            # Fresh each time: the first reopen moves an unassigned job to offered.
            job, _ = await load_job(uow, job_id, lock=False)
            await reopen_request(
                uow, request, job, actor, channel, history=HistoryAction.REQUEST_SENT
            )
            sent.append(request.id)
    return sent


async def expire_request(uow: UnitOfWork, request_id: int) -> bool:
    """The assignment timeout passed: close a pending request; True when this call expired it."""
    request = await uow.get_request(request_id)
    if request is None or request.status is not RequestStatus.PENDING:
        return False
    job, _ = await load_job(uow, request.job_id, lock=True)
    if not await close_request(uow, request, RequestStatus.EXPIRED, Actor.system(), Channel.SYSTEM):
        return False
    if job.status is JobStatus.OFFERED and not await has_open_requests(uow, job.id):
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


async def rebroadcast_freed_job(
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
    eligible = set(await eligible_ids(uow, job_id)) - {previous}
    reachable = await uow.reachable_fieldworkers(eligible)
    sent: list[int] = []
    for request in await uow.requests_of_job(job_id):
        if request.status is RequestStatus.WITHDRAWN and request.fieldworker_id in reachable:
            current = await uow.get_job(job_id)
            assert current is not None
            await reopen_request(
                uow, request, current, actor, channel, history=HistoryAction.REQUEST_SENT
            )
            sent.append(request.id)
    return sent + await dispatch_job(uow, job_id, actor, channel, exclude={previous})
