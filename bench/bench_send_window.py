"""Measures the window in which a crash can repeat a Telegram message (README "What a crash can
repeat"): from the moment the Bot API emulator sends the message to the moment the outbox has
committed its message id. A process killed inside that window leaves a row with an attempt and no
id, and the next process sends it again (Telegram has no idempotency key and no way to ask).

    python bench/bench_send_window.py [MESSAGES] [--postgres URL]   # URL: a database to empty

Runs the production sender (PTB on our aiohttp transport) against the emulator on loopback, on a
temporary SQLite file, and on PostgreSQL when a URL is given. Prints p50 / p99 / max in ms.
Figures only; no assertion.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from typing import Any

from telegram import Bot

from emulators import TelegramEmulator, running
from models import tables as t
from models.db import close_db, init_db
from models.views import utcnow
from notifications import attempts
from notifications.sender import OutboxSender
from notifications.telegram_transport import AiohttpRequest

TOKEN = "1:BENCH"


async def measure(url: str, messages: int, concurrency: int) -> list[float]:
    """Window per message, in ms, on one database."""
    await init_db(url)
    emu = TelegramEmulator(token=TOKEN)
    acted: dict[int, float] = {}
    recorded: dict[int, float] = {}
    send = emu._send_message

    async def timed_send(params: dict[str, Any]) -> Any:
        result = await send(params)
        acted[int(params["chat_id"])] = time.perf_counter()
        return result

    emu._handlers["sendmessage"] = ("sendMessage", timed_send)
    record = attempts.record_provider_id

    async def timed_record(row: t.Notification, provider_id: str) -> None:
        await record(row, provider_id)
        recorded[int(row.recipient)] = time.perf_counter()

    attempts.record_provider_id = timed_record  # type: ignore[assignment]
    try:
        async with running(emu.app) as base:
            await t.Notification.bulk_create(
                [
                    t.Notification(
                        channel="telegram",
                        recipient=str(10_000 + i),
                        template="bench",
                        body=f"Message {i}",
                        payload={"method": "send"},
                        next_attempt_at=utcnow(),
                    )
                    for i in range(messages)
                ]
            )
            bot = Bot(TOKEN, base_url=f"{base}/bot", request=AiohttpRequest())
            async with bot:
                sender = OutboxSender(bot=bot, telegram_per_second=1000, concurrency=concurrency)
                while await t.Notification.filter(status="queued").exists():
                    await sender.drain_once()
    finally:
        attempts.record_provider_id = record  # type: ignore[assignment]
        await close_db()
    return [(recorded[c] - acted[c]) * 1000 for c in acted if c in recorded]


def summary(name: str, ms: list[float]) -> str:
    """p50 / p99 / max of a sample."""
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{name:<10} n={len(ms):<5} p50 {statistics.median(ms):6.2f} ms   "
        f"p99 {p99:6.2f} ms   max {ordered[-1]:6.2f} ms"
    )


async def main() -> None:
    """Run on SQLite, and on PostgreSQL when asked."""
    args = sys.argv[1:]
    messages = int(args[0]) if args and args[0].isdigit() else 500
    for concurrency in (1, 8):  # one chat at a time; the sender's default per channel
        print(f"-- {concurrency} send(s) at once")
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite://{tmp}/bench.sqlite3"
            print(summary("SQLite", await measure(url, messages, concurrency)))
        if "--postgres" in args:
            url = args[args.index("--postgres") + 1]
            await reset(url)
            print(summary("PostgreSQL", await measure(url, messages, concurrency)))


async def reset(url: str) -> None:
    """Empty the PostgreSQL database (the benchmark's own)."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
