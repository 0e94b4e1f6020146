"""Telegram's rate limits: the emulator enforces them when asked, and the outbox sender keeps them.

The emulator's limits run on a clock the test holds still, so "within a second" never depends on how
fast this machine is. The sender test runs on real time (about three seconds for 100 messages) and
asserts what a user would notice: every message arrives, in order per chat, and Telegram never had
to refuse one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot

from bot.config import ConfigError, load_config
from emulators import TelegramEmulator, TelegramLimits, running
from models import tables as t
from models.views import utcnow
from notifications.sender import OutboxSender
from notifications.telegram_transport import AiohttpRequest

TOKEN = "123456:LIMITS-token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def send(http: aiohttp.ClientSession, url: str, chat: int, **extra: Any) -> tuple[int, Any]:
    """sendMessage over raw HTTP; returns the status and the JSON body as Telegram sends them."""
    body = {"chat_id": chat, "text": f"to {chat}", **extra}
    async with http.post(f"{url}/bot{TOKEN}/sendMessage", json=body) as resp:
        return resp.status, await resp.json()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def limited(clock: Clock) -> AsyncIterator[tuple[TelegramEmulator, str]]:
    emu = TelegramEmulator(limits=TelegramLimits(), clock=clock)
    async with running(emu.app) as url:
        yield emu, url


async def test_the_31st_message_within_a_second_gets_429_with_retry_after(
    limited: tuple[TelegramEmulator, str], clock: Clock
) -> None:
    emu, url = limited
    async with aiohttp.ClientSession() as http:
        for chat in range(1, 31):
            assert (await send(http, url, chat))[0] == 200
        clock.now += 0.5
        status, body = await send(http, url, 31)
        assert status == 429
        assert body == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        }
        assert 31 not in {c.params["chat_id"] for c in emu.calls_of("sendMessage", ok_only=True)}
        assert emu.chat_messages(31) == [], "a refused message is not delivered"
        clock.now += 0.5  # the first 30 are a second old
        assert (await send(http, url, 31))[0] == 200


async def test_a_chat_gets_one_message_a_second(
    limited: tuple[TelegramEmulator, str], clock: Clock
) -> None:
    emu, url = limited
    async with aiohttp.ClientSession() as http:
        assert (await send(http, url, 7))[0] == 200
        clock.now += 0.9
        status, body = await send(http, url, 7)
        assert (status, body["parameters"]) == (429, {"retry_after": 1})
        assert (await send(http, url, 8))[0] == 200, "another chat is not held up"
        clock.now += 0.1
        assert (await send(http, url, 7))[0] == 200
    assert [m["text"] for m in emu.chat_messages(7)] == ["to 7", "to 7"]


async def test_an_edit_waits_for_no_chat_but_counts_toward_the_bot(
    limited: tuple[TelegramEmulator, str],
) -> None:
    emu, url = limited
    async with aiohttp.ClientSession() as http:
        assert (await send(http, url, 7))[0] == 200
        edit = {"chat_id": 7, "message_id": 1, "text": "taken"}
        async with http.post(f"{url}/bot{TOKEN}/editMessageText", json=edit) as resp:
            assert resp.status == 200, "an edit puts no new message in the chat"
        for chat in range(100, 128):
            assert (await send(http, url, chat))[0] == 200
        edit["text"] = "taken again"
        async with http.post(f"{url}/bot{TOKEN}/editMessageText", json=edit) as resp:
            assert resp.status == 429, "the 31st call of the second"
    assert emu.message(7, 1)["text"] == "taken"


async def test_paid_broadcast_messages_go_beyond_thirty_a_second(
    limited: tuple[TelegramEmulator, str],
) -> None:
    emu, url = limited
    async with aiohttp.ClientSession() as http:
        for chat in range(1, 31):
            assert (await send(http, url, chat))[0] == 200
        for chat in range(31, 91):
            status, _ = await send(http, url, chat, allow_paid_broadcast=True)
            assert status == 200
        assert (await send(http, url, 91))[0] == 429, "an unpaid message still keeps to 30"
    assert len(emu.calls_of("sendMessage", ok_only=True)) == 90


async def test_limits_are_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    emu = TelegramEmulator()
    async with running(emu.app) as url, aiohttp.ClientSession() as http:
        statuses = [(await send(http, url, 7))[0] for _ in range(40)]
    assert statuses == [200] * 40
    monkeypatch.setenv("EMULATOR_TELEGRAM_LIMITS", "true")
    assert TelegramLimits.from_env() == TelegramLimits()
    monkeypatch.setenv("EMULATOR_TELEGRAM_LIMITS", "0")
    assert TelegramLimits.from_env() is None


# -- the outbox sender against the limited emulator, with the production client


@pytest.fixture
async def limited_bot(db: str) -> AsyncIterator[tuple[TelegramEmulator, Bot]]:
    emu = TelegramEmulator(token=TOKEN, limits=TelegramLimits())
    async with (
        running(emu.app) as url,
        Bot(TOKEN, base_url=f"{url}/bot", request=AiohttpRequest()) as bot,
    ):
        yield emu, bot


async def queue(chat: int, body: str, template: str = "job_request") -> None:
    await t.Notification.create(
        channel="telegram",
        recipient=str(chat),
        template=template,
        body=body,
        payload={"method": "send"},
        next_attempt_at=utcnow(),
    )


async def deliver_all(sender: OutboxSender) -> None:
    task = asyncio.create_task(sender.run())
    try:
        async with asyncio.timeout(60):
            while True:
                if not await t.Notification.filter(status="queued").exists():
                    return
                await asyncio.sleep(0.05)
    finally:
        sender.stop()
        await task


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_100_message_broadcast_never_gets_a_429(
    limited_bot: tuple[TelegramEmulator, Bot],
) -> None:
    emu, bot = limited_bot
    for n in range(100):  # 50 chats, two messages each: both limits matter
        await queue(5000 + n % 50, f"message {n // 50} to {5000 + n % 50}")
    await deliver_all(OutboxSender(bot=bot, poll_interval=0.05))
    assert [c.status for c in emu.calls if c.status != 200] == []
    assert len(emu.calls_of("sendMessage", ok_only=True)) == 100
    for chat in range(5000, 5050):
        texts = [m["text"] for m in emu.chat_messages(chat)]
        assert texts == [f"message 0 to {chat}", f"message 1 to {chat}"]
    assert await t.Notification.filter(status="sent").count() == 100


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_paid_broadcast_sends_job_requests_with_allow_paid_broadcast(
    limited_bot: tuple[TelegramEmulator, Bot],
) -> None:
    emu, bot = limited_bot
    await queue(6001, "New job request")
    await queue(6002, "You are assigned", template="assigned_fieldworker")
    await deliver_all(OutboxSender(bot=bot, poll_interval=0.05, telegram_paid_broadcast=True))
    sent = {c.params["chat_id"]: c.params for c in emu.calls_of("sendMessage", ok_only=True)}
    assert sent[6001].get("allow_paid_broadcast") is True
    assert "allow_paid_broadcast" not in sent[6002], "only job requests are paid for"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_without_paid_broadcast_no_message_is_paid_for(
    limited_bot: tuple[TelegramEmulator, Bot],
) -> None:
    emu, bot = limited_bot
    await queue(6001, "New job request")
    await deliver_all(OutboxSender(bot=bot, poll_interval=0.05))
    (call,) = emu.calls_of("sendMessage", ok_only=True)
    assert "allow_paid_broadcast" not in call.params


def test_paid_broadcast_is_off_by_default_and_read_from_the_environment() -> None:
    assert load_config(_env_file=None).telegram_paid_broadcast is False
    assert load_config(_env_file=None, TELEGRAM_PAID_BROADCAST="true").telegram_paid_broadcast
    with pytest.raises(ConfigError, match=r"^TELEGRAM_PAID_BROADCAST"):
        load_config(_env_file=None, TELEGRAM_PAID_BROADCAST="sometimes")
