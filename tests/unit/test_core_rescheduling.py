"""Core rules for rescheduling a booking (`dispatch.rescheduling`), run on the in-memory fake."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from dispatch import assignment, bookings, completion, offering, rescheduling, responding
from dispatch.commands import Action, AppointmentMove, JobOutcome, RescheduleResult
from dispatch.deadlines import TimerKind
from dispatch.errors import Conflict, DispatchError, Invalid
from dispatch.events import (
    AppointmentRescheduled,
    JobNobodyToAsk,
    JobRescheduled,
    JobUnassigned,
    RequestPended,
    RequestSent,
    RequestWithdrawn,
    WithdrawnBecause,
)
from dispatch.model import Channel, DispatchMode, HistoryAction, Interval, JobStatus, RequestStatus
from dispatch.ports import NewBooking
from dispatch.settings import CompanySettings
from tests.unit.fakes import (
    SITE,
    STAFF,
    START,
    FakeUnitOfWork,
    answer,
    book,
    company,
    fieldworker,
)

H = HistoryAction
PENDING, ACCEPTED, DECLINED, WITHDRAWN = (
    RequestStatus.PENDING,
    RequestStatus.ACCEPTED,
    RequestStatus.DECLINED,
    RequestStatus.WITHDRAWN,
)
LATER = START + timedelta(days=1)


async def move(
    uow: FakeUnitOfWork,
    booking_id: int,
    start: datetime = LATER,
    hours: float = 2,
    *,
    appointment_id: int | None = None,
    ask_decliners: bool = False,
) -> RescheduleResult:
    moves = [AppointmentMove(appointment_id, start, start + timedelta(hours=hours))]
    return await rescheduling.reschedule(
        uow, booking_id, moves, STAFF, Channel.API, ask_decliners=ask_decliners
    )


def off(uow: FakeUnitOfWork, fw_id: int, start: datetime, hours: float = 4) -> None:
    """Fieldworker `fw_id` is off from `start` for `hours`."""
    span = Interval(start, start + timedelta(hours=hours))
    uow.fieldworkers[fw_id] = replace(uow.fieldworkers[fw_id], time_off=(span,))


async def assigned_booking(uow: FakeUnitOfWork, mode: DispatchMode = DispatchMode.AUTO) -> int:
    """A booking whose one job fieldworker 1 accepted (auto: the others' requests withdrawn)."""
    booked = await book(uow, mode=mode)
    if mode is DispatchMode.MANUAL:
        await offering.send_requests(uow, [booked.job_id], [1, 2, 3], STAFF, Channel.API)
    await answer(uow, booked.job_id, 1, Action.ACCEPT)
    if mode is DispatchMode.MANUAL:
        await assignment.assign(uow, booked.job_id, 1, STAFF, Channel.API)
    assert uow.jobs[booked.job_id].status is JobStatus.ASSIGNED
    return booked.id


# The appointment moves, and the history says from when to when.


async def test_an_assigned_fieldworker_still_free_keeps_the_job_and_is_told() -> None:
    uow = company(3)
    booking_id = await assigned_booking(uow)
    job_id = uow.jobs[1].id
    uow.events.clear()

    result = await move(uow, booking_id)

    job = uow.jobs[job_id]
    assert job.appointment == Interval(LATER, LATER + timedelta(hours=2))
    assert (job.status, job.fieldworker_id) == (JobStatus.ASSIGNED, 1)
    [outcome] = result.jobs
    assert (outcome.outcome, outcome.fieldworker_id, outcome.sent) == (JobOutcome.KEPT, 1, ())
    assert result.moved == (job.appointment_id,)
    [told] = uow.emitted(JobRescheduled)
    assert (told.fieldworker_id, told.previous.start) == (1, START)
    assert uow.request_of(job_id, 1).status is ACCEPTED
    assert not uow.emitted(RequestWithdrawn), "the others lost the job already"
    [row] = uow.rows(H.BOOKING_RESCHEDULED)
    assert row.details == {
        "appointment_id": job.appointment_id,
        "from": {"start": START.isoformat(), "end": (START + timedelta(hours=2)).isoformat()},
        "to": {"start": LATER.isoformat(), "end": (LATER + timedelta(hours=2)).isoformat()},
        "job_ids": [job_id],
    }
    [news] = uow.emitted(AppointmentRescheduled)
    assert (news.job_ids, news.staff_job_ids, news.tell_customer) == ((job_id,), (), True)
    assert news.current == job.appointment


async def test_the_job_itself_is_no_conflict_when_it_moves_by_an_hour() -> None:
    uow = company(2)
    booking_id = await assigned_booking(uow)

    result = await move(uow, booking_id, START + timedelta(hours=1))

    assert [o.outcome for o in result.jobs] == [JobOutcome.KEPT]
    assert uow.jobs[1].fieldworker_id == 1


async def test_a_fieldworker_not_free_at_the_new_time_loses_the_job_and_it_goes_out_again() -> None:
    uow = company(3)
    booking_id = await assigned_booking(uow)
    off(uow, 1, LATER)
    uow.events.clear()

    result = await move(uow, booking_id)

    job = uow.jobs[1]
    assert job.status is JobStatus.OFFERED and job.fieldworker_id is None
    [outcome] = result.jobs
    assert outcome.outcome is JobOutcome.UNASSIGNED
    assert outcome.fieldworker_id == 1 and not outcome.for_staff
    mine = uow.request_of(1, 1)
    assert mine.status is WITHDRAWN and outcome.withdrawn == (mine.id,)
    [withdrawn] = uow.emitted(RequestWithdrawn)
    assert (withdrawn.fieldworker_id, withdrawn.because) == (1, WithdrawnBecause.RESCHEDULED)
    [unassigned] = uow.emitted(JobUnassigned)
    assert (unassigned.fieldworker_id, unassigned.rescheduled) == (1, True)
    [row] = uow.rows(H.JOB_UNASSIGNED)
    assert row.details == {"fieldworker_id": 1, "because": "rescheduled"}
    # Those who lost the job to fieldworker 1 for the old time are asked for the new one.
    assert uow.asked(1, PENDING) == [2, 3]
    assert sorted(outcome.sent) == sorted(uow.request_of(1, fw).id for fw in (2, 3))
    assert {e.fieldworker_id for e in uow.emitted(RequestPended)} == {2, 3}


async def test_a_clash_with_another_job_at_the_new_time_unassigns() -> None:
    uow = company(2)
    booking_id = await assigned_booking(uow)
    other = await book(uow, start=LATER)
    await answer(uow, other.job_id, 1, Action.ACCEPT)

    result = await move(uow, booking_id, LATER + timedelta(hours=1))

    assert result.jobs[0].outcome is JobOutcome.UNASSIGNED
    assert uow.asked(1, PENDING) == [2]


async def test_requests_for_the_old_time_are_withdrawn_and_sent_again_not_to_decliners() -> None:
    uow = company(3)
    booked = await book(uow)
    await answer(uow, booked.job_id, 2, Action.DECLINE, reason="Too far")
    uow.events.clear()

    result = await move(uow, booked.id)

    [outcome] = result.jobs
    assert outcome.outcome is JobOutcome.REDISPATCHED
    withdrawn = uow.emitted(RequestWithdrawn)
    assert [(e.fieldworker_id, e.because) for e in withdrawn] == [
        (1, WithdrawnBecause.RESCHEDULED),
        (3, WithdrawnBecause.RESCHEDULED),
    ]
    assert uow.asked(booked.job_id, PENDING) == [1, 3]
    assert uow.request_of(booked.job_id, 2).status is DECLINED, "a decliner is not asked again"
    assert uow.jobs[booked.job_id].status is JobStatus.OFFERED
    assert [r for r in uow.rows(H.REQUEST_WITHDRAWN) if r.details.get("because") == "rescheduled"]


async def test_staff_may_ask_the_decliners_again() -> None:
    uow = company(2)
    booked = await book(uow)
    await answer(uow, booked.job_id, 2, Action.DECLINE, reason="Not available")

    await move(uow, booked.id, ask_decliners=True)

    assert uow.asked(booked.job_id, PENDING) == [1, 2]


async def test_someone_newly_eligible_at_the_new_time_is_asked() -> None:
    uow = company(2)
    off(uow, 2, START)
    booked = await book(uow)
    assert uow.asked(booked.job_id) == [1]

    await move(uow, booked.id)

    assert uow.asked(booked.job_id, PENDING) == [1, 2]
    assert [e.fieldworker_id for e in uow.emitted(RequestSent)][-1] == 2


async def test_nobody_eligible_at_the_new_time_alerts_staff() -> None:
    uow = company(1)
    booked = await book(uow)
    off(uow, 1, LATER)
    uow.events.clear()

    await move(uow, booked.id)

    assert uow.jobs[booked.job_id].status is JobStatus.UNASSIGNED
    assert [e.job_id for e in uow.emitted(JobNobodyToAsk)] == [booked.job_id]


# Manual mode: staff dispatch again, and are alerted.


async def test_in_manual_mode_requests_are_withdrawn_and_the_job_left_for_staff() -> None:
    uow = company(3)
    booked = await book(uow, mode=DispatchMode.MANUAL)
    await offering.send_requests(uow, [booked.job_id], [1, 2], STAFF, Channel.API)
    await answer(uow, booked.job_id, 1, Action.ACCEPT)  # waiting for staff to confirm
    uow.events.clear()

    result = await move(uow, booked.id)

    [outcome] = result.jobs
    assert outcome.for_staff and outcome.sent == ()
    assert uow.asked(booked.job_id, PENDING, ACCEPTED) == []
    assert uow.jobs[booked.job_id].status is JobStatus.UNASSIGNED
    [news] = uow.emitted(AppointmentRescheduled)
    assert news.staff_job_ids == (booked.job_id,)


async def test_in_manual_mode_an_unassigned_job_is_left_for_staff() -> None:
    uow = company(3)
    booking_id = await assigned_booking(uow, DispatchMode.MANUAL)
    off(uow, 1, LATER)

    result = await move(uow, booking_id)

    [outcome] = result.jobs
    assert (outcome.outcome, outcome.for_staff) == (JobOutcome.UNASSIGNED, True)
    assert uow.asked(1, PENDING) == []
    assert uow.jobs[1].status is JobStatus.UNASSIGNED


# A missed job goes out again at the new time, in either mode, never to the one who dropped out.


@pytest.mark.parametrize("mode", list(DispatchMode))
async def test_a_reschedule_after_a_cancellation_rebroadcasts(mode: DispatchMode) -> None:
    uow = company(3, auto_rebroadcast_on_cancel=False)
    booking_id = await assigned_booking(uow, mode)
    await responding.no_longer_attending(
        uow, 1, 1, fieldworker(1), Channel.TELEGRAM, reason="Van broke down"
    )
    assert uow.jobs[1].status is JobStatus.MISSED

    result = await move(uow, booking_id)

    assert result.jobs[0].outcome is JobOutcome.REDISPATCHED
    assert uow.jobs[1].status is JobStatus.OFFERED
    assert uow.asked(1, PENDING) == [2, 3]
    assert uow.request_of(1, 1).status is DECLINED


# Nothing to do, and refusals: nothing changes.


async def test_the_same_time_changes_and_sends_nothing() -> None:
    uow = company(3)
    booking_id = await assigned_booking(uow)
    history, events = len(uow.history), len(uow.events)

    result = await move(uow, booking_id, START)

    assert not result.changed and result.jobs == ()
    assert (len(uow.history), len(uow.events)) == (history, events)


async def two_appointments(uow: FakeUnitOfWork) -> int:
    slots = tuple(Interval(s, s + timedelta(hours=2)) for s in (START, LATER))
    new = NewBooking(
        "Cleo", "+4915100000000", None, "Street 1", SITE, ("plumb",), slots, DispatchMode.AUTO
    )
    return await bookings.create_booking(uow, new, STAFF, Channel.API)


async def test_one_appointment_of_several_moves_by_its_id() -> None:
    uow = company(2)
    booking_id = await two_appointments(uow)
    first, second = await uow.jobs_of_booking(booking_id)
    uow.events.clear()

    result = await move(
        uow, booking_id, LATER + timedelta(days=1), appointment_id=second.appointment_id
    )

    assert [o.job_id for o in result.jobs] == [second.id]
    assert uow.jobs[first.id].appointment.start == START
    assert uow.jobs[second.id].appointment.start == LATER + timedelta(days=1)
    assert len(uow.emitted(AppointmentRescheduled)) == 1


def to(appointment_id: int | None, hours: float, start: datetime = LATER) -> AppointmentMove:
    return AppointmentMove(appointment_id, start, start + timedelta(hours=hours))


NAIVE = LATER.replace(tzinfo=None)


@pytest.mark.parametrize(
    ("moves", "code", "field"),
    [
        ([to(None, 1)], "appointment_id_required", "appointments.0.id"),
        ([to(99, 1)], "appointment_not_found", "appointments.0.id"),
        ([to(1, 0)], "end_before_start", "appointments.0.end"),
        ([to(1, -1)], "end_before_start", "appointments.0.end"),
        ([to(1, 1, NAIVE)], "time_without_offset", "appointments.0.start"),
        ([to(1, 1), to(1, 2)], "duplicate_appointment", "appointments.1.id"),
        ([to(2, 3), to(7, 1)], "appointment_not_found", "appointments.1.id"),
        ([], "no_appointments", "appointments"),
    ],
)
async def test_a_bad_move_is_refused_and_changes_nothing(
    moves: list[AppointmentMove], code: str, field: str
) -> None:
    uow = company(2)
    booking_id = await two_appointments(uow)
    history, events = len(uow.history), len(uow.events)
    before = {j.id: j.appointment for j in uow.jobs.values()}

    with pytest.raises(Invalid) as refused:
        await rescheduling.reschedule(uow, booking_id, moves, STAFF, Channel.API)

    assert (refused.value.code, refused.value.field) == (code, field)
    assert {j.id: j.appointment for j in uow.jobs.values()} == before
    assert (len(uow.history), len(uow.events)) == (history, events)


@pytest.mark.parametrize("status", ["cancel", "complete"])
async def test_a_closed_booking_cannot_move(status: str) -> None:
    uow = company(2)
    booking_id = await assigned_booking(uow)
    if status == "cancel":
        await bookings.cancel_booking(uow, booking_id, STAFF, Channel.API)
    else:
        await completion.complete_jobs(uow, booking_id, None, STAFF, Channel.API)
    history = len(uow.history)

    with pytest.raises(Conflict) as refused:
        await move(uow, booking_id)

    assert refused.value.code == "booking_not_open"
    assert len(uow.history) == history
    assert uow.jobs[1].appointment.start == START


async def test_an_unknown_booking_is_not_found() -> None:
    with pytest.raises(DispatchError) as refused:
        await move(company(1), 42)
    assert refused.value.code == "booking_not_found"


# Timers and the customer.


async def test_the_unassigned_soon_alert_counts_from_the_new_start() -> None:
    uow = company(1)
    booked = await book(uow)
    appointment_id = uow.jobs[booked.job_id].appointment_id

    await move(uow, booked.id)

    [timer] = [
        t
        for t in uow.timers.values()
        if t.kind is TimerKind.UNASSIGNED_SOON and t.subject_id == appointment_id
    ]
    assert timer.anchor_at == LATER


async def test_the_customer_is_not_told_when_the_setting_is_off() -> None:
    uow = company(1)
    uow.company_settings = CompanySettings.model_validate(
        {"customer_notify": {"rescheduled": False}}
    )
    booked = await book(uow)

    await move(uow, booked.id)

    [news] = uow.emitted(AppointmentRescheduled)
    assert not news.tell_customer
