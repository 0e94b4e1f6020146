"""Prints how long the outbox sender takes to deliver a broadcast through the Bot API emulator.

    python bench/bench_outbox.py [MESSAGES] [LATENCY_MS]

The emulator answers after LATENCY_MS (default 50, a fair Telegram round trip), so the figure shows
how the sender overlaps round trips while keeping each chat's messages in order.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time

from aiohttp import web
from telegram import Bot

from emulators import TelegramEmulator, running
from models import tables as t
from models.db import close_db, init_db
from models.views import utcnow
from notifications.sender import OutboxSender
from notifications.telegram_transport import AiohttpRequest


async def main(count: int, latency_ms: int) -> None:
    emu = TelegramEmulator()

    @web.middleware
    async def slow(request: web.Request, handler):  # type: ignore[no-untyped-def]
        await asyncio.sleep(latency_ms / 1000)
        return await handler(request)

    emu.app.middlewares.append(slow)
    with tempfile.TemporaryDirectory() as tmp:
        await init_db(f"sqlite://{tmp}/bench.sqlite3")
        now = utcnow()
        for i in range(count):
            await t.Notification.create(
                channel="telegram",
                recipient=str(10_000 + i),
                template="bench",
                body=f"message {i}",
                payload={"method": "send"},
                next_attempt_at=now,
            )
        async with running(emu.app) as url:
            bot = Bot("1:BENCH", base_url=f"{url}/bot", request=AiohttpRequest())
            async with bot:
                sender = OutboxSender(bot=bot)
                t0 = time.perf_counter()
                while await t.Notification.filter(status="queued").exists():
                    await sender.drain_once()
                took = time.perf_counter() - t0
        await close_db()
    print(
        f"outbox: {count} Telegram messages at {latency_ms} ms round trip delivered in "
        f"{took:.2f} s ({count / took:.0f}/s)"
    )


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    ms = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    asyncio.run(main(n, ms))
