"""What the admin commands do to the data: look-ups, and unit-of-work functions calling the core.

Each `async def ...(uow, ...)` here runs inside one `Transactions.run` given by the caller, calls
the dispatch rules in `dispatch.services`, and returns what happened for the reply. They decide
nothing the core does not: which jobs of a booking a command applies to, and in what order.

`reassign_job` is the one exception, and a stopgap: the core has no "unassign" command, so it is
put together here from `services.respond(decline)` and, when the fieldworker holds no open request
for the job, from the unit-of-work moves the core itself uses. It belongs in `dispatch.services`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dispatch import services
from dispatch.events import JobNobodyToAsk, JobUnassigned, RequestSent
from dispatch.model import (
    OPEN_JOB_STATUSES,
    Actor,
    ActorKind,
    Channel,
    DispatchMode,
    Excluded,
    HistoryAction,
    JobStatus,
    RequestStatus,
)
from dispatch.ports import JobView, UnitOfWork
from dispatch.services import RespondResult
from models import tables as t

from .parsing import FieldworkerRef
from .texts import fieldworker_label

CHANNEL = Channel.TELEGRAM
REASSIGN_REASON = "Reassigned by office"
_DONE = (JobStatus.CANCELLED, JobStatus.COMPLETED)


class CommandError(Exception):
    """The command cannot run as asked; the message is for the user and nothing was changed."""


def staff_actor(staff: t.Staff) -> Actor:
    """The history actor for a staff member."""
    return Actor(ActorKind.STAFF, staff.id, staff.name)


# -- look-ups ------------------------------------------------------------------------------------


async def get_booking(booking_id: int) -> t.Booking:
    """The booking, or CommandError."""
    booking = await t.Booking.get_or_none(id=booking_id)
    if booking is None:
        raise CommandError(f"Booking {booking_id} not found.")
    return booking


async def resolve_fieldworker(ref: FieldworkerRef) -> t.Fieldworker:
    """The fieldworker by id or by Telegram username (ignoring case and a stored `@`)."""
    if ref.id is not None:
        fw = await t.Fieldworker.get_or_none(id=ref.id)
        if fw is None:
            raise CommandError(f"Fieldworker {ref.id} not found.")
        return fw
    assert ref.username is not None
    matches = await t.Fieldworker.filter(telegram_username__iexact=ref.username).order_by("id")
    if not matches:
        matches = await t.Fieldworker.filter(telegram_username__iexact="@" + ref.username).order_by(
            "id"
        )
    if not matches:
        raise CommandError(f"No fieldworker has the Telegram username @{ref.username}.")
    if len(matches) > 1:
        ids = ", ".join(str(fw.id) for fw in matches)
        raise CommandError(
            f"Several fieldworkers have the username @{ref.username} (ids {ids}); use the id."
        )
    return matches[0]


async def open_job_ids(booking_id: int) -> list[int]:
    """Ids of the booking's jobs that may still be given to a fieldworker, by id."""
    statuses = [s.value for s in OPEN_JOB_STATUSES]
    return list(
        await t.Job.filter(booking_id=booking_id, status__in=statuses)
        .order_by("id")
        .values_list("id", flat=True)
    )


async def assigned_jobs_between(fieldworker_id: int, start: datetime, end: datetime) -> list[int]:
    """Ids of the fieldworker's assigned jobs whose appointment starts in `[start, end)`."""
    return list(
        await t.Job.filter(
            fieldworker_id=fieldworker_id,
            status=JobStatus.ASSIGNED.value,
            appointment__start__gte=start,
            appointment__start__lt=end,
        )
        .order_by("appointment__start", "id")
        .values_list("id", flat=True)
    )


# -- unit-of-work functions ----------------------------------------------------------------------


async def respond_for(
    uow: UnitOfWork,
    booking_id: int,
    fw: t.Fieldworker,
    action: str,
    actor: Actor,
    *,
    job_ids: Sequence[int] = (),
    reason: str | None = None,
) -> list[RespondResult]:
    """`services.respond(action)` on the fieldworker's requests in the booking (or for `job_ids`).

    Everything is checked before the first write, so a CommandError leaves nothing changed.
    """
    requests = await t.JobRequest.filter(booking_id=booking_id, fieldworker_id=fw.id).order_by(
        "job_id", "id"
    )
    if job_ids:
        in_booking = set(
            await t.Job.filter(booking_id=booking_id, id__in=list(job_ids)).values_list(
                "id", flat=True
            )
        )
        strangers = [j for j in job_ids if j not in in_booking]
        if strangers:
            listed = ", ".join(map(str, strangers))
            raise CommandError(f"Job {listed} is not part of booking {booking_id}.")
        by_job = {r.job_id: r for r in requests}
        unasked = [j for j in job_ids if j not in by_job]
        if unasked:
            listed = ", ".join(map(str, unasked))
            raise CommandError(
                f"{fieldworker_label(fw)} has no request for job {listed}; "
                "send one first with /request."
            )
        requests = [by_job[j] for j in job_ids]
    if not requests:
        raise CommandError(
            f"{fieldworker_label(fw)} has no requests in booking {booking_id}; "
            "send one first with /request."
        )
    return [
        await services.respond(uow, r.id, action, actor, CHANNEL, reason=reason) for r in requests
    ]


async def assign_booking(
    uow: UnitOfWork, booking_id: int, fieldworker_id: int, actor: Actor, *, force: bool
) -> list[tuple[int, bool]]:
    """`services.assign` for every job of the booking not cancelled or completed.

    Returns `(job id, changed)` pairs; raises the core's `not_eligible` DispatchError (nothing
    changed) unless `force`.
    """
    jobs = [j for j in await uow.jobs_of_booking(booking_id) if j.status not in _DONE]
    if not jobs:
        raise CommandError(f"Booking {booking_id} has no jobs left to assign.")
    return [
        (job.id, await services.assign(uow, job.id, fieldworker_id, actor, CHANNEL, force=force))
        for job in jobs
    ]


async def exclusions_for(
    uow: UnitOfWork, booking_id: int, fieldworker_id: int
) -> dict[int, Excluded]:
    """Job id -> why the fieldworker is not eligible, for the booking's jobs still to assign."""
    out: dict[int, Excluded] = {}
    for job in await uow.jobs_of_booking(booking_id):
        if job.status in _DONE:
            continue
        result = await services.eligibility(uow, job.id)
        for excluded in result.excluded:
            if excluded.fieldworker_id == fieldworker_id:
                out[job.id] = excluded
    return out


@dataclass
class RequestReport:
    """What `/request` did: `(fieldworker id, job id)` asked, and fieldworker id -> why not."""

    sent: list[tuple[int, int]] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


async def request_booking(
    uow: UnitOfWork, booking_id: int, fieldworker_ids: Sequence[int], actor: Actor
) -> RequestReport:
    """`services.send_requests` for every open job of the booking."""
    statuses = OPEN_JOB_STATUSES
    job_ids = [j.id for j in await uow.jobs_of_booking(booking_id) if j.status in statuses]
    if not job_ids:
        raise CommandError(f"Booking {booking_id} has no open jobs to send requests for.")
    result = await services.send_requests(uow, job_ids, fieldworker_ids, actor, CHANNEL)
    report = RequestReport(skipped=dict(result.skipped))
    for request_id in result.sent:
        request = await uow.get_request(request_id)
        assert request is not None
        report.sent.append((request.fieldworker_id, request.job_id))
    return report


async def rebroadcast_booking(uow: UnitOfWork, booking_id: int, actor: Actor) -> list[int]:
    """`services.rebroadcast`; returns the ids of the fieldworkers asked."""
    sent = await services.rebroadcast(uow, booking_id, actor, CHANNEL)
    asked: list[int] = []
    for request_id in sent:
        request = await uow.get_request(request_id)
        assert request is not None
        if request.fieldworker_id not in asked:
            asked.append(request.fieldworker_id)
    return asked


@dataclass(frozen=True)
class ReassignResult:
    """What happened to one job of `/reassign_all`."""

    job_id: int
    booking_id: int | None
    done: bool  # False: the job was no longer theirs, nothing changed
    mode: DispatchMode | None = None
    asked: tuple[int, ...] = ()  # fieldworkers asked to take it now


async def reassign_job(
    uow: UnitOfWork, job_id: int, fieldworker_id: int, actor: Actor
) -> ReassignResult:
    """Take an assigned job off a fieldworker and dispatch it again by its booking's mode.

    Stopgap for a missing core command (see the module docstring). With an open (accepted)
    request of theirs, the core's on-behalf decline does it all: unassign, history, the message to
    the fieldworker, and (auto mode with `auto_rebroadcast_on_cancel`) the re-broadcast. Without
    one (staff assigned them directly), the job is moved back to unassigned here with the same
    compare-and-set move, history row and event the core's decline would write. In auto mode the
    job is then offered to every eligible, reachable fieldworker not yet asked, never the one it
    was taken from; in manual mode it waits for staff to send requests.
    """
    job = await uow.lock_job(job_id)
    if job is None or job.status is not JobStatus.ASSIGNED or job.fieldworker_id != fieldworker_id:
        return ReassignResult(job_id, job.booking_id if job else None, done=False)
    booking = await uow.get_booking(job.booking_id)
    assert booking is not None
    settings = await uow.settings()
    mine = await uow.find_request(job_id, fieldworker_id)
    if mine is not None and mine.status in (RequestStatus.PENDING, RequestStatus.ACCEPTED):
        await services.respond(uow, mine.id, "decline", actor, CHANNEL, reason=REASSIGN_REASON)
        core_redispatched = settings.auto_rebroadcast_on_cancel
    else:
        await _unassign(uow, job, actor)
        core_redispatched = False
    if booking.dispatch_mode is DispatchMode.AUTO and not core_redispatched:
        await _offer_to_others(uow, job, fieldworker_id, actor)
    asked = tuple(
        e.fieldworker_id for e in uow.events if isinstance(e, RequestSent) and e.job_id == job_id
    )
    return ReassignResult(job_id, job.booking_id, True, booking.dispatch_mode, asked)


async def _unassign(uow: UnitOfWork, job: JobView, actor: Actor) -> None:
    assert job.fieldworker_id is not None
    if not await uow.move_job(
        job.id,
        [JobStatus.ASSIGNED],
        JobStatus.UNASSIGNED,
        fieldworker_id=None,
        expect_fieldworker_id=job.fieldworker_id,
        check_fieldworker=True,
    ):
        raise services.RetryCommand()
    await uow.add_history(
        job.booking_id,
        HistoryAction.JOB_UNASSIGNED,
        actor,
        job_id=job.id,
        on_behalf_of=job.fieldworker_id,
        from_status=JobStatus.ASSIGNED,
        to_status=JobStatus.UNASSIGNED,
        channel=CHANNEL,
        details={"fieldworker_id": job.fieldworker_id, "reason": REASSIGN_REASON},
    )
    uow.emit(JobUnassigned(job.booking_id, job.id, job.fieldworker_id, actor))


async def _offer_to_others(uow: UnitOfWork, job: JobView, previous: int, actor: Actor) -> None:
    """Like `services.dispatch_job`, but never back to the fieldworker the job was taken from."""
    result = await services.eligibility(uow, job.id)
    asked = {r.fieldworker_id for r in await uow.requests_of_job(job.id)} | {previous}
    fresh = [fw for fw in result.eligible_ids() if fw not in asked]
    reachable = await uow.reachable_fieldworkers(fresh)
    to_ask = [fw for fw in fresh if fw in reachable]
    sent = (
        (await services.send_requests(uow, [job.id], to_ask, actor, CHANNEL)).sent if to_ask else []
    )
    if not sent:
        open_requests = [
            r
            for r in await uow.requests_of_job(job.id)
            if r.status in (RequestStatus.PENDING, RequestStatus.ACCEPTED)
        ]
        if not open_requests:
            uow.emit(JobNobodyToAsk(job.booking_id, job.id))
