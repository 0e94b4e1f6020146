"""Bug (fixed in c35a2ef): a Telegram update whose handler failed was marked done, not retried.

PTB catches a handler's exception, hands it to the error handlers and returns normally, so the
durable intake never saw the failure: it marked the update `done` and the fieldworker's press or
message was silently lost (e.g. when the database stayed locked past every retry). Now the intake's
own error handler notes the failure; the update stays `new` and the sweep runs it again (at most
three attempts), while a redelivery of the same update is still not acted on twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from telegram.ext import MessageHandler, filters

from bot.inbound import TelegramIntake
from emulators import make_message_update
from models import tables as t
from tests.regressions.conftest import Telegram


async def test_a_failed_handler_leaves_the_update_for_recovery(telegram: Telegram) -> None:
    application = telegram.application
    seen: list[str] = []

    async def flaky(update: Any, context: Any) -> None:
        seen.append(update.message.text)
        if len(seen) == 1:
            raise RuntimeError("database went away")

    application.add_handler(MessageHandler(filters.TEXT, flaky))
    intake = TelegramIntake(application)
    update = make_message_update(42, 7, "hello")

    assert await intake.take(update) is True
    await intake.drain()
    row = await t.InboundEvent.get(key="tg:42")
    assert row.status == "new" and row.attempts == 1 and "database went away" in (row.error or "")

    assert await intake.take(update) is False, "a redelivery is not acted on again"
    await intake.drain()
    assert seen == ["hello"]

    assert await intake.recover(older_than=timedelta(0)) == 1
    row = await t.InboundEvent.get(key="tg:42")
    assert row.status == "done" and seen == ["hello", "hello"]
    assert await intake.recover(older_than=timedelta(0)) == 0
