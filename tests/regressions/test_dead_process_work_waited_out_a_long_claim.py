"""Bug: after a crash, claimed outbox rows waited out a 60 s claim and claimed updates a 120 s one
before anyone retried them (72-81 s to drain); shortening the claims alone would let a second
process take over a call still under way.

Claims are now short (`models.leases.LEASE`) and renewed by a heartbeat while their work is alive:
a dead process's rows are picked up within seconds, and a live process's slow call is never taken
over, not even when its heartbeat stalls (a row found mid-send waits until its call has surely
ended).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from emulators import make_callback_update
from models import tables as t
from models.inbound import record
from models.leases import LEASE, Heartbeat
from models.views import utcnow
from notifications.sender import OutboxSender
from tests.regressions.conftest import Providers, Webhooks, queue, until

SOON = LEASE.total_seconds() + 5  # a lease, and a few polls and sweeps


async def sent(row_id: int) -> bool:
    """The row is settled as sent."""
    return (await t.Notification.get(id=row_id)).status == "sent"


async def test_a_dead_senders_row_is_sent_within_seconds(providers: Providers) -> None:
    p = providers
    row_id = await queue("telegram", "7500", "Your job request")
    # Claimed a moment ago by a process that died before calling Telegram.
    await t.Notification.filter(id=row_id).update(
        holder="dead-host:1:0", claimed_until=utcnow() + LEASE, heartbeat_at=utcnow()
    )
    sender = OutboxSender(bot=p.bot, poll_interval=0.05)
    task = asyncio.create_task(sender.run())
    try:
        await until(lambda: sent(row_id), within=SOON, what="the dead process's row sent")
    finally:
        sender.stop()
        await task
    assert len(p.tg.calls_of("sendMessage")) == 1


async def test_a_dead_processs_update_is_processed_within_seconds(webhooks: Webhooks) -> None:
    update = make_callback_update(77, 7501, "not-a-button", message_chat_id=7501, message_id=1)
    assert await record("tg:77", update)
    await t.InboundEvent.filter(key="tg:77").update(
        holder="dead-host:1:0", claimed_until=utcnow() + LEASE
    )

    async def processed() -> bool:
        await webhooks.intake.recover(older_than=timedelta(0))
        return (await t.InboundEvent.get(key="tg:77")).status == "done"

    await until(processed, within=SOON, what="the dead process's update processed")
    assert len(webhooks.telegram.emu.calls_of("answerCallbackQuery")) == 1


async def slow_send_with_a_second_sender(p: Providers, first: OutboxSender) -> int:
    """Queue a row, let `first` send it slowly while a second sender polls; returns the row."""
    p.tg.delay_next("sendMessage", LEASE.total_seconds() + 3)  # outlives a lease
    row_id = await queue("telegram", "7502", "Your job request")
    second = OutboxSender(bot=p.bot, poll_interval=0.05, holder="second:2:0")
    one = asyncio.create_task(first.run())
    await until(lambda: p.tg.held == 1, what="the first sender's call under way")
    two = asyncio.create_task(second.run())
    try:
        await until(lambda: sent(row_id), within=SOON + 5, what="the slow row sent")
        await asyncio.sleep(0.5)  # room for a second send, if the second sender were to make one
    finally:
        first.stop()
        second.stop()
        await asyncio.gather(one, two)
    return row_id


async def test_a_live_slow_call_is_not_taken_over(providers: Providers) -> None:
    first = OutboxSender(bot=providers.bot, poll_interval=0.05, holder="first:1:0")
    row_id = await slow_send_with_a_second_sender(providers, first)
    assert len(providers.tg.calls_of("sendMessage")) == 1, "the second sender sent it again"
    assert (await t.Notification.get(id=row_id)).attempts == 1


async def test_a_slow_call_whose_heartbeat_stalled_is_not_taken_over(providers: Providers) -> None:
    first = OutboxSender(bot=providers.bot, poll_interval=0.05, holder="first:1:0")

    async def stalled() -> int:
        return 0  # the database was busy: the claim is not renewed

    first._heartbeat = Heartbeat(stalled)
    await slow_send_with_a_second_sender(providers, first)
    assert len(providers.tg.calls_of("sendMessage")) == 1, "the second sender sent it again"
