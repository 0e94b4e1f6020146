"""Regression tests: one module per bug fixed, named after the bug; its docstring says what it was.

Each test takes the cheapest real path to what a user noticed: the core on a real database, or the
Telegram emulator where the bug lived in chat; the outbox ones use `providers` (the Bot API and
Twilio emulators with the production clients) and `queue` (an outbox row as a command writes it).
They run on SQLite only, and the integration tests run every rule on SQLite and PostgreSQL; a bug
that lived in one backend (a NUL, a 64-bit offset) imports the root conftest's both-backends
`db_url` into its module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from telegram import Bot
from telegram.ext import Application, ApplicationBuilder
from twilio.rest import Client

from bot.inbound import ReplyingRequest, TelegramIntake
from emulators import TelegramEmulator, TwilioEmulator, running
from handlers import telegram as fieldworker_chat
from handlers.context import ChatContext
from models import tables as t
from models.transactions import Transactions
from models.views import utcnow
from notifications.sender import PROVIDER_TIMEOUT
from notifications.telegram_bot import AnswerOnceBot
from notifications.telegram_transport import AiohttpRequest
from notifications.twilio_transport import TwilioHttpClient

TOKEN = "1:TEST"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite database (overrides the both-backends fixture of tests/conftest.py)."""
    return f"sqlite://{tmp_path}/test.sqlite3"


@dataclass
class Telegram:
    """The Bot API emulator and a started PTB application talking to it (no handlers yet)."""

    emu: TelegramEmulator
    application: Application  # type: ignore[type-arg]

    @property
    def bot(self) -> Any:
        """The application's bot, as the outbox sender uses it."""
        return self.application.bot


@pytest.fixture
async def telegram(db: str) -> AsyncIterator[Telegram]:
    """PTB on our aiohttp transport against the emulator, as the app factory builds it."""
    emu = TelegramEmulator(token=TOKEN)
    async with running(emu.app) as url:
        application = (
            ApplicationBuilder()
            .token(TOKEN)
            .base_url(f"{url}/bot")
            .request(ReplyingRequest())  # as the app factory builds it
            .get_updates_request(AiohttpRequest())
            .updater(None)
            .build()
        )
        async with application:
            yield Telegram(emu, application)


# -- the doors from outside: the REST API and the webhooks, mounted as the app factory mounts them


@pytest.fixture
async def api(db: str) -> AsyncIterator[TestClient]:
    """The REST API over HTTP (token `t`: see `tests.integration.test_api.call`)."""
    from models.access import ensure_default_roles
    from tests.integration.test_api import TOKEN, make_client

    await ensure_default_roles()
    async with make_client(TOKEN) as client:
        yield client


WEBHOOK_SECRET = "webhook-secret_1"
TWILIO_AUTH = "twilio-auth-token"


@dataclass
class Webhooks:
    """The Telegram and SMS webhooks of one app, its Telegram intake, and the emulator."""

    client: TestClient
    intake: Any
    telegram: Telegram

    async def update(self, update: dict[str, Any] | str) -> int:
        """POST an update (JSON, or raw text) with the secret; returns the status."""
        url = str(self.client.make_url("/telegram/webhook"))
        if isinstance(update, str):
            headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
            async with self.client.post("/telegram/webhook", data=update, headers=headers) as resp:
                status = resp.status
        else:  # as Telegram does: a press's answer in the webhook's body is run
            emu = self.telegram.emu
            status = await emu.deliver(self.client.session, url, update, secret=WEBHOOK_SECRET)
        await self.intake.drain()  # the update has run when this returns
        return status

    async def sms(self, form: dict[str, str]) -> int:
        """POST an inbound SMS signed as Twilio signs it; returns the status."""
        from twilio.request_validator import RequestValidator

        url = f"http://127.0.0.1:{self.client.port}/sms/inbound"  # PUBLIC_URL + path
        signature = RequestValidator(TWILIO_AUTH).compute_signature(url, form)
        async with self.client.post(
            "/sms/inbound", data=form, headers={"X-Twilio-Signature": signature}
        ) as resp:
            return resp.status


@pytest.fixture
async def webhooks(telegram: Telegram) -> AsyncIterator[Webhooks]:
    """The webhooks with every chat handler registered, as `dispatchbot run` serves them."""
    from aiohttp import web

    from admin_commands import telegram as admin
    from admin_commands.invocation import StaffContext
    from bot.app import telegram_webhook
    from bot.config import load_config
    from bot.context import CTX, AppContext
    from bot.inbound import TelegramIntake
    from handlers import telegram as fieldworker_chat
    from handlers.context import CHAT, ChatContext
    from handlers.sms import sms_inbound
    from models.transactions import Transactions
    from tests.e2e.conftest import free_port

    tx = Transactions()
    server = TestServer(web.Application(), host="127.0.0.1", port=free_port())
    public_url = f"http://127.0.0.1:{server.port}"
    config = load_config(
        TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET, _env_file=None
    )
    admin.register(telegram.application, StaffContext(tx=tx, timezone="UTC"))
    fieldworker_chat.register(telegram.application, ChatContext(tx=tx, timezone="UTC"))
    intake = TelegramIntake(telegram.application)
    app = server.app
    app[CTX] = AppContext(config=config, tx=tx, intake=intake)
    app[CHAT] = ChatContext(
        tx=tx, timezone="UTC", twilio_auth_token=TWILIO_AUTH, public_url=public_url
    )
    app.router.add_post("/telegram/webhook", telegram_webhook)
    app.router.add_post("/sms/inbound", sms_inbound)
    async with TestClient(server) as client:
        yield Webhooks(client, intake, telegram)
    await intake.drain()


# -- the outbox against the real clients

OUTBOX_TOKEN = "123456:REGRESSION-token"
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
    tg = TelegramEmulator(token=OUTBOX_TOKEN)
    sms = TwilioEmulator(account_sid=SID, auth_token=AUTH)
    async with running(tg.app) as tg_url, running(sms.app) as sms_url:
        twilio = Client(SID, AUTH, http_client=TwilioHttpClient(timeout=PROVIDER_TIMEOUT))
        twilio.api.base_url = sms_url
        bot = Bot(OUTBOX_TOKEN, base_url=f"{tg_url}/bot", request=AiohttpRequest())
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


@pytest.fixture
def write_transactions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the write transactions the process runs (`Transactions.run`), in order."""
    ran: list[str] = []
    original = Transactions.run

    async def counting(self: Transactions, fn: Any, *args: Any, **kwargs: Any) -> Any:
        ran.append(getattr(fn, "__qualname__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(Transactions, "run", counting)
    return ran


@pytest.fixture
async def answer_once_chat(db: str) -> AsyncIterator[tuple[TelegramEmulator, TelegramIntake]]:
    """The fieldworker chat on the bot `dispatchbot run` builds (`AnswerOnceBot`), against the
    Bot API emulator, with the intake that takes its updates."""
    emu = TelegramEmulator(token=TOKEN)
    async with running(emu.app) as url:
        bot = AnswerOnceBot(
            TOKEN,
            base_url=f"{url}/bot",
            request=AiohttpRequest(),
            get_updates_request=AiohttpRequest(),
        )
        application: Application = ApplicationBuilder().bot(bot).updater(None).build()  # type: ignore[type-arg]
        fieldworker_chat.register(application, ChatContext(tx=Transactions(), timezone="UTC"))
        async with application:
            intake = TelegramIntake(application)
            yield emu, intake
            await intake.drain()
