"""Reminders (CONTRACT §5): a nudge for an unanswered request, a reminder before an assigned job,
and the day-before confirmation with its answer.

The three are timer flows (`dispatch.timers`), armed where their state begins: a request sent or
sent again arms its nudge (`offering`, `steps.reopen_request`), a job given to someone arms its
reminder and day-before confirmation (`timers.arm_for_assigned`, from `assignment.assign` and an
accept in `responding`). Each flow returns True when it acted, False when there was nothing to do
(the request was answered, the job left its fieldworker, the setting is off, nobody can be reached)
or it came too late (the appointment started): the timer is dropped then, never acted on late.
Every message sent is a `reminder_sent` history row naming its kind.
"""

from __future__ import annotations

from dispatch.commands import Outcome, RespondResult
from dispatch.deadlines import TimerView
from dispatch.errors import RetryCommand
from dispatch.events import AttendanceAsked, JobReminder, RequestNudged
from dispatch.model import (
    OPEN_JOB_STATUSES,
    Actor,
    BookingStatus,
    Channel,
    HistoryAction,
    JobStatus,
    RequestStatus,
)
from dispatch.ports import JobView, UnitOfWork
from dispatch.reachability import message_channel
from dispatch.steps import load_job


async def _channel(uow: UnitOfWork, fieldworker_id: int) -> Channel | None:
    """The channel a message to the fieldworker goes by now (None: nothing reaches them)."""
    contact = await uow.contact(fieldworker_id)
    return None if contact is None else message_channel(contact, uow.channels_on)


async def _upcoming(uow: UnitOfWork, job_id: int) -> JobView | None:
    """The job, when its booking is open and its appointment has not started yet."""
    job = await uow.get_job(job_id)
    if job is None or job.appointment.start <= uow.now():
        return None
    booking = await uow.get_booking(job.booking_id)
    if booking is None or booking.status is not BookingStatus.OPEN:
        return None
    return job


async def _held(uow: UnitOfWork, job_id: int) -> tuple[JobView, int, Channel] | None:
    """An upcoming job still assigned, its fieldworker and the channel that reaches them."""
    job = await _upcoming(uow, job_id)
    if job is None or job.status is not JobStatus.ASSIGNED or job.fieldworker_id is None:
        return None
    channel = await _channel(uow, job.fieldworker_id)
    if channel is None:
        return None
    return job, job.fieldworker_id, channel


async def _record(
    uow: UnitOfWork,
    job: JobView,
    kind: str,
    fieldworker_id: int,
    channel: Channel,
    request_id: int | None = None,
) -> None:
    await uow.add_history(
        job.booking_id,
        HistoryAction.REMINDER_SENT,
        Actor.system(),
        job_id=job.id,
        request_id=request_id,
        channel=channel,
        details={"kind": kind, "fieldworker_id": fieldworker_id},
    )


async def nudge(uow: UnitOfWork, timer: TimerView) -> bool:
    """`nudge_after_s` after a request was sent, still unanswered: remind its fieldworker once."""
    request = await uow.get_request(timer.subject_id)
    if request is None or request.status is not RequestStatus.PENDING:
        return False
    job = await _upcoming(uow, request.job_id)
    if job is None or job.status not in OPEN_JOB_STATUSES:
        return False
    channel = await _channel(uow, request.fieldworker_id)
    if channel is None:
        return False
    await _record(uow, job, "nudge", request.fieldworker_id, channel, request.id)
    uow.emit(RequestNudged(job.booking_id, request.id, job.id, request.fieldworker_id))
    return True


async def reminder(uow: UnitOfWork, timer: TimerView) -> bool:
    """`reminder_before_s` before an assigned job starts: remind whoever holds it now."""
    held = await _held(uow, timer.subject_id)
    if held is None:
        return False
    job, fieldworker_id, channel = held
    await _record(uow, job, "reminder", fieldworker_id, channel)
    uow.emit(JobReminder(job.booking_id, job.id, fieldworker_id))
    return True


async def day_before(uow: UnitOfWork, timer: TimerView) -> bool:
    """The evening before (their time zone), with `day_before_confirmation` on at that moment:
    ask the assigned fieldworker to confirm they will attend, unless they already did."""
    if not (await uow.settings()).day_before_confirmation:
        return False
    held = await _held(uow, timer.subject_id)
    if held is None or held[0].confirmed_at is not None:
        return False
    job, fieldworker_id, channel = held
    mine = await uow.find_request(job.id, fieldworker_id)
    code = mine.reply_code if mine is not None and mine.status is RequestStatus.ACCEPTED else None
    await _record(uow, job, "day_before", fieldworker_id, channel)
    uow.emit(AttendanceAsked(job.booking_id, job.id, fieldworker_id, code))
    return True


async def confirm_attendance(
    uow: UnitOfWork, job_id: int, fieldworker_id: int, actor: Actor, channel: Channel
) -> RespondResult:
    """The assigned fieldworker confirms they will attend (the day-before `Confirm`, SMS
    `CONFIRM`): recorded once (`reminder_confirmed`). A job no longer theirs is `CLOSED` and a
    repeat `ALREADY_CONFIRMED`; neither changes anything. ("Can't attend" is
    `responding.no_longer_attending`.)"""
    job, _ = await load_job(uow, job_id, lock=True)
    if job.status is not JobStatus.ASSIGNED or job.fieldworker_id != fieldworker_id:
        return RespondResult(Outcome.CLOSED, None, job_id, job.booking_id)
    if job.confirmed_at is not None:
        return RespondResult(Outcome.ALREADY_CONFIRMED, None, job_id, job.booking_id)
    if not await uow.confirm_job(job_id, fieldworker_id, uow.now()):
        raise RetryCommand()
    await uow.add_history(
        job.booking_id,
        HistoryAction.REMINDER_CONFIRMED,
        actor,
        job_id=job_id,
        channel=channel,
        details={"fieldworker_id": fieldworker_id, "starts_at": job.appointment.start.isoformat()},
    )
    return RespondResult(Outcome.CONFIRMED, None, job_id, job.booking_id)
