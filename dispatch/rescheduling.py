"""Rescheduling: move a booking's appointments, and re-decide who does each job at the new time.

A moved job keeps its fieldworker when they are still eligible at the new time (they are told);
otherwise it is unassigned and dispatched again. Requests still open for the old time are
withdrawn; the job goes out again at the new time by the booking's mode (`auto`: to every eligible
fieldworker, those asked before included, never one who declined unless staff say so; `manual`:
staff are alerted). A `missed` job, whose fieldworker dropped out, is offered again in either mode:
a new time is a new chance. The customer hears once per reschedule.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC

from dispatch import timers
from dispatch.commands import (
    AppointmentMove,
    JobOutcome,
    RescheduledJob,
    RescheduleResult,
)
from dispatch.errors import Conflict, Invalid, RetryCommand
from dispatch.events import (
    AppointmentRescheduled,
    JobRescheduled,
    JobUnassigned,
    WithdrawnBecause,
)
from dispatch.model import (
    Actor,
    BookingStatus,
    Channel,
    DispatchMode,
    HistoryAction,
    Interval,
    JobStatus,
    RequestStatus,
)
from dispatch.offering import dispatch_job, eligibility, eligible_ids
from dispatch.ports import BookingView, JobView, RequestView, UnitOfWork
from dispatch.steps import close_request, leave_assigned, load_booking, reopen_request

_OPEN_REQUEST = (RequestStatus.PENDING, RequestStatus.ACCEPTED)
_CLOSED_JOB = (JobStatus.COMPLETED, JobStatus.CANCELLED)


async def reschedule(
    uow: UnitOfWork,
    booking_id: int,
    moves: Sequence[AppointmentMove],
    actor: Actor,
    channel: Channel,
    *,
    ask_decliners: bool = False,
) -> RescheduleResult:
    """Move appointments of an open booking and dispatch their jobs again where needed.

    Every move is checked before anything is written: an appointment not of this booking, a
    missing id on a booking with several appointments, the same appointment twice, a time without
    offset or an end not after its start is `Invalid` (naming `appointments.<i>.<field>`); a
    cancelled or completed booking is a `Conflict`. An appointment already at its requested time
    is left alone: a reschedule that moves nothing changes and sends nothing. `ask_decliners`
    (staff's choice) asks those who declined a job again at the new time too.
    """
    booking = await load_booking(uow, booking_id)
    if booking.status is not BookingStatus.OPEN:
        raise Conflict("booking_not_open", f"booking {booking_id} is {booking.status.value}")
    current = {j.appointment_id: j.appointment for j in await uow.jobs_of_booking(booking_id)}
    planned = _checked(booking_id, moves, current)
    changed = [(a, new) for a, new in planned if new != current[a]]
    # Every appointment moves before any job is judged at its new time: two appointments that
    # swap times with one fieldworker holding both must not conflict with each other's old time.
    jobs = await uow.jobs_of_booking(booking_id)
    for job in jobs:
        if job.appointment_id in dict(changed):
            await uow.lock_job(job.id)  # the job rows first, then the appointment and requests
    for appointment_id, new in changed:
        await _move(uow, booking, appointment_id, current[appointment_id], new, actor, channel)
    outcomes: list[RescheduledJob] = []
    for appointment_id, new in changed:
        before = current[appointment_id]
        outcomes.extend(
            await _settle(uow, booking, appointment_id, before, new, actor, channel, ask_decliners)
        )
    return RescheduleResult(booking_id, tuple(a for a, _ in changed), tuple(outcomes))


def _checked(
    booking_id: int, moves: Sequence[AppointmentMove], current: dict[int, Interval]
) -> list[tuple[int, Interval]]:
    """The moves as (appointment id, new interval), or `Invalid` naming the first bad one."""
    if not moves:
        raise Invalid("no_appointments", "name at least one appointment", field="appointments")
    planned: dict[int, Interval] = {}
    for i, move in enumerate(moves):
        where = f"appointments.{i}"
        appointment_id = move.appointment_id
        if appointment_id is None:
            if len(current) != 1:
                raise Invalid(
                    "appointment_id_required",
                    f"booking {booking_id} has {len(current)} appointments: name the one to move",
                    field=f"{where}.id",
                )
            (appointment_id,) = current
        if appointment_id not in current:
            raise Invalid(
                "appointment_not_found",
                f"appointment {appointment_id} is not part of booking {booking_id}",
                field=f"{where}.id",
            )
        if appointment_id in planned:
            raise Invalid(
                "duplicate_appointment",
                f"appointment {appointment_id} is named twice",
                field=f"{where}.id",
            )
        for name, value in (("start", move.start), ("end", move.end)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise Invalid(
                    "time_without_offset", f"{name} needs a UTC offset", field=f"{where}.{name}"
                )
        if move.end <= move.start:
            raise Invalid("end_before_start", "end must be after start", field=f"{where}.end")
        planned[appointment_id] = Interval(move.start, move.end)
    return list(planned.items())


def _span(interval: Interval) -> dict[str, str]:
    """An interval for the history, in UTC whatever offset it came with."""
    return {
        "start": interval.start.astimezone(UTC).isoformat(),
        "end": interval.end.astimezone(UTC).isoformat(),
    }


async def _move(
    uow: UnitOfWork,
    booking: BookingView,
    appointment_id: int,
    previous: Interval,
    new: Interval,
    actor: Actor,
    channel: Channel,
) -> None:
    """Move one appointment (its jobs are locked already), recorded in the history."""
    jobs = [j for j in await uow.jobs_of_booking(booking.id) if j.appointment_id == appointment_id]
    await uow.move_appointment(appointment_id, new)
    await uow.add_history(
        booking.id,
        HistoryAction.BOOKING_RESCHEDULED,
        actor,
        channel=channel,
        details={
            "appointment_id": appointment_id,
            "from": _span(previous),
            "to": _span(new),
            "job_ids": [j.id for j in jobs],
        },
    )


async def _settle(
    uow: UnitOfWork,
    booking: BookingView,
    appointment_id: int,
    previous: Interval,
    new: Interval,
    actor: Actor,
    channel: Channel,
    ask_decliners: bool,
) -> list[RescheduledJob]:
    """Decide each job of a moved appointment at its new time."""
    jobs = [j for j in await uow.jobs_of_booking(booking.id) if j.appointment_id == appointment_id]
    outcomes: list[RescheduledJob] = []
    for job in jobs:
        fresh = await uow.lock_job(job.id)
        assert fresh is not None
        if fresh.status in _CLOSED_JOB:
            outcomes.append(RescheduledJob(fresh.id, appointment_id, JobOutcome.CLOSED))
        elif fresh.status is JobStatus.ASSIGNED:
            outcomes.append(
                await _assigned(uow, booking, fresh, previous, actor, channel, ask_decliners)
            )
        else:
            outcomes.append(await _open(uow, booking, fresh, actor, channel, ask_decliners))
    moved = [j for j in await uow.jobs_of_booking(booking.id) if j.appointment_id == appointment_id]
    await timers.appointment_moved(uow, booking.id, appointment_id, new.start, moved)
    settings = await uow.settings()
    uow.emit(
        AppointmentRescheduled(
            booking.id,
            appointment_id,
            previous,
            new,
            job_ids=tuple(o.job_id for o in outcomes if o.outcome is not JobOutcome.CLOSED),
            staff_job_ids=tuple(o.job_id for o in outcomes if o.for_staff),
            tell_customer=settings.customer_notify.rescheduled,
        )
    )
    return outcomes


async def _assigned(
    uow: UnitOfWork,
    booking: BookingView,
    job: JobView,
    previous: Interval,
    actor: Actor,
    channel: Channel,
    ask_decliners: bool,
) -> RescheduledJob:
    """Keep the job with its fieldworker if still eligible (the job itself is no conflict: the
    storage leaves it out of `busy`), else unassign it and dispatch it again."""
    fw = job.fieldworker_id
    assert fw is not None
    if fw in (await eligibility(uow, job.id, fieldworker_ids=[fw])).eligible_ids():
        uow.emit(JobRescheduled(booking.id, job.id, fw, previous))
        return RescheduledJob(job.id, job.appointment_id, JobOutcome.KEPT, fw)
    withdrawn = []
    theirs = await uow.find_request(job.id, fw)
    if theirs is not None and theirs.status in _OPEN_REQUEST:
        await _withdraw(uow, theirs.id, actor)
        withdrawn.append(theirs.id)
    await leave_assigned(
        uow,
        job,
        JobStatus.UNASSIGNED,
        HistoryAction.JOB_UNASSIGNED,
        actor,
        channel,
        on_behalf=False,
        details={"because": WithdrawnBecause.RESCHEDULED.value},
    )
    uow.emit(JobUnassigned(booking.id, job.id, fw, actor, rescheduled=True))
    sent = await _again(uow, booking, job.id, actor, channel, ask_decliners, exclude={fw})
    return RescheduledJob(
        job.id,
        job.appointment_id,
        JobOutcome.UNASSIGNED,
        fw,
        tuple(withdrawn),
        tuple(sent or ()),
        for_staff=sent is None,
    )


async def _open(
    uow: UnitOfWork,
    booking: BookingView,
    job: JobView,
    actor: Actor,
    channel: Channel,
    ask_decliners: bool,
) -> RescheduledJob:
    """Withdraw the job's open requests (they were for the old time) and dispatch it again."""
    withdrawn = []
    for request in await uow.requests_of_job(job.id):
        if request.status in _OPEN_REQUEST:
            await _withdraw(uow, request.id, actor)
            withdrawn.append(request.id)
    if job.status is JobStatus.OFFERED and not await uow.move_job(
        job.id, [JobStatus.OFFERED], JobStatus.UNASSIGNED, fieldworker_id=None
    ):
        raise RetryCommand()
    sent = await _again(
        uow, booking, job.id, actor, channel, ask_decliners, missed=job.status is JobStatus.MISSED
    )
    return RescheduledJob(
        job.id,
        job.appointment_id,
        JobOutcome.REDISPATCHED,
        None,
        tuple(withdrawn),
        tuple(sent or ()),
        for_staff=sent is None,
    )


async def _withdraw(uow: UnitOfWork, request_id: int, actor: Actor) -> None:
    request = await uow.get_request(request_id)
    assert request is not None
    if not await close_request(
        uow,
        request,
        RequestStatus.WITHDRAWN,
        actor,
        Channel.SYSTEM,
        from_statuses=_OPEN_REQUEST,
        because=WithdrawnBecause.RESCHEDULED,
    ):
        raise RetryCommand()


async def _again(
    uow: UnitOfWork,
    booking: BookingView,
    job_id: int,
    actor: Actor,
    channel: Channel,
    ask_decliners: bool,
    *,
    exclude: Collection[int] = (),
    missed: bool = False,
) -> list[int] | None:
    """Dispatch an open job again at its new time; None when that is for staff (manual mode).

    Everyone eligible and reachable is asked, those asked for the old time included (their
    closed request reopens as pending): the time changed, so their answer may too. Not those who
    declined, unless `ask_decliners`; never those in `exclude`.
    """
    if booking.dispatch_mode is DispatchMode.MANUAL and not missed:
        return None
    eligible = set(await eligible_ids(uow, job_id)) - set(exclude)
    reachable = await uow.reachable_fieldworkers(eligible)
    again: list[RequestView] = [
        r
        for r in await uow.requests_of_job(job_id)
        if r.fieldworker_id in reachable
        and r.status not in _OPEN_REQUEST
        and (ask_decliners or r.status is not RequestStatus.DECLINED)
    ]
    sent: list[int] = []
    for request in again:
        job = await uow.get_job(job_id)  # fresh: the first reopen moves it to offered
        assert job is not None
        await reopen_request(uow, request, job, actor, channel, history=HistoryAction.REQUEST_SENT)
        sent.append(request.id)
    return sent + await dispatch_job(uow, job_id, actor, channel, exclude=exclude)
