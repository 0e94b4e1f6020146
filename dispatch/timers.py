"""When each timer is due, arming it with the state it follows, and firing it once.

Every deadline is `anchor ± a setting` (`due_for`), except the day-before confirmation, which is
an evening in the fieldworker's own time zone (`day_before_due`). A setting of 0 turns its timer
off (`due_at` NULL); changing a setting moves every pending timer of its kind
(`settings_changed`). Firing claims the timer and runs its flow in one transaction (`fire`): the
claim, the state change and the messages commit together or not at all, so a timer acts once
however many processes sweep and however often one restarts. A flow that finds nothing to do, or
comes too late to matter (its appointment already started), drops the timer instead of acting late.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatch.deadlines import TimerKind, TimerView
from dispatch.model import JobStatus
from dispatch.ports import JobView, UnitOfWork
from dispatch.settings import CompanySettings

#: The day-before confirmation is asked at this local time on the day before the appointment.
DAY_BEFORE_AT = time(18, 0)

Flow = Callable[[UnitOfWork, TimerView], Awaitable[bool]]


def offset_of(kind: TimerKind, settings: CompanySettings) -> timedelta | None:
    """How far from its anchor a timer of this kind is due; None when its setting turns it off."""
    seconds = {
        TimerKind.NO_ACCEPTANCE: settings.customer_notify.no_acceptance_after_s,
        TimerKind.UNASSIGNED_SOON: -settings.unassigned_alert_lead_s,
        TimerKind.NUDGE: settings.nudge_after_s,
        TimerKind.REMINDER: -settings.reminder_before_s,
    }.get(kind)
    if not seconds:
        return None
    return timedelta(seconds=seconds)


def due_for(kind: TimerKind, anchor: datetime, settings: CompanySettings) -> datetime | None:
    """When a timer of this kind anchored at `anchor` is due (None: off by its setting)."""
    offset = offset_of(kind, settings)
    return None if offset is None else anchor + offset


def day_before_due(start: datetime, timezone: str) -> datetime:
    """`DAY_BEFORE_AT` on the local day before `start`, in the fieldworker's time zone, as UTC."""
    zone = ZoneInfo(timezone)
    day = start.astimezone(zone).date() - timedelta(days=1)
    return datetime.combine(day, DAY_BEFORE_AT, tzinfo=zone).astimezone(UTC)


async def arm(
    uow: UnitOfWork, kind: TimerKind, subject_id: int, booking_id: int, anchor: datetime
) -> None:
    """Arm (or re-arm) a timer whose deadline is its anchor moved by its setting."""
    due = due_for(kind, anchor, await uow.settings())
    await uow.arm_timer(kind, subject_id, booking_id, anchor, due)


async def arm_for_booking(uow: UnitOfWork, booking_id: int, jobs: list[JobView]) -> None:
    """A new booking's timers: "still no acceptance" for the customer, and per appointment the
    "unassigned close to start" alert. (A job's own timers start when it is given to someone:
    `arm_for_assigned`.)"""
    await arm(uow, TimerKind.NO_ACCEPTANCE, booking_id, booking_id, uow.now())
    starts = {job.appointment_id: job.appointment.start for job in jobs}
    for appointment_id, start in sorted(starts.items()):
        await arm(uow, TimerKind.UNASSIGNED_SOON, appointment_id, booking_id, start)


async def arm_for_assigned(uow: UnitOfWork, job: JobView, fieldworker_id: int) -> None:
    """A job was just given to `fieldworker_id`: their reminder `reminder_before_s` before its
    start, and the day-before confirmation (asked only if `day_before_confirmation` is on when it
    comes due). A deadline already past when the job is given is not armed: the fieldworker has
    just been told the time, a reminder or a question right after it is noise."""
    now, start = uow.now(), job.appointment.start
    reminder = due_for(TimerKind.REMINDER, start, await uow.settings())
    if reminder is None or reminder > now:  # off (None) stays armed: a setting may turn it on
        await uow.arm_timer(TimerKind.REMINDER, job.id, job.booking_id, start, reminder)
    else:
        await uow.disarm_timer(TimerKind.REMINDER, job.id)
    day_before = day_before_due(start, await uow.fieldworker_timezone(fieldworker_id) or "UTC")
    if day_before > now:
        await uow.arm_timer(TimerKind.DAY_BEFORE, job.id, job.booking_id, start, day_before)
    else:
        await uow.disarm_timer(TimerKind.DAY_BEFORE, job.id)


async def appointment_moved(
    uow: UnitOfWork, booking_id: int, appointment_id: int, start: datetime, jobs: list[JobView]
) -> None:
    """An appointment was rescheduled to `start`: its timers count from the new time, and those
    that fired for the old time are armed again. `jobs` are the appointment's jobs, as moved: each
    one still assigned gets its reminder and day-before confirmation for the new time (a
    confirmation given for the old time no longer counts)."""
    await arm(uow, TimerKind.UNASSIGNED_SOON, appointment_id, booking_id, start)
    for moved in jobs:
        job = await uow.get_job(moved.id)
        if job is None or job.status is not JobStatus.ASSIGNED or job.fieldworker_id is None:
            continue
        await uow.confirm_job(job.id, job.fieldworker_id, None)
        await arm_for_assigned(uow, job, job.fieldworker_id)


async def settings_changed(
    uow: UnitOfWork, before: CompanySettings, after: CompanySettings
) -> None:
    """Move the pending deadlines whose setting changed (a 0 turns them off, until set again)."""
    for kind in TimerKind:
        offset = offset_of(kind, after)
        if kind is TimerKind.DAY_BEFORE or offset == offset_of(kind, before):
            continue
        for timer in await uow.pending_timers(kind):
            await uow.set_timer_due(timer.id, None if offset is None else timer.anchor_at + offset)


def _flows() -> dict[TimerKind, Flow]:
    # Imported here: the flows use the core's commands, which arm timers through this module.
    from dispatch import assist_choice, followups, reminders

    return {
        TimerKind.NO_ACCEPTANCE: followups.no_acceptance,
        TimerKind.UNASSIGNED_SOON: followups.unassigned_soon,
        TimerKind.NUDGE: reminders.nudge,
        TimerKind.REMINDER: reminders.reminder,
        TimerKind.DAY_BEFORE: reminders.day_before,
        TimerKind.OFFER_EXPIRY: assist_choice.offer_expired,
    }


async def fire(uow: UnitOfWork, timer_id: int) -> bool:
    """Claim a due timer and run its flow; True when it acted (False: taken, dropped, not due)."""
    timer = await uow.claim_timer(timer_id)
    if timer is None:
        return False
    flow = _flows().get(timer.kind)
    acted = flow is not None and await flow(uow, timer)
    if not acted:
        await uow.drop_timer(timer.id)
    return acted


async def fire_due(uow: UnitOfWork, limit: int = 200) -> list[int]:
    """Fire every timer due by now (in this one unit of work); the ids of those that acted.

    For tests and tools: the service fires each timer in a transaction of its own.
    """
    return [i for i in await uow.due_timer_ids(limit) if await fire(uow, i)]
