"""Durable intake: an update is recorded before it acts, deduplicated, and retried when a handler
fails (PTB swallows handler exceptions, so the intake must notice them itself)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from telegram.ext import Application, ApplicationBuilder, MessageHandler, filters

from bot.inbound import TelegramIntake
from emulators import TelegramEmulator, make_message_update, running
from models import tables as t
from notifications.telegram_transport import AiohttpRequest


@pytest.fixture
async def application(db: str) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    emu = TelegramEmulator()
    async with running(emu.app) as url:
        app = (
            ApplicationBuilder()
            .token("1:TEST")
            .base_url(f"{url}/bot")
            .request(AiohttpRequest())
            .get_updates_request(AiohttpRequest())
            .updater(None)
            .build()
        )
        async with app:
            yield app


async def test_a_failed_handler_leaves_the_update_for_recovery(application: Any) -> None:
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
