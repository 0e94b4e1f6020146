"""Reschedule Assist in the core: suggested times, proposing, superseding, expiry, the customer's
choice (the proposer gets the job, or it is dispatched again at the new time)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch import assignment, assist, assist_choice, bookings, responding, timers
from dispatch.assist_choice import ChoiceOutcome
from dispatch.commands import Action, BookingChanges
from dispatch.errors import DispatchError
from dispatch.events import (
    ProposalInvited,
    RescheduleChosen,
    RescheduleOfferExpired,
    RescheduleProposed,
)
from dispatch.model import (
    Channel,
    FieldworkerProfile,
    HistoryAction,
    Interval,
    JobStatus,
    RequestStatus,
)
from dispatch.offers import OfferStatus
from dispatch.reachability import ChannelsOn
from tests.unit.fakes import (
    NOW,
    STAFF,
    START,
    FakeUnitOfWork,
    answer,
    book,
    company,
    fieldworker,
)

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = {d: [("08:00", "17:00")] for d in ("mon", "tue", "wed", "thu", "fri")}
PHONE = "+4915100000000"  # the customer of `book`


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall time in Berlin in November/December 2026, as UTC."""
    month, day = (11, day) if day > 20 else (12, day)
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def starts(slots: list[Interval]) -> list[datetime]:
    return [s.start for s in slots]


# suggest_slots: pure.


def test_one_slot_per_day_from_working_hours_in_the_fieldworkers_zone() -> None:
    profile = FieldworkerProfile(id=1, working_hours=WEEKDAYS, timezone="Europe/Berlin")
    now = berlin(23, 11, 10)  # Monday 23 Nov, 11:10 in Berlin
    got = assist.suggest_slots(profile, timedelta(hours=2), now, count=3)
    # Not before an hour from now, on the half-hour grid; then each next day's first free time.
    assert starts(got) == [berlin(23, 12, 30), berlin(24, 8), berlin(25, 8)]
    assert all(s.end - s.start == timedelta(hours=2) for s in got)


def test_a_slot_must_fit_in_the_shift() -> None:
    profile = FieldworkerProfile(id=1, working_hours=WEEKDAYS, timezone="Europe/Berlin")
    now = berlin(23, 14, 30)  # 15:30 is the earliest start; 15:30-17:30 ends after the shift
    got = assist.suggest_slots(profile, timedelta(hours=2), now, count=1)
    assert starts(got) == [berlin(24, 8)]


def test_slots_are_read_in_the_fieldworkers_own_time_zone() -> None:
    hours = {"mon": [("09:00", "17:00")], "tue": [("09:00", "17:00")]}
    profile = FieldworkerProfile(id=1, working_hours=hours, timezone="America/New_York")
    now = datetime(2026, 11, 23, 6, tzinfo=UTC)  # 01:00 in New York
    got = assist.suggest_slots(profile, timedelta(hours=1), now, count=2)
    assert starts(got) == [
        datetime(2026, 11, 23, 14, tzinfo=UTC),  # 09:00 EST
        datetime(2026, 11, 24, 14, tzinfo=UTC),
    ]


def test_jobs_time_off_weekends_and_the_declined_time_are_avoided() -> None:
    profile = FieldworkerProfile(
        id=1,
        working_hours=WEEKDAYS,
        timezone="Europe/Berlin",
        busy=(Interval(berlin(24, 8), berlin(24, 12)),),  # Tuesday morning: another job
        time_off=(Interval(berlin(25, 0), berlin(26, 0)),),  # Wednesday off
    )
    now = berlin(23, 18)  # Monday evening, after work
    declined = Interval(berlin(26, 8), berlin(26, 10))  # the time they could not make
    got = assist.suggest_slots(profile, timedelta(hours=2), now, count=3, avoid=(declined,))
    # Tue after the job; Wed off; Thu from 10:00; Fri; then Sat, Sun have no hours.
    assert starts(got) == [berlin(24, 12), berlin(26, 10), berlin(27, 8)]


def test_more_of_the_same_days_when_there_are_not_enough_days() -> None:
    profile = FieldworkerProfile(id=1, working_hours={"mon": [("08:00", "17:00")]})
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)  # Sunday: only Monday within the week
    got = assist.suggest_slots(profile, timedelta(hours=2), now, count=3)
    assert starts(got) == [
        datetime(2026, 11, 23, 8, tzinfo=UTC),
        datetime(2026, 11, 23, 10, tzinfo=UTC),  # never overlapping each other
        datetime(2026, 11, 23, 12, tzinfo=UTC),
    ]


def test_always_available_means_office_hours_for_suggestions() -> None:
    profile = FieldworkerProfile(id=1, working_hours=None, timezone="Europe/Berlin")
    got = assist.suggest_slots(profile, timedelta(hours=2), berlin(23, 20), count=2)
    assert starts(got) == [berlin(24, 8), berlin(25, 8)]


def test_nothing_free_suggests_nothing() -> None:
    profile = FieldworkerProfile(
        id=1, working_hours=WEEKDAYS, time_off=(Interval(NOW, NOW + timedelta(days=30)),)
    )
    assert assist.suggest_slots(profile, timedelta(hours=1), NOW, count=3) == []


# Proposing.


def assisted(**settings: object) -> FakeUnitOfWork:
    """A company whose customers can be reached by SMS (Reschedule Assist needs it)."""
    uow = company(**settings)
    uow.channels_on = ChannelsOn(telegram=True, sms=True)
    return uow


async def declined_by(uow: FakeUnitOfWork, fw: int = 1) -> int:
    """A booking whose request fieldworker `fw` declined; returns the job id."""
    booked = await book(uow)
    await answer(uow, booked.job_id, fw, Action.DECLINE, reason="Not available")
    return booked.job_id


async def test_a_decline_invites_the_fieldworker_with_suggestions() -> None:
    uow = assisted()
    job_id = await declined_by(uow)
    (invited,) = uow.emitted(ProposalInvited)
    assert (invited.job_id, invited.fieldworker_id) == (job_id, 1)
    assert invited.request_id == uow.request_of(job_id, 1).id
    assert invited.reason == "Not available" and not invited.no_longer_attending
    assert len(invited.suggested) == 3  # `max_slots`
    booked = Interval(START, START + timedelta(hours=2))
    assert not any(s.overlaps(booked) for s in invited.suggested)


async def test_no_invitation_when_off_for_staff_declines_or_without_sms() -> None:
    uow = assisted(reschedule_assist={"enabled": False})
    await declined_by(uow)
    assert uow.emitted(ProposalInvited) == []

    uow = assisted()
    booked = await book(uow)
    await answer(uow, booked.job_id, 1, Action.DECLINE, reason="Too far", actor=STAFF)
    assert uow.emitted(ProposalInvited) == [], "a decline on their behalf invites nobody"

    uow = company()  # SMS off: the customer cannot get the offer
    await declined_by(uow)
    assert uow.emitted(ProposalInvited) == []


async def test_propose_offers_the_times_and_records_them() -> None:
    uow = assisted()
    job_id = await declined_by(uow)
    times = [START + timedelta(days=2), START + timedelta(days=1)]
    offer = await assist.propose(uow, job_id, 1, times, fieldworker(1), Channel.TELEGRAM)
    # Sorted, each as long as the appointment.
    assert [s.start for s in offer.slots] == sorted(times)
    assert all(s.end - s.start == timedelta(hours=2) for s in offer.slots)
    assert offer.status is OfferStatus.OPEN and offer.customer_phone == PHONE
    assert offer.expires_at == NOW + timedelta(days=1)  # offer_expires_s
    (row,) = uow.rows(HistoryAction.RESCHEDULE_PROPOSED)
    assert row.actor == fieldworker(1) and row.channel is Channel.TELEGRAM
    assert row.details["fieldworker_id"] == 1
    assert row.details["slots"][0] == {
        "start": (START + timedelta(days=1)).isoformat(),
        "end": (START + timedelta(days=1, hours=2)).isoformat(),
    }
    (event,) = uow.emitted(RescheduleProposed)
    assert event.offer_id == offer.id and event.slots == offer.slots


@pytest.mark.parametrize(
    ("times", "code", "field"),
    [
        ([], "no_slots", "slots"),
        ([START + timedelta(days=d) for d in (1, 2, 3, 4)], "too_many_slots", "slots"),
        ([START + timedelta(days=1), NOW - timedelta(hours=1)], "slot_in_past", "slots.1"),
        ([START], "slot_unchanged", "slots.0"),
        ([datetime(2026, 12, 3, 9)], "slot_without_offset", "slots.0"),
        ([NOW + timedelta(days=400)], "slot_too_far", "slots.0"),
    ],
)
async def test_bad_times_are_refused_and_nothing_is_offered(
    times: list[datetime], code: str, field: str
) -> None:
    uow = assisted()
    job_id = await declined_by(uow)
    with pytest.raises(DispatchError) as refused:
        await assist.propose(uow, job_id, 1, times, fieldworker(1), Channel.SMS)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert uow.offers == {} and uow.rows(HistoryAction.RESCHEDULE_PROPOSED) == []


async def test_a_time_the_fieldworker_is_not_free_is_refused() -> None:
    uow = assisted()
    uow.fieldworkers[1] = replace(uow.fieldworkers[1], working_hours=WEEKDAYS)
    job_id = await declined_by(uow)
    saturday = datetime(2026, 12, 5, 10, tzinfo=UTC)
    with pytest.raises(DispatchError) as refused:
        await assist.propose(
            uow, job_id, 1, [START + timedelta(days=1), saturday], fieldworker(1), Channel.SMS
        )
    assert refused.value.code == "slot_outside_working_hours"
    assert refused.value.field == "slots.1"


@pytest.mark.parametrize("who", ["stranger", "taken", "off"])
async def test_only_a_decliner_of_a_job_still_open_may_propose(who: str) -> None:
    uow = assisted()
    job_id = await declined_by(uow)
    fw, code = 1, "not_yours"
    if who == "stranger":
        fw = 2  # asked, never declined
    elif who == "taken":
        await answer(uow, job_id, 2, Action.ACCEPT)
        code = "job_not_open"
    else:
        uow.company_settings.reschedule_assist.enabled = False
        code = "assist_off"
    with pytest.raises(DispatchError) as refused:
        await assist.propose(
            uow, job_id, fw, [START + timedelta(days=1)], fieldworker(fw), Channel.SMS
        )
    assert refused.value.code == code
    assert not await assist.may_propose(uow, job_id, fw)


async def test_a_dropout_of_a_job_given_directly_may_propose() -> None:
    uow = assisted(auto_rebroadcast_on_cancel=False)
    booked = await book(uow, fieldworker_id=1)  # no request: assigned at creation
    await responding.no_longer_attending(
        uow, booked.job_id, 1, fieldworker(1), Channel.TELEGRAM, reason="Sick"
    )
    (invited,) = uow.emitted(ProposalInvited)
    assert invited.request_id is None and invited.no_longer_attending
    offer = await assist.propose(
        uow, booked.job_id, 1, [START + timedelta(days=1)], fieldworker(1), Channel.TELEGRAM
    )
    assert offer.status is OfferStatus.OPEN
    assert not await assist.may_propose(uow, booked.job_id, 2), "only the one who dropped out"


async def test_a_second_offer_supersedes_the_first_and_answers_are_read_against_it() -> None:
    uow = assisted()
    job_id = await declined_by(uow)
    first = await assist.propose(
        uow, job_id, 1, [START + timedelta(days=1)], fieldworker(1), Channel.SMS
    )
    later = [START + timedelta(days=3), START + timedelta(days=2)]
    second = await assist.propose(uow, job_id, 1, later, fieldworker(1), Channel.SMS)
    assert uow.offers[first.id].status is OfferStatus.SUPERSEDED
    assert uow.offers[second.id].status is OfferStatus.OPEN
    # "1" now means the first time of the newest offer.
    choice = await assist_choice.choose(uow, PHONE, 1)
    assert choice.outcome is ChoiceOutcome.MOVED and choice.offer is not None
    assert choice.offer.id == second.id and choice.slot == second.slots[0]


# Expiry.


async def test_an_unanswered_offer_expires_by_its_timer_and_the_proposer_hears() -> None:
    uow = assisted(reschedule_assist={"offer_expires_s": 3600})
    job_id = await declined_by(uow)
    offer = await assist.propose(
        uow, job_id, 1, [START + timedelta(days=1)], fieldworker(1), Channel.SMS
    )
    uow.clock.advance(minutes=59)
    await timers.fire_due(uow)
    assert uow.offers[offer.id].status is OfferStatus.OPEN
    uow.clock.advance(minutes=1)
    await timers.fire_due(uow)
    assert uow.offers[offer.id].status is OfferStatus.EXPIRED
    (expired,) = uow.emitted(RescheduleOfferExpired)
    assert (expired.offer_id, expired.fieldworker_id) == (offer.id, 1)
    choice = await assist_choice.choose(uow, PHONE, 1)
    assert choice.outcome is ChoiceOutcome.EXPIRED
    assert uow.rows(HistoryAction.RESCHEDULE_CHOSEN) == []


async def test_an_answer_after_the_deadline_is_expired_even_before_the_timer_fires() -> None:
    uow = assisted(reschedule_assist={"offer_expires_s": 60})
    job_id = await declined_by(uow)
    await assist.propose(uow, job_id, 1, [START + timedelta(days=1)], fieldworker(1), Channel.SMS)
    uow.clock.advance(seconds=61)
    assert (await assist_choice.choose(uow, PHONE, 1)).outcome is ChoiceOutcome.EXPIRED
    assert len(uow.emitted(RescheduleOfferExpired)) == 1
    assert await timers.fire_due(uow) == [], "the timer finds it closed"


async def test_without_a_deadline_an_offer_lasts_until_its_last_time() -> None:
    uow = assisted(reschedule_assist={"offer_expires_s": 0})
    job_id = await declined_by(uow)
    offer = await assist.propose(
        uow, job_id, 1, [START + timedelta(days=2)], fieldworker(1), Channel.SMS
    )
    assert offer.expires_at == START + timedelta(days=2)


# The customer's choice.


async def test_the_choice_moves_the_appointment_and_gives_the_proposer_the_job() -> None:
    uow = assisted()
    job_id = await declined_by(uow)
    new = START + timedelta(days=2)
    await assist.propose(
        uow, job_id, 1, [START + timedelta(days=1), new], fieldworker(1), Channel.SMS
    )
    choice = await assist_choice.choose(uow, PHONE, 2)
    assert choice.outcome is ChoiceOutcome.MOVED and choice.assigned
    job = uow.jobs[job_id]
    assert job.appointment == Interval(new, new + timedelta(hours=2))
    assert (job.status, job.fieldworker_id) == (JobStatus.ASSIGNED, 1)
    # The others' requests for the old time are closed; nobody else is asked at the new time.
    assert uow.asked(job_id, RequestStatus.PENDING) == []
    assert uow.request_of(job_id, 1).status is RequestStatus.ACCEPTED
    actions = uow.actions(job_id=job_id)
    assert HistoryAction.RESCHEDULE_CHOSEN in actions
    assert HistoryAction.BOOKING_RESCHEDULED in uow.actions()
    (chosen,) = uow.rows(HistoryAction.RESCHEDULE_CHOSEN)
    assert chosen.details["chosen"] == 2 and chosen.details["assigned"] is True
    assert chosen.actor.name == "customer" and chosen.channel is Channel.SMS
    (event,) = uow.emitted(RescheduleChosen)
    assert (event.chosen, event.assigned, event.slot.start) == (2, True, new)
    assert uow.offers[choice.offer.id].chosen == 2  # type: ignore[union-attr]


async def test_a_proposer_no_longer_free_then_leaves_the_job_to_be_dispatched_again() -> None:
    uow = assisted()
    job_id = await declined_by(uow)
    new = START + timedelta(days=1)
    await assist.propose(uow, job_id, 1, [new], fieldworker(1), Channel.SMS)
    # Meanwhile fieldworker 1 took another job at that very time.
    other = await book(uow, start=new)
    await assignment.assign(uow, other.job_id, 1, STAFF, Channel.API)
    uow.events.clear()
    choice = await assist_choice.choose(uow, PHONE, 1)
    assert choice.outcome is ChoiceOutcome.MOVED and not choice.assigned
    job = uow.jobs[job_id]
    assert job.appointment.start == new and job.fieldworker_id is None
    # Dispatched again at the new time: the others are asked, never the decliner.
    assert job.status is JobStatus.OFFERED
    assert set(uow.asked(job_id, RequestStatus.PENDING)) == {2, 3}
    assert uow.request_of(job_id, 1).status is RequestStatus.DECLINED
    (event,) = uow.emitted(RescheduleChosen)
    assert not event.assigned


async def test_giving_the_job_away_withdraws_the_offer() -> None:
    uow = assisted()
    job_id = await declined_by(uow)
    offer = await assist.propose(
        uow, job_id, 1, [START + timedelta(days=1)], fieldworker(1), Channel.SMS
    )
    await answer(uow, job_id, 2, Action.ACCEPT)
    assert uow.offers[offer.id].status is OfferStatus.WITHDRAWN
    choice = await assist_choice.choose(uow, PHONE, 1)
    assert choice.outcome is ChoiceOutcome.WITHDRAWN
    assert uow.jobs[job_id].appointment.start == START, "the booking stays as it is"


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        (None, ChoiceOutcome.NOT_A_CHOICE),
        (3, ChoiceOutcome.OUT_OF_RANGE),
        (0, ChoiceOutcome.OUT_OF_RANGE),
    ],
)
async def test_an_answer_that_names_no_slot_changes_nothing(
    number: int | None, outcome: ChoiceOutcome
) -> None:
    uow = assisted()
    job_id = await declined_by(uow)
    times = [START + timedelta(days=1), START + timedelta(days=2)]
    offer = await assist.propose(uow, job_id, 1, times, fieldworker(1), Channel.SMS)
    choice = await assist_choice.choose(uow, PHONE, number)
    assert choice.outcome is outcome and choice.offer == offer
    assert uow.offers[offer.id].status is OfferStatus.OPEN
    assert uow.jobs[job_id].appointment.start == START


async def test_an_sms_from_a_phone_without_an_offer_is_not_about_one() -> None:
    uow = assisted()
    await declined_by(uow)
    assert (await assist_choice.choose(uow, "+15550001111", 1)).outcome is ChoiceOutcome.NO_OFFER


async def test_a_second_answer_to_a_chosen_offer_moves_nothing_again() -> None:
    uow = assisted()
    job_id = await declined_by(uow)
    times = [START + timedelta(days=1), START + timedelta(days=2)]
    await assist.propose(uow, job_id, 1, times, fieldworker(1), Channel.SMS)
    await assist_choice.choose(uow, PHONE, 1)
    again = await assist_choice.choose(uow, PHONE, 2)
    assert again.outcome is ChoiceOutcome.ALREADY_CHOSEN
    assert uow.jobs[job_id].appointment.start == times[0]
    assert len(uow.rows(HistoryAction.RESCHEDULE_CHOSEN)) == 1


async def test_cancelling_the_booking_withdraws_the_offer() -> None:
    uow = assisted()
    job_id = await declined_by(uow)
    await assist.propose(uow, job_id, 1, [START + timedelta(days=1)], fieldworker(1), Channel.SMS)
    booking_id = uow.jobs[job_id].booking_id
    await bookings.change_booking(uow, booking_id, BookingChanges(cancel=True), STAFF, Channel.API)
    assert [o.status for o in uow.offers.values()] == [OfferStatus.WITHDRAWN]
    assert (await assist_choice.choose(uow, PHONE, 1)).outcome is ChoiceOutcome.WITHDRAWN
