"""The scheduler's work: fire due timers, expire unanswered requests, recover updates.

Deadlines live in the database (`dispatch.timers`); APScheduler only wakes the process: every
`SWEEP_SECONDS`, at start (work that came due while the process was down runs once then), and at
the soonest deadline a transaction just armed (`Waker`). Each timer fires in a transaction of its
own that claims it, so a second instance or a restart never fires it again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from bot.context import AppContext
from dispatch import offering, timers
from dispatch.deadlines import TimerStatus
from models import tables as t
from models.transactions import is_transient
from models.views import utcnow
from notifications.metrics import TIMER_LAG

log = logging.getLogger(__name__)

SWEEP_SECONDS = 5
INBOUND_RETENTION = timedelta(days=7)
BATCH = 200
_lock = asyncio.Lock()


async def sweep(app_ctx: AppContext) -> None:
    """Everything due: timers, request expiry, unprocessed updates (one sweep at a time)."""
    if _lock.locked():
        return  # the running sweep picks up whatever woke this one
    async with _lock:
        try:
            await _sweep(app_ctx)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # The database is locked or busy (an outage, another process): the next sweep
            # catches up.
            log.warning("sweep skipped: %s", exc)


async def fire_due_timers(app_ctx: AppContext) -> int:
    """Fire each due timer in a transaction of its own; returns how many acted."""
    acted = 0
    while True:
        due = await app_ctx.tx.run(lambda uow: uow.due_timer_ids(BATCH))
        due_at = dict(await t.Timer.filter(id__in=due).values_list("id", "due_at")) if due else {}
        for timer_id in due:
            if isinstance(when := due_at.get(timer_id), datetime):  # timer lag on /metrics
                TIMER_LAG.observe(max(0.0, (utcnow() - when).total_seconds()))
            try:
                acted += await app_ctx.tx.run(partial(timers.fire, timer_id=timer_id))
            except Exception as exc:
                if is_transient(exc):
                    raise
                # A flow that fails is recorded, not retried every few seconds for ever.
                log.exception("timer %s failed", timer_id)
                await t.Timer.filter(id=timer_id, status=TimerStatus.PENDING.value).update(
                    status=TimerStatus.FAILED.value
                )
        if len(due) < BATCH:
            return acted


async def _sweep(app_ctx: AppContext) -> None:
    await fire_due_timers(app_ctx)
    due = cast(
        "list[int]",
        await t.JobRequest.filter(status="pending", expires_at__lte=utcnow())
        .order_by("expires_at")
        .limit(BATCH)
        .values_list("id", flat=True),
    )
    for request_id in due:
        try:
            await app_ctx.tx.run(partial(offering.expire_request, request_id=request_id))
        except Exception:
            log.exception("expiring request %s failed", request_id)
    if app_ctx.intake is not None:
        await app_ctx.intake.recover()
    # Redeliveries come within hours; a week of keys is plenty to dedupe them.
    await t.InboundEvent.filter(
        status__in=["done", "failed"], created_at__lt=utcnow() - INBOUND_RETENTION
    ).delete()
    await t.CallbackAnswer.filter(created_at__lt=utcnow() - INBOUND_RETENTION).delete()


class Waker:
    """Wakes the sweep at the soonest known deadline, between the regular sweeps."""

    def __init__(self, scheduler: Any, app_ctx: AppContext) -> None:
        self.scheduler = scheduler
        self.app_ctx = app_ctx
        self.at: datetime | None = None

    def wake_at(self, when: datetime) -> None:
        """Make sure a sweep runs at `when` (or at once when it is past)."""
        now = datetime.now(UTC)
        if self.at is not None and now < self.at <= when:
            return  # an earlier wake-up is set already
        self.at = max(when, now + timedelta(milliseconds=10))
        self.scheduler.add_job(
            sweep,
            "date",
            run_date=self.at,
            args=[self.app_ctx],
            id="wake",
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def after_sweep(self) -> None:
        """Set the wake-up for the soonest pending deadline, if one is before the next sweep."""
        row = (
            await t.Timer.filter(status=TimerStatus.PENDING.value, due_at__not_isnull=True)
            .order_by("due_at")
            .first()
        )
        soon = datetime.now(UTC) + timedelta(seconds=SWEEP_SECONDS)
        if row is not None and row.due_at is not None and row.due_at < soon:
            self.wake_at(row.due_at)


def start_scheduler(app_ctx: AppContext) -> Any:
    """APScheduler (in memory only: DESIGN) running the sweep now, every `SWEEP_SECONDS`, and at
    each deadline a transaction arms."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone="UTC")
    waker = Waker(scheduler, app_ctx)
    app_ctx.tx.on_armed = waker.wake_at

    async def regular_sweep() -> None:
        await sweep(app_ctx)
        await waker.after_sweep()

    scheduler.add_job(
        regular_sweep,
        "interval",
        seconds=SWEEP_SECONDS,
        max_instances=1,
        coalesce=True,
        id="sweep",
        next_run_time=datetime.now(UTC),  # what came due while the process was down: now
    )
    scheduler.start()
    return scheduler
