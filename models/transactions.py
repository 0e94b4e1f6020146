"""The transaction runner: one command, one transaction, the outbox written before commit.

`Transactions.run(fn)` opens one database transaction, gives `fn` a unit of work, lets the outbox
writer turn the emitted events into notification rows in that same transaction, commits, and wakes
the sender. A transient conflict (SQLite busy, PostgreSQL deadlock or serialisation failure, or the
core's own `RetryCommand`) rolls back and runs `fn` again on fresh rows.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar

from tortoise.exceptions import IntegrityError, OperationalError, TransactionManagementError
from tortoise.transactions import in_transaction

from dispatch.errors import RetryCommand
from dispatch.reachability import ChannelsOn
from models.uow import TortoiseUnitOfWork
from models.views import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

_TRANSIENT = ("database is locked", "deadlock detected", "could not serialize", "busy")


class OutboxWriter(Protocol):
    """Turns a unit of work's events into outbox rows, inside its transaction."""

    async def write(self, uow: TortoiseUnitOfWork) -> None:
        """Render and store the messages the events cause."""
        ...


def is_transient(exc: BaseException) -> bool:
    """True for a lock or serialisation conflict that a fresh attempt can get past."""
    if isinstance(exc, RetryCommand):
        return True
    if isinstance(exc, OperationalError | TransactionManagementError) and not isinstance(
        exc, IntegrityError
    ):
        text = str(exc).lower()
        return any(word in text for word in _TRANSIENT)
    return False


class Transactions:
    """Runs commands in one transaction each, with the outbox written before commit."""

    def __init__(
        self,
        outbox: OutboxWriter | None = None,
        *,
        sms_enabled: bool = False,
        telegram_enabled: bool = True,
        email_enabled: bool = False,
        clock: Callable[[], datetime] = utcnow,
        on_commit: Callable[[], None] | None = None,
        on_armed: Callable[[datetime], None] | None = None,
        attempts: int = 8,
    ) -> None:
        self.outbox = outbox
        self.channels_on = ChannelsOn(
            telegram=telegram_enabled, sms=sms_enabled, email=email_enabled
        )
        self.clock = clock
        self.on_commit = on_commit
        #: Told the soonest deadline a committed transaction armed (the scheduler's wake-up).
        self.on_armed = on_armed
        self.attempts = attempts

    async def run(self, fn: Callable[[TortoiseUnitOfWork], Awaitable[T]]) -> T:
        """Run `fn` in one transaction; retry it on a transient conflict."""
        delay = 0.01
        for attempt in range(1, self.attempts + 1):
            try:
                async with in_transaction():
                    uow = TortoiseUnitOfWork(self.clock(), self.channels_on)
                    result = await fn(uow)
                    if self.outbox is not None and uow.events:
                        await self.outbox.write(uow)
                    await uow.flush()
                for done in uow.after_commit:
                    done()
                if self.on_commit is not None and uow.events:
                    self.on_commit()
                if self.on_armed is not None and uow.armed_due is not None:
                    self.on_armed(uow.armed_due)
                return result
            except Exception as exc:
                if attempt == self.attempts or not is_transient(exc):
                    raise
                log.debug("transient conflict (attempt %d): %s", attempt, exc)
                await asyncio.sleep(delay + secrets.randbelow(10) / 1000)
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")
