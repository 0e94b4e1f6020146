"""Bug (fixed in 3bcaad0): the Telegram webhook accepted and stored a body PTB could not read.

A JSON object with an integer `update_id` was answered 200 and recorded, and only failed later, in
the background, on every retry - an error in the log each time for something that was never a
Telegram update. Now the webhook parses it first and refuses it with 400, recording nothing; a real
update is still recorded and answered 200. Driven through the webhook handler itself, mounted as the
app factory mounts it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import telegram_webhook
from bot.config import load_config
from bot.context import CTX, AppContext
from bot.inbound import TelegramIntake
from models import tables as t
from models.transactions import Transactions
from tests.regressions.conftest import TOKEN, Telegram

SECRET = "webhook-secret_1"
PATH = "/telegram/webhook"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


@pytest.fixture
async def webhook(telegram: Telegram) -> AsyncIterator[tuple[TestClient, TelegramIntake]]:
    config = load_config(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_WEBHOOK_SECRET=SECRET, _env_file=None)
    intake = TelegramIntake(telegram.application)
    app = web.Application()
    app[CTX] = AppContext(config=config, tx=Transactions(), intake=intake)
    app.router.add_post(PATH, telegram_webhook)
    async with TestClient(TestServer(app)) as client:
        yield client, intake
    await intake.drain()


async def test_a_body_that_is_not_an_update_is_refused_and_not_recorded(
    webhook: tuple[TestClient, TelegramIntake],
) -> None:
    client, intake = webhook
    async with client.post(PATH, json={"update_id": 5, "message": {}}, headers=HEADERS) as resp:
        assert resp.status == 400
    assert await t.InboundEvent.all().count() == 0, "nothing recorded, nothing to fail later"

    async with client.post(PATH, json={"update_id": 6}, headers=HEADERS) as resp:
        assert resp.status == 200
    await intake.drain()
    recorded = await t.InboundEvent.all()
    assert [(e.key, e.status) for e in recorded] == [("tg:6", "done")]
