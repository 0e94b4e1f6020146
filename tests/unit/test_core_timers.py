"""Time flows of the core, by moving the injected clock: no acceptance, unassigned close to start,
settings moving pending deadlines, firing once, dropping what comes too late."""

from __future__ import annotations

from datetime import timedelta

from dispatch import bookings, timers
from dispatch.commands import Action
from dispatch.deadlines import TimerKind, TimerStatus
from dispatch.events import CustomerStillWaiting, UnassignedSoon
from dispatch.model import Channel, DispatchMode, HistoryAction
from dispatch.settings import CompanySettings
from tests.unit.fakes import NOW, STAFF, START, answer, book, company


def emitted(uow, kind):
    return [e for e in uow.events if isinstance(e, kind)]


async def test_no_acceptance_tells_the_customer_once_after_the_configured_time() -> None:
    uow = company(2, customer_notify={"no_acceptance_after_s": 1800}, nudge_after_s=0)
    booked = await book(uow)
    uow.clock.advance(seconds=1799)
    assert await timers.fire_due(uow) == []
    uow.clock.advance(seconds=1)
    assert len(await timers.fire_due(uow)) == 1
    (event,) = emitted(uow, CustomerStillWaiting)
    assert event.booking_id == booked.id and event.job_ids == (booked.job_id,)
    uow.clock.advance(hours=1)
    assert await timers.fire_due(uow) == []  # once only
    assert len(emitted(uow, CustomerStillWaiting)) == 1


async def test_no_acceptance_is_dropped_when_someone_took_the_job() -> None:
    uow = company(2)
    booked = await book(uow)
    await answer(uow, booked.job_id, 1, Action.ACCEPT)
    uow.clock.advance(hours=1)
    assert await timers.fire_due(uow) == []
    assert not emitted(uow, CustomerStillWaiting)
    assert {t.status for t in uow.timers.values() if t.kind is TimerKind.NO_ACCEPTANCE} == {
        TimerStatus.DROPPED
    }


async def test_no_acceptance_off_at_zero_and_a_changed_setting_moves_the_pending_deadline() -> None:
    uow = company(2, customer_notify={"no_acceptance_after_s": 0}, nudge_after_s=0)
    await book(uow)
    uow.clock.advance(hours=2)
    assert await timers.fire_due(uow) == []
    before = uow.company_settings
    after = CompanySettings.model_validate(
        {**before.model_dump(), "customer_notify": {"no_acceptance_after_s": 3 * 3600}}
    )
    uow.company_settings = after
    await timers.settings_changed(uow, before, after)
    assert await timers.fire_due(uow) == []  # 2 h after booking: not yet
    uow.clock.advance(hours=1)
    assert len(await timers.fire_due(uow)) == 1


async def test_a_deadline_that_comes_after_the_start_is_dropped_not_sent_late() -> None:
    uow = company(2, customer_notify={"no_acceptance_after_s": 1800})
    await book(uow, start=NOW + timedelta(minutes=20))
    uow.clock.advance(hours=1)  # the process was down past the start
    assert await timers.fire_due(uow) == []
    assert not emitted(uow, CustomerStillWaiting) and not emitted(uow, UnassignedSoon)


async def test_unassigned_close_to_start_alerts_staff_with_a_suggestion_and_the_customer() -> None:
    uow = company(3, unassigned_alert_lead_s=7200)
    booked = await book(uow, mode=DispatchMode.MANUAL)
    uow.clock.at = START - timedelta(hours=2, seconds=1)
    fired = await timers.fire_due(uow)
    assert not emitted(uow, UnassignedSoon)
    uow.clock.advance(seconds=1)
    fired = await timers.fire_due(uow)
    assert len(fired) >= 1
    (event,) = emitted(uow, UnassignedSoon)
    assert event.job_ids == (booked.job_id,)
    assert event.suggested == ((booked.job_id, 1),)  # the nearest eligible fieldworker
    assert event.tell_customer
    alerted = [h for h in uow.history if h.action is HistoryAction.UNASSIGNED_ALERTED]
    assert [h.job_id for h in alerted] == [booked.job_id]


async def test_unassigned_close_to_start_stays_quiet_for_an_assigned_job() -> None:
    uow = company(2, unassigned_alert_lead_s=7200)
    await book(uow, fieldworker_id=1)
    uow.clock.at = START - timedelta(hours=1)
    await timers.fire_due(uow)
    assert not emitted(uow, UnassignedSoon)


async def test_the_customer_part_of_the_alert_follows_customer_notify() -> None:
    uow = company(2, customer_notify={"unassigned_before_start": False})
    await book(uow)
    uow.clock.at = START - timedelta(minutes=30)
    await timers.fire_due(uow)
    (event,) = emitted(uow, UnassignedSoon)
    assert not event.tell_customer


async def test_a_cancelled_booking_fires_nothing() -> None:
    uow = company(2)
    booked = await book(uow)
    await bookings.cancel_booking(uow, booked.id, STAFF, Channel.API)
    uow.clock.at = START - timedelta(minutes=1)
    assert await timers.fire_due(uow) == []


async def test_a_timer_fires_once_even_when_claimed_twice() -> None:
    uow = company(2)
    await book(uow)
    uow.clock.advance(hours=1)
    (timer_id, *_) = await uow.due_timer_ids(10)
    assert await timers.fire(uow, timer_id)
    assert not await timers.fire(uow, timer_id)  # the second claim loses
