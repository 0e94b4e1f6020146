"""Regression tests, one file per bug, named after it: the outbox against the real clients.

`providers` serves the Bot API and Twilio emulators on loopback with the production clients pointed
at them, over a migrated database on each backend; `queue` writes outbox rows as a command would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from telegram import Bot
from twilio.rest import Client

from emulators import TelegramEmulator, TwilioEmulator, running
from models import tables as t
from models.views import utcnow
from notifications.sender import PROVIDER_TIMEOUT
from notifications.telegram_transport import AiohttpRequest
from notifications.twilio_transport import TwilioHttpClient

TOKEN = "123456:REGRESSION-token"
SID = "AC" + "1" * 32
AUTH = "twilio-auth-token"
FROM = "+15550000000"


@dataclass
class Providers:
    """The emulators and the clients the sender uses to reach them."""

    tg: TelegramEmulator
    sms: TwilioEmulator
    bot: Bot
    twilio: Client


@pytest.fixture
async def providers(db: str) -> AsyncIterator[Providers]:
    """Telegram and Twilio emulators with the production clients, over a fresh database."""
    tg = TelegramEmulator(token=TOKEN)
    sms = TwilioEmulator(account_sid=SID, auth_token=AUTH)
    async with running(tg.app) as tg_url, running(sms.app) as sms_url:
        twilio = Client(SID, AUTH, http_client=TwilioHttpClient(timeout=PROVIDER_TIMEOUT))
        twilio.api.base_url = sms_url
        bot = Bot(TOKEN, base_url=f"{tg_url}/bot", request=AiohttpRequest())
        try:
            async with bot:
                yield Providers(tg, sms, bot, twilio)
        finally:
            await twilio.http_client.close()


async def queue(channel: str, recipient: str, body: str, **extra: Any) -> int:
    """One due outbox row, as the deciding transaction writes it; returns its id."""
    row = await t.Notification.create(
        channel=channel,
        recipient=recipient,
        template="regression",
        body=body,
        payload={"method": "send"},
        next_attempt_at=utcnow(),
        **extra,
    )
    return int(row.id)


async def until(
    check: Callable[[], bool | Awaitable[bool]], within: float = 10.0, what: str = "condition"
) -> None:
    """Poll `check` (sync or async) every 20 ms; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"{what} not met within {within:.0f}s")
        await asyncio.sleep(0.02)
