"""The scheduler's work: fire due timers, expire unanswered requests, recover updates.

Deadlines live in the database (`dispatch.timers`); APScheduler only wakes the process: every
`SWEEP_INTERVAL_S` (default `SWEEP_SECONDS`), at start (work that came due while the process was
down runs once then), and at the soonest deadline a transaction just armed or a sweep left
pending (`Waker`). Each timer fires in a transaction of its own that claims it, so a second
instance or a restart never fires it again. Stopping (`Sweeper.stop`) lets the sweep under way
finish the timer in hand before the database closes: a stop never cuts a sweep off in the middle
of a transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from bot.context import AppContext
from dispatch import offering, timers
from dispatch.deadlines import TimerStatus
from models import tables as t
from models.transactions import is_transient
from models.views import utcnow
from notifications import template_store
from notifications.metrics import TIMER_LAG

log = logging.getLogger(__name__)

SWEEP_SECONDS = 5
INBOUND_RETENTION = timedelta(days=7)
BATCH = 200
#: Seconds a stop waits for the sweep under way (it ends after the timer in hand).
STOP_TIMEOUT = 10.0
_NEVER_STOPS = asyncio.Event()
_lock = asyncio.Lock()  # one sweep at a time (one service per process)
_again = asyncio.Event()  # a sweep was asked for while one ran: that one goes round again


async def sweep(app_ctx: AppContext, stopping: asyncio.Event = _NEVER_STOPS) -> bool:
    """Everything due: timers, request expiry, unprocessed updates. Ends early, between two
    transactions, once `stopping` is set. False when one was under way already: that one goes
    round once more when it ends, for what woke this one (a deadline armed meanwhile may have
    been due before it began)."""
    if _lock.locked():
        _again.set()
        return False
    async with _lock:
        _again.set()
        while _again.is_set() and not stopping.is_set():
            _again.clear()
            try:
                await _sweep(app_ctx, stopping)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # The database is locked or busy (an outage, another process): the next
                # sweep catches up.
                log.warning("sweep skipped: %s", exc)
                break
    return True


async def fire_due_timers(app_ctx: AppContext, stopping: asyncio.Event = _NEVER_STOPS) -> int:
    """Fire each due timer in a transaction of its own; returns how many acted."""
    acted = 0
    tried: set[int] = set()
    while not stopping.is_set():
        due = await app_ctx.tx.run(lambda uow: uow.due_timer_ids(BATCH))
        if tried.issuperset(due):
            # Everything still due was tried already: another instance holds it (its transaction
            # settles it) or the database refused; the next sweep looks again, no busy loop.
            return acted
        tried.update(due)
        due_at = dict(await t.Timer.filter(id__in=due).values_list("id", "due_at")) if due else {}
        for timer_id in due:
            if stopping.is_set():
                return acted  # the rest stay pending: the next start fires them
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
    return acted


async def _sweep(app_ctx: AppContext, stopping: asyncio.Event) -> None:
    # Templates another instance saved are in force here from this sweep on.
    await template_store.refresh()
    await fire_due_timers(app_ctx, stopping)
    due = cast(
        "list[int]",
        await t.JobRequest.filter(status="pending", expires_at__lte=utcnow())
        .order_by("expires_at")
        .limit(BATCH)
        .values_list("id", flat=True),
    )
    for request_id in due:
        if stopping.is_set():
            return
        try:
            await app_ctx.tx.run(partial(offering.expire_request, request_id=request_id))
        except Exception:
            log.exception("expiring request %s failed", request_id)
    if app_ctx.intake is not None and not stopping.is_set():
        await app_ctx.intake.recover()
    # Redeliveries come within hours; a week of keys is plenty to dedupe them.
    await t.InboundEvent.filter(
        status__in=["done", "failed"], created_at__lt=utcnow() - INBOUND_RETENTION
    ).delete()
    await t.CallbackAnswer.filter(created_at__lt=utcnow() - INBOUND_RETENTION).delete()


class Waker:
    """Wakes the sweep at the soonest known deadline, between the regular sweeps."""

    def __init__(
        self, scheduler: Any, job: Callable[[], Awaitable[None]], interval: float | None = None
    ) -> None:
        self.scheduler = scheduler
        self.job = job  # a sweep followed by `after_sweep`
        self.interval = interval  # of the regular sweeps (`SWEEP_SECONDS` unless given)
        self.at: datetime | None = None

    def wake_at(self, when: datetime) -> None:
        """Make sure a sweep runs at `when` (or at once when it is past)."""
        now = datetime.now(UTC)
        if self.at is not None and now < self.at <= when:
            return  # an earlier wake-up is set already
        self.at = max(when, now + timedelta(milliseconds=10))
        self.scheduler.add_job(
            self.job,
            "date",
            run_date=self.at,
            id="wake",
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def after_sweep(self, started: datetime) -> None:
        """Set the wake-up for the soonest deadline after `started` (a sweep's start) that is
        still pending, if one is before the next regular sweep. A deadline that was due when the
        sweep began and is still pending (another instance holds it, the database was busy) is
        left to the regular sweep: waking for it at once again would spin."""
        row = (
            await t.Timer.filter(status=TimerStatus.PENDING.value, due_at__gt=started)
            .order_by("due_at")
            .first()
        )
        soon = datetime.now(UTC) + timedelta(seconds=self.interval or SWEEP_SECONDS)
        if row is not None and row.due_at is not None and row.due_at < soon:
            self.wake_at(row.due_at)


class Sweeper:
    """APScheduler (in memory only: DESIGN) running the sweep now, every `interval` seconds, and at
    each deadline a transaction arms; `stop()` ends it without cutting a sweep off."""

    def __init__(self, app_ctx: AppContext, interval: float | None = None) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.app_ctx = app_ctx
        #: Seconds between regular sweeps: SWEEP_INTERVAL_S (`SWEEP_SECONDS` unless given).
        self.interval = interval or SWEEP_SECONDS
        self.stopping = asyncio.Event()
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.waker = Waker(self.scheduler, self.sweep_and_rearm, self.interval)
        self._running: set[asyncio.Task[Any]] = set()

    async def sweep_and_rearm(self) -> None:
        """A sweep (regular or woken), then the wake-up for the next deadline before the next
        regular sweep: a sweep that fired one deadline leaves the one after it a wake-up."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            if self.stopping.is_set():
                return
            started = datetime.now(UTC)
            if await sweep(self.app_ctx, self.stopping) and not self.stopping.is_set():
                await self.waker.after_sweep(started)
        finally:
            self._running.discard(cast("asyncio.Task[Any]", task))

    def start(self) -> None:
        """Sweep now (what came due while the process was down), then every `interval` seconds."""
        self.app_ctx.tx.on_armed = self.waker.wake_at
        self.scheduler.add_job(
            self.sweep_and_rearm,
            "interval",
            seconds=self.interval,
            max_instances=1,
            coalesce=True,
            id="sweep",
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.start()

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:  # noqa: ASYNC109
        """Start no sweep, let the one under way finish its timer in hand, then shut down.

        APScheduler's shutdown cancels the jobs still running: a sweep cancelled inside a
        transaction is logged as a failed job, with a traceback, on every stop during a sweep.
        """
        self.stopping.set()
        self.app_ctx.tx.on_armed = None
        self.scheduler.pause()
        running = [task for task in self._running if not task.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=timeout)
            if late:
                log.warning("stopping: a sweep still running after %.0fs is cut off", timeout)
        await asyncio.sleep(0)  # a job just submitted sees `stopping` and returns at once
        self.scheduler.shutdown(wait=False)


def start_scheduler(app_ctx: AppContext) -> Sweeper:
    """The sweep, started: now, every `SWEEP_INTERVAL_S` and at each deadline a transaction arms."""
    sweeper = Sweeper(app_ctx, app_ctx.config.sweep_interval_s)
    sweeper.start()
    return sweeper
