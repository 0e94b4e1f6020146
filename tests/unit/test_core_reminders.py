"""Reminders by moving the injected clock: a nudge for an unanswered request, a reminder before an
assigned job, the day-before confirmation and its answer. Each fires once, is dropped when its
state moved on (answered, unassigned, started), and follows the job to a new assignee."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatch import assignment, bookings, offering, replies, responding, timers
from dispatch.commands import Action, Outcome
from dispatch.deadlines import TimerKind, TimerStatus
from dispatch.errors import Conflict, NotFound
from dispatch.events import AttendanceAsked, JobReminder, RequestNudged
from dispatch.model import Channel, DispatchMode, HistoryAction, Interval
from dispatch.reminders import confirm_attendance
from dispatch.settings import CompanySettings
from tests.unit.fakes import (
    NOW,
    SITE,
    STAFF,
    START,
    FakeUnitOfWork,
    answer,
    book,
    company,
    fieldworker,
    near,
)

#: 18:00 UTC the evening before START: when a fieldworker in UTC is asked to confirm.
EVENING_BEFORE = datetime(2026, 11, 30, 18, tzinfo=UTC)


def sent(uow: FakeUnitOfWork, kind: str) -> list[dict[str, object]]:
    """The details of the `reminder_sent` rows of one kind, in order."""
    return [
        dict(h.details) for h in uow.rows(HistoryAction.REMINDER_SENT) if h.details["kind"] == kind
    ]


def quiet(**settings: object) -> FakeUnitOfWork:
    """Two fieldworkers; the customer and staff follow-ups off so only reminders fire."""
    base: dict[str, object] = {
        "customer_notify": {"no_acceptance_after_s": 0},
        "unassigned_alert_lead_s": 0,
    }
    return company(2, **{**base, **settings})


# -- nudge -----------------------------------------------------------------------------------------


async def test_an_unanswered_request_is_nudged_once_after_nudge_after_s() -> None:
    uow = quiet(nudge_after_s=600)
    booked = await book(uow)
    uow.clock.advance(seconds=599)
    await timers.fire_due(uow)
    assert not uow.emitted(RequestNudged)
    uow.clock.advance(seconds=1)
    await timers.fire_due(uow)
    nudges = uow.emitted(RequestNudged)
    assert sorted(n.fieldworker_id for n in nudges) == [1, 2]
    assert {n.request_id for n in nudges} == {uow.request_of(booked.job_id, f).id for f in (1, 2)}
    assert sent(uow, "nudge") == [
        {"kind": "nudge", "fieldworker_id": 1},
        {"kind": "nudge", "fieldworker_id": 2},
    ]
    assert {h.channel for h in uow.rows(HistoryAction.REMINDER_SENT)} == {Channel.TELEGRAM}
    uow.clock.advance(hours=3)
    await timers.fire_due(uow)
    assert len(uow.emitted(RequestNudged)) == 2  # once per request


async def test_a_request_answered_in_time_is_not_nudged() -> None:
    uow = quiet(nudge_after_s=600)
    booked = await book(uow)
    await answer(uow, booked.job_id, 2, Action.DECLINE, reason="Too far")
    uow.clock.advance(seconds=300)
    await answer(uow, booked.job_id, 1, Action.ACCEPT)  # fw 2 declined; nobody else is open
    uow.clock.advance(hours=1)
    await timers.fire_due(uow)
    assert not uow.emitted(RequestNudged)
    nudges = [t for t in uow.timers.values() if t.kind is TimerKind.NUDGE]
    assert {t.status for t in nudges} == {TimerStatus.DROPPED}


async def test_no_nudge_once_the_appointment_started_or_with_nudges_off() -> None:
    uow = quiet(nudge_after_s=600)
    await book(uow, start=NOW + timedelta(minutes=5))
    uow.clock.advance(minutes=30)  # the process was down past the start
    await timers.fire_due(uow)
    assert not uow.emitted(RequestNudged)

    off = quiet(nudge_after_s=0)
    await book(off)
    off.clock.advance(hours=5)
    await timers.fire_due(off)
    assert not off.emitted(RequestNudged)


async def test_a_request_sent_again_gets_a_new_nudge() -> None:
    uow = quiet(nudge_after_s=600, assignment_timeout_s=0)
    booked = await book(uow, mode=DispatchMode.MANUAL)
    await offering.send_requests(uow, [booked.job_id], [1], STAFF, Channel.API)
    uow.clock.advance(seconds=600)
    await timers.fire_due(uow)
    assert len(uow.emitted(RequestNudged)) == 1
    await answer(uow, booked.job_id, 1, Action.DECLINE, reason="Personal")
    await offering.send_requests(uow, [booked.job_id], [1], STAFF, Channel.API)  # staff ask again
    uow.clock.advance(seconds=599)
    await timers.fire_due(uow)
    assert len(uow.emitted(RequestNudged)) == 1
    uow.clock.advance(seconds=1)
    await timers.fire_due(uow)
    assert len(uow.emitted(RequestNudged)) == 2


async def test_a_changed_nudge_setting_moves_the_pending_nudges() -> None:
    uow = quiet(nudge_after_s=600)
    await book(uow)
    before = uow.company_settings
    after = CompanySettings.model_validate({**before.model_dump(), "nudge_after_s": 1200})
    uow.company_settings = after
    await timers.settings_changed(uow, before, after)
    uow.clock.advance(seconds=900)
    await timers.fire_due(uow)
    assert not uow.emitted(RequestNudged)
    uow.clock.advance(seconds=300)
    await timers.fire_due(uow)
    assert len(uow.emitted(RequestNudged)) == 2


# -- reminder before the start ---------------------------------------------------------------------


async def test_the_assignee_is_reminded_once_reminder_before_s_before_the_start() -> None:
    uow = quiet(nudge_after_s=0, reminder_before_s=3600)
    booked = await book(uow)
    await answer(uow, booked.job_id, 1, Action.ACCEPT)
    uow.clock.at = START - timedelta(seconds=3601)
    await timers.fire_due(uow)
    assert not uow.emitted(JobReminder)
    uow.clock.advance(seconds=1)
    await timers.fire_due(uow)
    (event,) = uow.emitted(JobReminder)
    assert (event.job_id, event.fieldworker_id) == (booked.job_id, 1)
    assert sent(uow, "reminder") == [{"kind": "reminder", "fieldworker_id": 1}]
    uow.clock.advance(minutes=30)
    await timers.fire_due(uow)
    assert len(uow.emitted(JobReminder)) == 1


async def test_a_reassigned_job_reminds_the_new_assignee_only() -> None:
    uow = quiet(nudge_after_s=0, reminder_before_s=3600)
    booked = await book(uow)
    await answer(uow, booked.job_id, 1, Action.ACCEPT)
    uow.clock.advance(hours=2)
    await assignment.assign(uow, booked.job_id, 2, STAFF, Channel.API)
    uow.clock.at = START - timedelta(hours=1)
    await timers.fire_due(uow)
    assert [e.fieldworker_id for e in uow.emitted(JobReminder)] == [2]


@pytest.mark.parametrize("how", ["unassigned", "dropped out", "booking cancelled"])
async def test_no_reminder_for_a_job_that_left_its_fieldworker(how: str) -> None:
    uow = quiet(nudge_after_s=0, reminder_before_s=3600)
    booked = await book(uow, mode=DispatchMode.MANUAL, fieldworker_id=1)
    if how == "unassigned":
        await assignment.unassign(uow, booked.job_id, STAFF, Channel.API, reason="Sick")
    elif how == "dropped out":
        await responding.no_longer_attending(
            uow, booked.job_id, 1, fieldworker(1), Channel.TELEGRAM, reason="Personal"
        )
    else:
        await bookings.cancel_booking(uow, booked.id, STAFF, Channel.API)
    uow.clock.at = START - timedelta(minutes=30)
    await timers.fire_due(uow)
    assert not uow.emitted(JobReminder)
    assert not sent(uow, "reminder")


async def test_no_reminder_after_the_start_nor_for_a_job_given_after_the_reminder_time() -> None:
    uow = quiet(nudge_after_s=0, reminder_before_s=3600)
    booked = await book(uow)
    await answer(uow, booked.job_id, 1, Action.ACCEPT)
    uow.clock.at = START + timedelta(minutes=1)  # down past the start
    await timers.fire_due(uow)
    assert not uow.emitted(JobReminder)

    late = quiet(nudge_after_s=0, reminder_before_s=3600)
    booked = await book(late)
    late.clock.at = START - timedelta(minutes=30)
    await answer(late, booked.job_id, 1, Action.ACCEPT)  # they know the time: no reminder now
    await timers.fire_due(late)
    assert not late.emitted(JobReminder)


async def test_a_moved_appointment_reminds_at_its_new_time() -> None:
    uow = quiet(nudge_after_s=0, reminder_before_s=3600)
    booked = await book(uow, fieldworker_id=1)
    uow.clock.at = START - timedelta(hours=1)
    await timers.fire_due(uow)
    assert len(uow.emitted(JobReminder)) == 1
    later = START + timedelta(days=2)
    row = uow.jobs[booked.job_id]
    row.appointment = Interval(later, later + timedelta(hours=2))
    await timers.appointment_moved(uow, booked.id, row.appointment_id, later, [row.view()])
    uow.clock.at = later - timedelta(hours=1, seconds=1)
    await timers.fire_due(uow)
    assert len(uow.emitted(JobReminder)) == 1
    uow.clock.advance(seconds=1)
    await timers.fire_due(uow)
    assert len(uow.emitted(JobReminder)) == 2


# -- the day before --------------------------------------------------------------------------------


async def test_the_day_before_the_assignee_is_asked_to_confirm_at_18_in_their_zone() -> None:
    uow = quiet(nudge_after_s=0, reminder_before_s=0, day_before_confirmation=True)
    uow.add_fieldworker(
        services=frozenset({"plumb"}), base_location=near(SITE, 0.05), timezone="America/New_York"
    )
    booked = await book(uow)
    await answer(uow, booked.job_id, 3, Action.ACCEPT)
    uow.clock.at = EVENING_BEFORE
    await timers.fire_due(uow)
    assert not uow.emitted(AttendanceAsked)  # 13:00 in New York
    uow.clock.at = datetime(2026, 11, 30, 23, tzinfo=UTC)  # 18:00 in New York
    await timers.fire_due(uow)
    (asked,) = uow.emitted(AttendanceAsked)
    assert (asked.job_id, asked.fieldworker_id) == (booked.job_id, 3)
    assert asked.reply_code == uow.request_of(booked.job_id, 3).reply_code
    assert sent(uow, "day_before") == [{"kind": "day_before", "fieldworker_id": 3}]
    uow.clock.advance(hours=1)
    await timers.fire_due(uow)
    assert len(uow.emitted(AttendanceAsked)) == 1


async def test_day_before_confirmation_is_checked_when_it_comes_due() -> None:
    uow = quiet(nudge_after_s=0, reminder_before_s=0, day_before_confirmation=False)
    await book(uow, fieldworker_id=1)
    uow.company_settings = CompanySettings.model_validate(
        {**uow.company_settings.model_dump(), "day_before_confirmation": True}
    )
    uow.clock.at = EVENING_BEFORE
    await timers.fire_due(uow)
    (asked,) = uow.emitted(AttendanceAsked)
    assert asked.reply_code is None  # given directly: no request, no code

    off = quiet(nudge_after_s=0, reminder_before_s=0, day_before_confirmation=True)
    await book(off, fieldworker_id=1)
    off.company_settings = CompanySettings.model_validate(
        {**off.company_settings.model_dump(), "day_before_confirmation": False}
    )
    off.clock.at = EVENING_BEFORE
    await timers.fire_due(off)
    assert not off.emitted(AttendanceAsked)
    assert not sent(off, "day_before")


async def test_a_job_given_after_the_evening_before_is_not_asked() -> None:
    uow = quiet(nudge_after_s=0, reminder_before_s=0, day_before_confirmation=True)
    booked = await book(uow)
    uow.clock.at = EVENING_BEFORE + timedelta(hours=1)
    await answer(uow, booked.job_id, 1, Action.ACCEPT)
    uow.clock.advance(hours=5)
    await timers.fire_due(uow)
    assert not uow.emitted(AttendanceAsked)


async def test_confirm_is_recorded_once_and_only_by_the_assignee() -> None:
    uow = quiet(nudge_after_s=0, day_before_confirmation=True)
    booked = await book(uow, fieldworker_id=1)
    uow.clock.at = EVENING_BEFORE
    await timers.fire_due(uow)
    stranger = await confirm_attendance(uow, booked.job_id, 2, fieldworker(2), Channel.TELEGRAM)
    assert stranger.outcome is Outcome.CLOSED and uow.jobs[booked.job_id].confirmed_at is None
    done = await confirm_attendance(uow, booked.job_id, 1, fieldworker(1), Channel.TELEGRAM)
    assert done.outcome is Outcome.CONFIRMED
    assert uow.jobs[booked.job_id].confirmed_at == EVENING_BEFORE
    again = await confirm_attendance(uow, booked.job_id, 1, fieldworker(1), Channel.SMS)
    assert again.outcome is Outcome.ALREADY_CONFIRMED
    (row,) = uow.rows(HistoryAction.REMINDER_CONFIRMED)
    assert (row.job_id, row.channel, row.details["fieldworker_id"]) == (
        booked.job_id,
        Channel.TELEGRAM,
        1,
    )


async def test_a_confirmation_belongs_to_its_holder_and_a_confirmed_job_is_not_asked() -> None:
    uow = quiet(nudge_after_s=0, day_before_confirmation=True)
    booked = await book(uow, fieldworker_id=1)
    await confirm_attendance(uow, booked.job_id, 1, fieldworker(1), Channel.SMS)
    uow.clock.at = EVENING_BEFORE
    await timers.fire_due(uow)
    assert not uow.emitted(AttendanceAsked)  # confirmed before being asked

    other = quiet(nudge_after_s=0, day_before_confirmation=True)
    booked = await book(other, fieldworker_id=1)
    await confirm_attendance(other, booked.job_id, 1, fieldworker(1), Channel.SMS)
    await assignment.assign(other, booked.job_id, 2, STAFF, Channel.API)
    assert other.jobs[booked.job_id].confirmed_at is None
    other.clock.at = EVENING_BEFORE
    await timers.fire_due(other)
    assert [e.fieldworker_id for e in other.emitted(AttendanceAsked)] == [2]


async def test_a_stale_confirm_after_a_dropout_changes_nothing() -> None:
    uow = quiet(nudge_after_s=0, day_before_confirmation=True)
    booked = await book(uow, mode=DispatchMode.MANUAL, fieldworker_id=1)
    uow.clock.at = EVENING_BEFORE
    await timers.fire_due(uow)
    await responding.no_longer_attending(
        uow, booked.job_id, 1, fieldworker(1), Channel.TELEGRAM, reason="Personal"
    )
    history = len(uow.history)
    result = await confirm_attendance(uow, booked.job_id, 1, fieldworker(1), Channel.TELEGRAM)
    assert result.outcome is Outcome.CLOSED
    assert len(uow.history) == history and uow.jobs[booked.job_id].confirmed_at is None


async def test_confirm_by_sms_names_the_job_by_code_or_the_only_unconfirmed_one() -> None:
    uow = quiet(nudge_after_s=0)
    first = await book(uow)
    await answer(uow, first.job_id, 1, Action.ACCEPT)
    code = uow.request_of(first.job_id, 1).reply_code
    assert await replies.job_meant_by_confirm(uow, 1, code) == first.job_id
    assert await replies.job_meant_by_confirm(uow, 1, None) == first.job_id
    with pytest.raises(NotFound):
        await replies.job_meant_by_confirm(uow, 1, 9999)
    with pytest.raises(NotFound):
        await replies.job_meant_by_confirm(uow, 2, None)
    second = await book(uow, start=START + timedelta(days=1), fieldworker_id=1)
    with pytest.raises(Conflict):
        await replies.job_meant_by_confirm(uow, 1, None)  # which one?
    await confirm_attendance(uow, first.job_id, 1, fieldworker(1), Channel.SMS)
    assert await replies.job_meant_by_confirm(uow, 1, None) == second.job_id
