"""Prints the Telegram broadcast rate the outbox sender reaches under Telegram's limits.

    python bench/bench_broadcast.py [--messages 900] [--burst 10] [--latency-ms 0] [--paid]

The Bot API emulator enforces Telegram's limits (30 messages a second per bot, one a second per
chat, 429 with retry_after beyond them). The sender delivers MESSAGES job requests to as many chats,
then BURST messages to one chat. For each it prints the wall time from the rows being due to the
last one sent, the sustained rate (arrivals after those of the first second, over the time from
the first arrival to the last: what a long broadcast settles at), the busiest second the emulator
saw, the 429s it answered, and the sustained rate as a share of Telegram's ceiling.
`--paid` turns on paid broadcast (TELEGRAM_PAID_BROADCAST): the ceiling is 1,000 a second.
Figures only; no assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from aiohttp import web
from telegram import Bot

from emulators import TelegramEmulator, TelegramLimits, running
from models import tables as t
from models.db import close_db, init_db
from models.views import utcnow
from notifications.sender import OutboxSender
from notifications.telegram_transport import AiohttpRequest


async def deliver(sender: OutboxSender, rows: list[tuple[int, str]]) -> float:
    """Queue (chat, text) rows as one transaction would, wait until all are sent; seconds taken."""
    now = utcnow()
    await t.Notification.bulk_create(
        [
            t.Notification(
                channel="telegram",
                recipient=str(chat),
                template="job_request",
                body=text,
                payload={"method": "send"},
                next_attempt_at=now,
            )
            for chat, text in rows
        ]
    )
    t0 = time.perf_counter()
    sender.wake()
    while True:
        if not await t.Notification.filter(status="queued").exists():
            return time.perf_counter() - t0
        await asyncio.sleep(0.05)


def report(what: str, took: float, arrivals: list[float], refused: int, ceiling: float) -> None:
    """One line of figures; `arrivals` are the emulator's clock at each message it accepted."""
    count = len(arrivals)
    allowance = sum(1 for a in arrivals if a < arrivals[0] + 1.0)  # the first second's
    span = arrivals[-1] - arrivals[0] if count > 1 else 0.0
    sustained = (count - allowance) / span if count > allowance and span else float("nan")
    busiest = max(sum(1 for b in arrivals if a <= b < a + 1.0) for a in arrivals)
    print(
        f"{what}: {count} messages in {took:.2f} s ({count / took:.1f}/s); sustained "
        f"{sustained:.2f} msg/s "
        f"= {sustained / ceiling:.3f} of the {ceiling:g} msg/s ceiling; busiest second "
        f"{busiest} messages; {refused} x 429",
        flush=True,
    )


async def main(messages: int, burst: int, latency_ms: int, paid: bool) -> None:
    emu = TelegramEmulator(limits=TelegramLimits())
    arrivals: list[float] = []

    @web.middleware
    async def timed(request: web.Request, handler):  # type: ignore[no-untyped-def]
        await asyncio.sleep(latency_ms / 2000)  # half the round trip on the way there
        arrived = time.monotonic()  # the emulator's limits count on this clock
        response = await handler(request)
        if response.status == 200 and request.path.endswith("/sendMessage"):
            arrivals.append(arrived)
        await asyncio.sleep(latency_ms / 2000)
        return response

    emu.app.middlewares.append(timed)

    def refused() -> int:
        return sum(1 for call in emu.calls if call.status == 429)

    with tempfile.TemporaryDirectory() as tmp:
        await init_db(f"sqlite://{tmp}/bench.sqlite3")
        async with running(emu.app) as url:
            bot = Bot("1:BENCH", base_url=f"{url}/bot", request=AiohttpRequest())
            async with bot:
                sender = OutboxSender(bot=bot, poll_interval=0.05, telegram_paid_broadcast=paid)
                task = asyncio.create_task(sender.run())
                ceiling = sender.pacer.ceiling
                took = await deliver(sender, [(10_000 + i, f"job {i}") for i in range(messages)])
                report(f"broadcast to {messages} chats", took, arrivals, refused(), ceiling)
                before, arrivals[:] = refused(), []
                took = await deliver(sender, [(42, f"burst {i}") for i in range(burst)])
                report("burst to one chat", took, arrivals, refused() - before, 1.0)
                sender.stop()
                await task
        await close_db()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=900)
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--latency-ms", type=int, default=0, help="emulator answers this late")
    parser.add_argument("--paid", action="store_true", help="paid broadcast: 1,000 msg/s ceiling")
    a = parser.parse_args()
    asyncio.run(main(a.messages, a.burst, a.latency_ms, a.paid))
