"""Bug (issue 10): under a burst of presses a fieldworker waited seconds for the button to stop
spinning, and the process held every update of the burst in memory.

The webhook acknowledged each update at once and queued its work without bound, so a press's
answer waited behind every press before it, and Telegram, seeing each request answered, sent the
next ones at once. Now the webhook records the update and runs it while Telegram waits, a bounded
number at a time (Telegram keeps at most `max_connections` updates in flight: back-pressure), and a
press's answer comes back in the webhook's own answer, with no Bot API round trip. An update slower
than the request's budget is still answered 200 (it is recorded) and its press by the Bot API. On
both backends.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telegram.ext import CallbackQueryHandler

from bot.inbound import TelegramIntake
from emulators import make_callback_update
from models import tables as t

# Both backends (the root conftest's), over this folder's SQLite-only `db_url`.
from tests.conftest import db_url  # noqa: F401
from tests.factories import add_fieldworker, add_service, create_booking
from tests.regressions.conftest import Telegram, Webhooks

ANA = 611


async def test_a_press_is_answered_in_the_webhook_answer_and_a_redelivery_changes_nothing(
    webhooks: Webhooks,
) -> None:
    await add_service()
    await add_fieldworker("Ana", telegram=ANA)
    await create_booking()  # request 1 to Ana
    press = make_callback_update(1, ANA, "a:1", message_chat_id=ANA, message_id=1)

    assert await webhooks.update(press) == 200
    emu = webhooks.telegram.emu
    [answer] = emu.calls_of("answerCallbackQuery", ok_only=True)
    assert answer.via == "webhook", "the answer rides in the webhook's answer"
    assert answer.params["callback_query_id"] == press["callback_query"]["id"]
    assert "yours" in answer.params["text"]
    request = await t.JobRequest.get(id=1)
    assert request.status == "accepted"
    event = await t.InboundEvent.get(key="tg:1")
    assert event.status == "done" and event.attempts == 0

    assert await webhooks.update(press) == 200
    assert len(emu.calls_of("answerCallbackQuery")) == 1, "a redelivery is not answered again"
    assert await t.History.filter(action="request_accepted").count() == 1


async def test_an_update_slower_than_the_request_is_taken_and_answered_by_the_bot_api(
    telegram: Telegram,
) -> None:
    release = asyncio.Event()

    async def slow(update: Any, _context: Any) -> None:
        await release.wait()
        await update.callback_query.answer("Done at last.")

    telegram.application.add_handler(CallbackQueryHandler(slow))
    intake = TelegramIntake(telegram.application)
    press = make_callback_update(7, ANA, "a:1", message_chat_id=ANA, message_id=1)

    assert await intake.answer(press, within=0.05) is None, "nothing to answer with yet"
    assert await t.InboundEvent.exists(key="tg:7"), "taken before the webhook answers 200"
    release.set()
    await intake.drain()
    [answer] = telegram.emu.calls_of("answerCallbackQuery", ok_only=True)
    assert answer.via == "api" and answer.params["text"] == "Done at last."
    assert (await t.InboundEvent.get(key="tg:7")).status == "done"


async def test_updates_run_a_bounded_number_at_a_time(telegram: Telegram) -> None:
    running = 0
    most = 0

    async def press(update: Any, _context: Any) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1
        await update.callback_query.answer("ok")

    telegram.application.add_handler(CallbackQueryHandler(press))
    intake = TelegramIntake(telegram.application, concurrency=2)
    updates = [
        make_callback_update(i, ANA, "a:1", message_chat_id=ANA, message_id=1) for i in range(6)
    ]

    bodies = await asyncio.gather(*(intake.answer(u) for u in updates))

    assert most == 2, "at most `concurrency` updates run at once; the rest wait at Telegram"
    assert [b and b["text"] for b in bodies] == ["ok"] * 6, "each answered in its own answer"
    await intake.drain()  # the answers went before each update's end was written
    assert await t.InboundEvent.filter(status="done").count() == 6
