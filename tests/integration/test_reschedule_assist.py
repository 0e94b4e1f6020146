"""Reschedule Assist through the real database (SQLite and PostgreSQL): the SMS adapter's words in,
the production outbox renderer's messages out.

A fieldworker declines by SMS and is told how to propose; `PROPOSE <code>` lists their free times;
their numbers become one SMS to the customer; the customer's `option 2` moves the booking and gives
them the job; each side hears once. Superseded, expired and withdrawn offers through the same doors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatch import assist, responding, timers
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from dispatch.offers import OfferStatus
from handlers.context import ChatContext
from handlers.sms import handle_sms
from models import tables as t
from models.transactions import Transactions
from tests.factories import (
    START,
    add_fieldworker,
    add_service,
    create_booking,
    save_settings,
    transactions,
)

CUSTOMER = "+4915112345678"  # `create_booking`'s customer
SAM = "+4915120000007"


class Clock:
    """A clock the test moves (the transactions read it)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 11, 23, 7, tzinfo=UTC)  # Monday, before the working day

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tx(db: str, clock: Clock) -> Transactions:
    return transactions(outbox=True, clock=clock)


def chat(tx: Transactions) -> ChatContext:
    return ChatContext(tx=tx, timezone="UTC")


async def sms_to(phone: str) -> list[t.Notification]:
    return list(await t.Notification.filter(channel="sms", recipient=phone).order_by("id"))


async def history(booking_id: int) -> list[str]:
    rows = await t.History.filter(booking_id=booking_id).order_by("id")
    return [h.action for h in rows]


async def sms_worker_declined(tx: Transactions) -> tuple[int, t.JobRequest]:
    """Sam, reached by SMS, is asked for a booking and declines it by SMS."""
    await add_service()
    await add_fieldworker("Sam Sms", phone=SAM, channels=["sms"], timezone="UTC")
    booking_id = await create_booking(tx)
    request = await t.JobRequest.get(booking_id=booking_id)
    return booking_id, request


async def test_a_round_trip_by_sms(tx: Transactions, clock: Clock) -> None:
    booking_id, request = await sms_worker_declined(tx)
    code = request.reply_code
    answer = await handle_sms(chat(tx), SAM, f"NO {code} Not available")
    assert answer is not None and "Declined" in answer and f"PROPOSE {code}" in answer

    listed = await handle_sms(chat(tx), SAM, f"propose {code}")
    # Always available: office hours, one a day, from an hour after now (Mon 07:00 UTC).
    assert listed is not None
    assert "1) Mon 23 Nov 08:00-10:00 UTC, 2) Tue 24 Nov 08:00-10:00 UTC, 3) Wed 25 Nov" in listed
    sent = await handle_sms(chat(tx), SAM, "1 3")
    assert sent is not None and sent.startswith("Sent to the customer: 1) Mon 23 Nov 08:00")

    (offer,) = await sms_to(CUSTOMER)
    assert offer.template == "reschedule_offer"
    assert "Sam can't come for your Plumbing on Tue 1 Dec 09:00-11:00 UTC" in offer.body
    assert "1) Mon 23 Nov 08:00-10:00 UTC, 2) Wed 25 Nov 08:00-10:00 UTC" in offer.body
    assert "Reply 1 or 2" in offer.body
    assert "reschedule_proposed" in await history(booking_id)

    clock.at += timedelta(minutes=5)
    assert await handle_sms(chat(tx), CUSTOMER, " Option 2 ") is None  # told by the outbox
    job = await t.Job.get(booking_id=booking_id).select_related("appointment")
    assert job.appointment.start == datetime(2026, 11, 25, 8, tzinfo=UTC)
    assert (job.status, job.fieldworker_id) == ("assigned", request.fieldworker_id)
    # Each side hears once: the customer one SMS, Sam one message (no "assigned" + "moved").
    customer = await sms_to(CUSTOMER)
    assert [n.template for n in customer] == ["reschedule_offer", "reschedule_chosen_sms"]
    assert customer[1].body == (
        "Hi Carol, done: your Plumbing is now on Wed 25 Nov 08:00-10:00 UTC with Sam."
    )
    to_sam = [n.body for n in await sms_to(SAM) if n.template != "job_request_sms"]
    assert len(to_sam) == 1 and "The customer chose Wed 25 Nov 08:00-10:00 UTC" in to_sam[0]
    actions = await history(booking_id)
    assert actions.count("reschedule_chosen") == 1 and "booking_rescheduled" in actions
    row = await t.History.get(booking_id=booking_id, action="reschedule_chosen")
    assert row.details["chosen"] == 2 and row.details["assigned"] is True
    assert row.actor_name == "customer" and row.channel == "sms"

    # The same answer again moves nothing.
    again = await handle_sms(chat(tx), CUSTOMER, "2")
    assert again is not None and "already moved" in again


async def test_propose_in_one_go_and_typed_times(tx: Transactions) -> None:
    _, request = await sms_worker_declined(tx)
    code = request.reply_code
    await handle_sms(chat(tx), SAM, f"NO {code} Too far")
    refused = await handle_sms(chat(tx), SAM, f"PROPOSE {code} Fri 25:00")
    assert refused is not None and "could not read" in refused and "“Fri 25:00”" in refused
    past = await handle_sms(chat(tx), SAM, f"PROPOSE {code} 20/11 10:00")
    assert past is not None and "is in the past" in past
    assert await sms_to(CUSTOMER) == [], "nothing offered yet"
    sent = await handle_sms(chat(tx), SAM, f"PROPOSE {code} Thu 10:00, 27/11 9:30")
    assert sent is not None and "Thu 26 Nov 10:00-12:00 UTC, 2) Fri 27 Nov 09:30" in sent
    (offer,) = await sms_to(CUSTOMER)
    assert "Reply 1 or 2" in offer.body


async def test_a_newer_offer_is_the_one_answered_and_a_late_answer_expires(
    tx: Transactions, clock: Clock
) -> None:
    await save_settings(reschedule_assist={"offer_expires_s": 3600})
    booking_id, request = await sms_worker_declined(tx)
    await handle_sms(chat(tx), SAM, f"NO {request.reply_code} Not available")
    fw = request.fieldworker_id
    sam = Actor(ActorKind.FIELDWORKER, fw, "Sam Sms")
    first = await tx.run(
        lambda uow: assist.propose(
            uow, request.job_id, fw, [START + timedelta(days=1)], sam, Channel.SMS
        )
    )
    times = [START + timedelta(days=2), START + timedelta(days=3)]
    second = await tx.run(
        lambda uow: assist.propose(uow, request.job_id, fw, times, sam, Channel.SMS)
    )
    assert (await t.RescheduleOffer.get(id=first.id)).status == OfferStatus.SUPERSEDED
    assert (await t.RescheduleOffer.get(id=second.id)).status == OfferStatus.OPEN
    out_of_range = await handle_sms(chat(tx), CUSTOMER, "3")
    assert (
        out_of_range
        == "Sorry, that is not one of the times. Reply 1 or 2 to choose one of the times we sent."
    )
    chatter = await handle_sms(chat(tx), CUSTOMER, "Can you come on Sunday?")
    assert chatter is not None and "Reply 1 or 2" in chatter

    clock.at += timedelta(hours=1)
    assert await tx.run(lambda uow: timers.fire_due(uow)) != []
    assert (await t.RescheduleOffer.get(id=second.id)).status == OfferStatus.EXPIRED
    (told,) = [n.body for n in await sms_to(SAM) if "did not choose" in n.body]
    assert f"job {request.job_id}" in told
    late = await handle_sms(chat(tx), CUSTOMER, "1")
    assert late is not None and "expired" in late
    job = await t.Job.get(id=request.job_id).select_related("appointment")
    assert job.appointment.start == START and "reschedule_chosen" not in await history(booking_id)
    # Once the offer is closed, other texts are not about it: left as before (no answer).
    assert await handle_sms(chat(tx), CUSTOMER, "Thanks anyway") is None


async def test_giving_the_job_away_withdraws_the_offer(tx: Transactions) -> None:
    await add_service()
    anna = await add_fieldworker("Anna", telegram=7001, phone="+4915120000001")
    ben = await add_fieldworker("Ben", telegram=7002)
    booking_id = await create_booking(tx)
    mine = await t.JobRequest.get(booking_id=booking_id, fieldworker_id=anna.id)
    actor = Actor(ActorKind.FIELDWORKER, anna.id, anna.name)
    await tx.run(
        lambda uow: responding.respond(
            uow, mine.id, Action.DECLINE, actor, Channel.TELEGRAM, reason="Personal"
        )
    )
    offer = await tx.run(
        lambda uow: assist.propose(
            uow, mine.job_id, anna.id, [START + timedelta(days=1)], actor, Channel.TELEGRAM
        )
    )
    theirs = await t.JobRequest.get(booking_id=booking_id, fieldworker_id=ben.id)
    ben_actor = Actor(ActorKind.FIELDWORKER, ben.id, ben.name)
    await tx.run(
        lambda uow: responding.respond(uow, theirs.id, Action.ACCEPT, ben_actor, Channel.TELEGRAM)
    )
    assert (await t.RescheduleOffer.get(id=offer.id)).status == OfferStatus.WITHDRAWN
    answer = await handle_sms(chat(tx), CUSTOMER, "1")
    assert answer is not None and "no longer on offer" in answer


async def test_a_telegram_decline_shows_the_suggested_times_as_buttons(tx: Transactions) -> None:
    await add_service()
    anna = await add_fieldworker(
        "Anna", telegram=7001, timezone="Europe/Berlin", working_hours={"tue": [["08:00", "17:00"]]}
    )
    booking_id = await create_booking(tx)
    mine = await t.JobRequest.get(booking_id=booking_id, fieldworker_id=anna.id)
    actor = Actor(ActorKind.FIELDWORKER, anna.id, anna.name)
    await tx.run(
        lambda uow: responding.respond(
            uow, mine.id, Action.DECLINE, actor, Channel.TELEGRAM, reason="Personal"
        )
    )
    rows = await t.Notification.filter(recipient="7001", template="request_declined").order_by("id")
    # The decline's edit, then the same message with the invitation and its buttons.
    assert len(rows) == 2 and all(r.payload["method"] == "edit" for r in rows)
    invite: dict[str, Any] = rows[1].payload
    assert "Could the customer have another time?" in rows[1].body
    assert "Declined: Personal" in rows[1].body
    keyboard = invite["reply_markup"]["inline_keyboard"]
    # Only Tuesdays in her hours, in Berlin: 08:00 CET is 07:00 UTC; two hours long.
    assert [row[0]["text"] for row in keyboard[:1]] == ["Tue 24 Nov 08:00-10:00 CET"]
    assert keyboard[0][0]["callback_data"].startswith(f"o:{mine.job_id}:")
    assert [b["callback_data"] for b in keyboard[-1]] == [f"t:{mine.job_id}", f"m:{mine.job_id}"]
    assert invite["live"] == {"job": mine.job_id}
