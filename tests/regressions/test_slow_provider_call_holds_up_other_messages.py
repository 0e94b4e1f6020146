"""Bug: one slow provider call held up every other message.

A Twilio answer after 40 s delayed four unrelated Telegram requests by 39 s: the sender served a
batch of recipients and looked for new rows only when the whole batch was done. Now each recipient
is served by its own task and the sender keeps starting new ones; a recipient's own later rows still
wait for its earlier one (order).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from models import tables as t
from notifications.sender import OutboxSender
from tests.regressions.conftest import FROM, Providers, queue, until

PHONE = "+4915100000001"


@pytest.fixture
async def sender(providers: Providers) -> AsyncIterator[OutboxSender]:
    """The outbox sender running in the background, as the service runs it."""
    sender = OutboxSender(
        bot=providers.bot, twilio=providers.twilio, twilio_from=FROM, poll_interval=0.05
    )
    task = asyncio.create_task(sender.run())
    try:
        yield sender
    finally:
        providers.tg.release()
        providers.sms.release()
        sender.stop()
        await task


def chats(p: Providers) -> list[int]:
    """Chats sent to so far, in the order the emulator answered."""
    return [int(c.params["chat_id"]) for c in p.tg.calls_of("sendMessage", ok_only=True)]


async def test_telegram_messages_go_while_an_sms_call_hangs(
    providers: Providers, sender: OutboxSender
) -> None:
    p = providers
    p.sms.delay_next(3600)  # Twilio takes the request and does not answer
    await queue("sms", PHONE, "Your fieldworker is on the way")
    sender.wake()
    await until(lambda: p.sms.held == 1, what="the SMS call under way")

    for chat in range(7000, 7004):
        await queue("telegram", str(chat), f"New job request for {chat}")
    sender.wake()
    await p.tg.wait_for("sendMessage", count=4)
    assert p.sms.held == 1 and p.sms.messages == [], "all four went while the SMS call hung"
    assert sorted(chats(p)) == [7000, 7001, 7002, 7003]

    p.sms.release()
    await p.sms.wait_for(PHONE)
    await until(_all_sent, what="every row marked sent")


async def test_a_hung_chat_holds_up_only_its_own_later_messages(
    providers: Providers, sender: OutboxSender
) -> None:
    p = providers
    p.tg.delay_next("sendMessage", 3600)
    await queue("telegram", "7100", "first to the slow chat")
    sender.wake()
    await until(lambda: p.tg.held == 1, what="the call to the slow chat under way")

    await queue("telegram", "7100", "second to the slow chat")
    for chat in range(7101, 7105):
        await queue("telegram", str(chat), f"to {chat}")
    sender.wake()
    await p.tg.wait_for("sendMessage", count=4)
    assert p.tg.held == 1
    assert sorted(chats(p)) == [7101, 7102, 7103, 7104], "the slow chat's next message waits"

    p.tg.release()
    await p.tg.wait_for("sendMessage", count=6)
    texts = [m["text"] for m in p.tg.chat_messages(7100)]
    assert texts == ["first to the slow chat", "second to the slow chat"]
    await until(_all_sent, what="every row marked sent")


async def _all_sent() -> bool:
    return not await t.Notification.exclude(status="sent").exists()
