"""Bug: an SMS went out twice after a crash mid-send, a connection reset after Twilio had acted,
or an answer later than the client's timeout.

The outbox knew nothing of an attempt until it ended, so a row whose process died inside the
Twilio call, or whose call ended without an answer, was simply sent again. Now each attempt is
recorded before the call and Twilio's SID right after it; a row found mid-send is looked up in
Twilio's Messages list (its recipient, our number, its body, created since the row) before it is
sent again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from models import tables as t
from models.views import utcnow
from notifications.sender import OutboxSender
from tests.regressions.conftest import FROM, Providers, queue, until

PHONE = "+4915100000031"
OTHER = "+4915100000032"


async def sent(row_id: int) -> bool:
    """The row is settled as sent."""
    return (await t.Notification.get(id=row_id)).status == "sent"


async def drain(sender: OutboxSender, row_id: int, within: float = 15.0) -> None:
    """Run the sender until the row is sent."""
    task = asyncio.create_task(sender.run())
    try:
        await until(lambda: sent(row_id), within=within, what="the row sent")
    finally:
        sender.stop()
        await task


async def test_a_crash_after_twilio_created_the_sms_sends_it_once(providers: Providers) -> None:
    p = providers
    body = "Ben will do your Plumbing on Tue 1 Dec 10:00"
    row_id = await queue("sms", PHONE, body)
    # The process that held the row called Twilio, which created the message, and died before it
    # recorded the SID: the row is queued, mid-send, its claim run out.
    created = await p.twilio.messages.create_async(to=PHONE, from_=FROM, body=body)
    await t.Notification.filter(id=row_id).update(
        attempts=1,
        attempt_started_at=utcnow() - timedelta(seconds=30),
        holder="dead-host:1:0",
        claimed_until=utcnow() - timedelta(seconds=1),
    )
    # Another message to the same number with the same text belongs to another row.
    await p.twilio.messages.create_async(to=OTHER, from_=FROM, body=body)

    await drain(OutboxSender(twilio=p.twilio, twilio_from=FROM, poll_interval=0.05), row_id)

    assert len(p.sms.messages_to(PHONE)) == 1, "the SMS was sent again"
    row = await t.Notification.get(id=row_id)
    assert row.provider_id == created.sid and row.attempts == 1


async def test_a_crash_before_twilio_acted_sends_the_sms(providers: Providers) -> None:
    p = providers
    row_id = await queue("sms", PHONE, "Your fieldworker is on the way")
    # An older message of ours with the same text, recorded by its own row, is not this one.
    older = await p.twilio.messages.create_async(
        to=PHONE, from_=FROM, body="Your fieldworker is on the way"
    )
    await queue(
        "sms", PHONE, "Your fieldworker is on the way", status="sent", provider_id=older.sid
    )
    await t.Notification.filter(id=row_id).update(
        attempts=1,
        attempt_started_at=utcnow() - timedelta(seconds=30),
        holder="dead-host:1:0",
        claimed_until=utcnow() - timedelta(seconds=1),
    )

    await drain(OutboxSender(twilio=p.twilio, twilio_from=FROM, poll_interval=0.05), row_id)

    assert len(p.sms.messages_to(PHONE)) == 2, "the lost SMS is sent, once"
    row = await t.Notification.get(id=row_id)
    assert row.provider_id not in (None, older.sid) and row.attempts == 2


async def test_a_reset_after_twilio_acted_sends_the_sms_once(providers: Providers) -> None:
    p = providers
    p.sms.reset_next(after_acting=True)
    row_id = await queue("sms", PHONE, "Reply YES 4821 to accept")
    sender = OutboxSender(
        twilio=p.twilio, twilio_from=FROM, poll_interval=0.05, provider_timeout=0.5
    )
    await drain(sender, row_id)
    assert len(p.sms.messages_to(PHONE)) == 1
    assert (await t.Notification.get(id=row_id)).provider_id == p.sms.messages_to(PHONE)[0]["sid"]


async def test_an_answer_later_than_the_timeout_sends_the_sms_once(providers: Providers) -> None:
    p = providers
    p.sms.delay_next(3600, after_acting=True)  # created at once, answered never
    row_id = await queue("sms", PHONE, "Reply YES 4822 to accept")
    sender = OutboxSender(
        twilio=p.twilio, twilio_from=FROM, poll_interval=0.05, provider_timeout=0.5
    )
    try:
        await drain(sender, row_id)
    finally:
        p.sms.release()
    assert len(p.sms.messages_to(PHONE)) == 1


async def test_a_reset_before_twilio_acted_sends_the_sms(providers: Providers) -> None:
    p = providers
    p.sms.reset_next(after_acting=False)
    row_id = await queue("sms", PHONE, "Reply YES 4823 to accept")
    sender = OutboxSender(
        twilio=p.twilio, twilio_from=FROM, poll_interval=0.05, provider_timeout=0.5
    )
    await drain(sender, row_id)
    assert len(p.sms.messages_to(PHONE)) == 1
