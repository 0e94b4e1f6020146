"""Bug: a deadline armed while a sweep was running, already due when that sweep began, waited for
the next regular sweep.

A booking whose appointment starts within `unassigned_alert_lead_s` arms an alert that is due at
once, and the transaction wakes the scheduler. When a sweep was under way, the woken sweep
returned at once ("the running sweep picks up whatever woke this one"), but the running one had
looked for due timers already, and only looks for deadlines after its own start to wake for. Now a
sweep asked for while one runs makes that one go round once more when it ends.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot import sweep as sweep_module
from bot.config import load_config
from bot.context import AppContext
from dispatch.deadlines import TimerKind
from models import tables as t
from models.transactions import Transactions
from models.views import utcnow
from tests.regressions.conftest import until


class SlowIntake:
    """Stands in for the Telegram intake: its recovery, at the end of a sweep, waits for `gate`."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.recovering = asyncio.Event()

    async def recover(self) -> None:
        self.recovering.set()
        await self.gate.wait()


async def test_a_deadline_armed_during_a_sweep_fires_when_that_sweep_ends(db: str) -> None:
    intake = SlowIntake()
    app_ctx = AppContext(
        config=load_config(SWEEP_INTERVAL_S=3600, _env_file=None),  # regular sweep: start only
        tx=Transactions(),
        intake=intake,  # type: ignore[arg-type]
    )
    sweeper = sweep_module.start_scheduler(app_ctx)
    try:
        await asyncio.wait_for(intake.recovering.wait(), 10)  # the start-up sweep, held
        past = utcnow() - timedelta(hours=1)

        async def arm(uow):  # a booking that no longer exists: the timer is dropped
            await uow.arm_timer(TimerKind.NO_ACCEPTANCE, 903, 903, past, past)

        await app_ctx.tx.run(arm)  # wakes the scheduler, while the sweep is under way
        await asyncio.sleep(0.2)  # the wake-up has come and gone
        assert await t.Timer.filter(status="pending").exists()
        intake.gate.set()

        async def fired() -> bool:
            return not await t.Timer.filter(status="pending").exists()

        await until(fired, within=10, what="the deadline fired")
    finally:
        intake.gate.set()
        await sweeper.stop()
