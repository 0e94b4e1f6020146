"""Durable intake of Telegram updates: record first, then act; a redelivery is a no-op.

The webhook stores the update (`inbound_event`, unique key `tg:<update_id>`) and answers 200 only
after that commit. Processing then runs in the background; a row still `new` after a crash is picked
up again by `recover()` (the scheduler calls it), claimed by a conditional UPDATE so two processes
never run the same update. The claim is short and renewed while the update runs (`models.leases`):
an update whose process died is taken again within seconds, one still running never is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any, cast

from tortoise.expressions import Q

from models import tables as t
from models.inbound import MAX_ATTEMPTS, claim, finish, record, renew_claims
from models.leases import LEASE, Heartbeat
from models.views import utcnow

log = logging.getLogger(__name__)


class TelegramIntake:
    """Feeds recorded Telegram updates to the PTB application, one background task each."""

    def __init__(self, application: Any):
        self.application = application
        self._tasks: set[asyncio.Task[None]] = set()
        # PTB catches handler exceptions and hands them to error handlers, then returns normally:
        # ours notes the failure so the update is retried instead of being marked done.
        self._failed: dict[int, str] = {}
        application.add_error_handler(self._on_handler_error)
        # Renews the claims of the updates being processed here while they run.
        self._heartbeat = Heartbeat(renew_claims)

    async def _on_handler_error(self, update: object, context: Any) -> None:
        update_id = getattr(update, "update_id", None)
        log.error("handler failed for update %s", update_id, exc_info=context.error)
        if isinstance(update_id, int):
            self._failed[update_id] = f"{type(context.error).__name__}: {context.error}"

    def parse(self, payload: dict[str, Any]) -> Any:
        """The PTB Update for a payload; raises when it is not one."""
        from telegram import Update

        return Update.de_json(payload, self.application.bot)

    async def take(self, payload: dict[str, Any]) -> bool:
        """Record the update and start processing it; False for a redelivery."""
        key = f"tg:{int(payload['update_id'])}"
        if not await record(key, payload):
            return False
        self.spawn(key)
        return True

    def spawn(self, key: str) -> None:
        """Process a recorded update in the background."""
        task = asyncio.create_task(self.process(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def process(self, key: str) -> None:
        """Run one recorded update through the PTB handlers."""
        event = await claim(key)
        if event is None:
            return
        async with self._heartbeat.held():
            try:
                update = self.parse(event.payload)
                await self.application.process_update(update)
            except Exception as exc:
                log.exception("processing %s failed", key)
                await finish(event, f"{type(exc).__name__}: {exc}")
                return
            # A failed handler leaves the update `new` for `recover()` (at most MAX_ATTEMPTS runs).
            await finish(event, self._failed.pop(update.update_id, None))

    async def recover(self, older_than: timedelta = LEASE) -> int:
        """Process updates left `new` (a crash between record and act); returns how many."""
        cutoff = utcnow() - older_than
        keys = (
            await t.InboundEvent.filter(
                status="new",
                key__startswith="tg:",
                created_at__lt=cutoff,
                attempts__lt=MAX_ATTEMPTS,
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=utcnow()))
            .order_by("id")
            .limit(100)
            .values_list("key", flat=True)
        )
        for key in cast("list[str]", keys):
            await self.process(key)
        return len(keys)

    async def drain(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait for running tasks (at shutdown)."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*self._tasks, return_exceptions=True), timeout
                )
        if not self._tasks:
            await self._heartbeat.stop()


async def poll_updates(bot: Any, intake: TelegramIntake, stop: asyncio.Event) -> None:
    """Long polling (no PUBLIC_URL): the same record-then-act path as the webhook."""
    from telegram.error import NetworkError, RetryAfter, TimedOut

    offset: int | None = None
    while not stop.is_set():
        try:
            updates = await bot.get_updates(
                offset=offset, timeout=20, allowed_updates=["message", "callback_query"]
            )
        except TimedOut:
            continue
        except RetryAfter as exc:
            await asyncio.sleep(
                exc.retry_after.total_seconds()
                if isinstance(exc.retry_after, timedelta)
                else exc.retry_after
            )
            continue
        except NetworkError as exc:
            log.warning("getUpdates failed: %s; retrying in 2 s", exc)
            await asyncio.sleep(2)
            continue
        for update in updates:
            await intake.take(update.to_dict())
            offset = update.update_id + 1
