"""Bug: a recipient's later rows were claimed with a lease counted from the poll, not the claim.

The sender took one clock reading per poll and claimed each row until that time plus 60 s; a row
claimed after its recipient's earlier rows had taken a while got a shorter lease, down to none, so
a second instance could claim it while it was being sent. Each claim now reads the clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from models import tables as t
from models.views import utcnow
from notifications.sender import LEASE, OutboxSender
from tests.regressions.conftest import Providers, queue, until


async def test_each_row_is_claimed_for_a_full_lease(providers: Providers) -> None:
    p = providers
    p.tg.delay_next("sendMessage", 1.5)  # the first row's call is slow
    p.tg.delay_next("sendMessage", 3600)  # the second is held so its claim can be read
    await queue("telegram", "7300", "one")
    second = await queue("telegram", "7300", "two")
    started = utcnow()
    sender = OutboxSender(bot=p.bot, poll_interval=0.05)
    task = asyncio.create_task(sender.run())
    try:
        await until(
            lambda: p.tg.held == 1 and len(p.tg.calls_of("sendMessage")) == 1,
            what="the second row's call under way",
        )
        row = await t.Notification.get(id=second)
        assert row.claimed_until is not None
        assert row.claimed_until >= started + timedelta(seconds=1.5) + LEASE
    finally:
        p.tg.release()
        sender.stop()
        await task
