"""A sweep whose due timers were all held by another instance (claimed in its open transaction)
read the same batch again and again until that instance finished: a busy loop of queries.

Now a sweep stops once everything still due was tried; the next sweep looks again.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot import sweep
from dispatch import timers
from dispatch.deadlines import TimerKind
from tests.unit.fakes import NOW, FakeUnitOfWork


class FakeTx:
    """Runs each "transaction" on one fake unit of work, counting them."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.runs = 0

    async def run(self, fn: Any) -> Any:
        self.runs += 1
        await asyncio.sleep(0)  # a real transaction yields to the loop
        return await fn(self.uow)


class Ctx:
    def __init__(self, tx: FakeTx) -> None:
        self.tx = tx


async def test_timers_held_elsewhere_end_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    uow = FakeUnitOfWork()
    for subject in range(1, 4):
        await uow.arm_timer(TimerKind.NO_ACCEPTANCE, subject, subject, NOW, NOW)
    uow.clock.advance(seconds=1)

    async def held_by_another_instance(_uow: Any, timer_id: int) -> bool:
        return False  # the claim lost: the row stays pending until the other commits

    monkeypatch.setattr(timers, "fire", held_by_another_instance)
    monkeypatch.setattr(sweep, "BATCH", 3)  # a full batch: the old loop never saw a short one
    tx = FakeTx(uow)
    acted = await asyncio.wait_for(sweep.fire_due_timers(Ctx(tx)), timeout=5)  # type: ignore[arg-type]
    assert acted == 0
    assert tx.runs < 10, f"{tx.runs} transactions for 3 timers someone else holds"
    assert all(t.due_at is not None for t in uow.timers.values())
