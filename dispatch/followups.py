"""Follow-ups when nobody takes a job in time: the customer is reassured, staff are alerted.

Both are timer flows (`dispatch.timers`): each returns True when it acted, False when there was
nothing to do (every job was taken, the booking was cancelled) or it came too late to matter (the
appointment already started), and the timer is dropped.
"""

from __future__ import annotations

from dispatch.deadlines import TimerView
from dispatch.events import CustomerStillWaiting, UnassignedSoon
from dispatch.model import OPEN_JOB_STATUSES, Actor, BookingStatus, Channel, HistoryAction
from dispatch.offering import eligible_ids
from dispatch.ports import JobView, UnitOfWork


async def _waiting_jobs(uow: UnitOfWork, booking_id: int) -> list[JobView]:
    """The booking's jobs nobody holds yet whose appointment has not started."""
    booking = await uow.get_booking(booking_id)
    if booking is None or booking.status is not BookingStatus.OPEN:
        return []
    now = uow.now()
    return [
        job
        for job in await uow.jobs_of_booking(booking_id)
        if job.status in OPEN_JOB_STATUSES and job.appointment.start > now
    ]


async def no_acceptance(uow: UnitOfWork, timer: TimerView) -> bool:
    """`no_acceptance_after_s` after a booking was made, jobs still untaken: tell the customer."""
    jobs = await _waiting_jobs(uow, timer.subject_id)
    if not jobs:
        return False
    # The renderer records `customer_notified` when the customer can be reached by a message.
    uow.emit(CustomerStillWaiting(timer.booking_id, tuple(j.id for j in jobs)))
    return True


async def unassigned_soon(uow: UnitOfWork, timer: TimerView) -> bool:
    """An appointment `unassigned_alert_lead_s` from its start with jobs nobody holds: alert staff
    (with the nearest eligible fieldworker not yet asked as a one-press choice) and, per
    `customer_notify.unassigned_before_start`, tell the customer."""
    jobs = [
        j
        for j in await _waiting_jobs(uow, timer.booking_id)
        if j.appointment_id == timer.subject_id
    ]
    if not jobs:
        return False
    suggested: list[tuple[int, int]] = []
    for job in jobs:
        asked = {r.fieldworker_id for r in await uow.requests_of_job(job.id)}
        eligible = await eligible_ids(uow, job.id)
        fresh = [fw for fw in eligible if fw not in asked]
        if fresh or eligible:
            suggested.append((job.id, (fresh or eligible)[0]))
    settings = await uow.settings()
    for job in jobs:
        await uow.add_history(
            job.booking_id,
            HistoryAction.UNASSIGNED_ALERTED,
            Actor.system(),
            job_id=job.id,
            channel=Channel.SYSTEM,
            details={
                "starts_at": job.appointment.start.isoformat(),
                "lead_s": settings.unassigned_alert_lead_s,
                "status": job.status.value,
            },
        )
    uow.emit(
        UnassignedSoon(
            timer.booking_id,
            timer.subject_id,
            tuple(j.id for j in jobs),
            tuple(suggested),
            tell_customer=settings.customer_notify.unassigned_before_start,
        )
    )
    return True
