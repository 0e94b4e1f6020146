"""Bug: of two deadlines close together, only the first got its wake-up; the second waited for the
next regular sweep.

A transaction that arms timers wakes the scheduler for the soonest of them (a new booking arms
"still no acceptance" and "unassigned close to start" at once), and a later wake-up never replaced
an earlier one. The woken sweep fired the first deadline and set no wake-up for the next, so that
one fired up to `SWEEP_SECONDS` late - or, with a long interval, not until the regular sweep. Now
every sweep, woken or regular, ends by setting the wake-up for the soonest deadline still pending.
"""

from __future__ import annotations

from datetime import timedelta

from bot import sweep as sweep_module
from bot.config import load_config
from bot.context import AppContext
from dispatch.deadlines import TimerKind
from models import tables as t
from models.transactions import Transactions
from models.views import utcnow
from tests.regressions.conftest import until


async def test_each_of_two_close_deadlines_fires_without_the_regular_sweep(db: str) -> None:
    config = load_config(SWEEP_INTERVAL_S=3600, _env_file=None)  # the regular sweep: start only
    app_ctx = AppContext(config=config, tx=Transactions())
    sweeper = sweep_module.start_scheduler(app_ctx)
    try:
        await until(lambda: not sweep_module._lock.locked(), what="the start-up sweep")
        now = utcnow()

        async def arm_two(uow):  # two bookings that no longer exist: each timer is dropped
            for subject, seconds in ((901, 0.3), (902, 0.6)):
                due = now + timedelta(seconds=seconds)
                await uow.arm_timer(TimerKind.NO_ACCEPTANCE, subject, subject, now, due)

        await app_ctx.tx.run(arm_two)

        async def fired() -> bool:
            return not await t.Timer.filter(status="pending").exists()

        await until(fired, within=10, what="both deadlines fired")
    finally:
        await sweeper.stop()
