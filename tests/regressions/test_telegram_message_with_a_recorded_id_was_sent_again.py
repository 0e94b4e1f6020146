"""Bug: a job request whose Telegram message id was known could be sent again after a crash.

The sender learnt the message id and marked the row sent in separate steps with nothing recorded
before the call, so a crash anywhere between the call and the final write sent the request again:
a second message with live buttons. Now the attempt is recorded before the call and the message id
is the first write after it; a row found with its id recorded is settled, never re-sent, and its
request still learns which message to edit. Only a crash inside the call itself (before the id is
recorded: README "What a crash can repeat") sends it again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from models import tables as t
from models.views import utcnow
from notifications.sender import OutboxSender
from tests.factories import add_fieldworker, add_service, create_booking, transactions
from tests.regressions.conftest import Providers, until

CHAT = 7400


async def test_a_request_with_its_message_id_recorded_is_not_sent_again(
    providers: Providers,
) -> None:
    p = providers
    await add_service()
    await add_fieldworker("Tess", telegram=CHAT)
    await create_booking(transactions(outbox=True))
    row = await t.Notification.get(template="job_request")
    # Its holder called Telegram, recorded the message id, and died before settling the row.
    await t.Notification.filter(id=row.id).update(
        attempts=1,
        attempt_started_at=utcnow() - timedelta(seconds=30),
        provider_id="5151",
        sent_at=utcnow() - timedelta(seconds=30),
        holder="dead-host:1:0",
        claimed_until=utcnow() - timedelta(seconds=1),
    )
    sender = OutboxSender(bot=p.bot, poll_interval=0.05)
    task = asyncio.create_task(sender.run())
    try:

        async def settled() -> bool:
            return (await t.Notification.get(id=row.id)).status == "sent"

        await until(settled, what="the row settled")
    finally:
        sender.stop()
        await task
    assert p.tg.calls_of("sendMessage") == [], "the request was sent again"
    request = await t.JobRequest.get(id=row.request_id)
    assert (request.telegram_chat_id, request.telegram_message_id) == (CHAT, 5151)


async def test_a_message_whose_send_left_no_id_is_sent_again(providers: Providers) -> None:
    p = providers
    await add_service()
    await add_fieldworker("Tess", telegram=CHAT)
    await create_booking(transactions(outbox=True))
    row = await t.Notification.get(template="job_request")
    await t.Notification.filter(id=row.id).update(
        attempts=1,
        attempt_started_at=utcnow() - timedelta(seconds=30),
        holder="dead-host:1:0",
        claimed_until=utcnow() - timedelta(seconds=1),
    )
    sender = OutboxSender(bot=p.bot, poll_interval=0.05)
    task = asyncio.create_task(sender.run())
    try:
        await p.tg.wait_for("sendMessage")
    finally:
        sender.stop()
        await task
    [call] = p.tg.calls_of("sendMessage")
    request = await t.JobRequest.get(id=row.request_id)
    assert request.telegram_message_id == call.result["message_id"]
    assert (await t.Notification.get(id=row.id)).attempts == 2
