"""Tortoise's SQLite backend with write transactions that take the write lock at BEGIN, and that
never leave the process's one connection unusable.

SQLite in WAL mode fails a deferred transaction that read a snapshot and then writes after another
process committed ("database is locked", no waiting). Every transaction of ours may write, so it
starts with `BEGIN IMMEDIATE`: it waits (busy_timeout) for the write lock instead, and its reads are
then current. This keeps first-to-accept correct with two processes on one SQLite file.

The process has one connection, behind one asyncio lock. Tortoise's transaction context takes that
lock and only gives it back from `__aexit__`, which never runs when BEGIN fails (the busy timeout
ran out while another process held the file) or is cancelled (a timeout around it): the lock stayed
taken, and the task was left pointing at the dead transaction, so every later query waited forever
- the service stayed stuck after the outage ended. Ours gives the lock back on every path, and
only after a ROLLBACK has run on the connection, so nobody inherits an open transaction; an open
transaction found at BEGIN is rolled back, never committed (tortoise committed it).

SQLite's own UPPER folds ASCII letters only, so tortoise's `icontains` and `iexact` (UPPER on both
sides) missed "João" for "JOÃO"; each connection gets a Unicode UPPER, as PostgreSQL has.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Coroutine
from typing import Any, cast

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
    translate_exceptions,
)
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError

log = logging.getLogger(__name__)

_UNWATCHED: set[asyncio.Task[Any]] = set()


async def hand_back(step: Coroutine[Any, Any, None], *, wait: bool = True) -> None:
    """Run `step` to its end even if the caller is cancelled meanwhile; wait for it if `wait`.

    A cancelled caller passes `wait=False`: it gave up on a statement that may still run for a
    while (a BEGIN waiting out the busy timeout), and must not wait for it now.
    """
    task = asyncio.ensure_future(step)
    _UNWATCHED.add(task)  # a task nobody references may be collected mid-way
    task.add_done_callback(_UNWATCHED.discard)
    if wait:
        await asyncio.shield(task)


class _ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            # A transaction still open here was abandoned by a failure: its work must not count.
            await self._connection.rollback()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class _TransactionContext(SqliteTransactionContext):
    """The connection for one transaction; handed back clean however the transaction ends."""

    async def __aenter__(self) -> TransactionalDBClient:
        await self._trxlock.acquire()
        self._committed = False
        try:
            await self.ensure_connection()
            await self.connection.begin()
        except BaseException as exc:
            await hand_back(self._hand_back(), wait=not isinstance(exc, asyncio.CancelledError))
            raise
        self.token = get_connections().set(self.connection_name, self.connection)
        return cast(TransactionalDBClient, self.connection)

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        get_connections().reset(self.token)
        cancelled = exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
        try:
            if exc_type is None and not self.connection._finalized:
                await self.connection.commit()
                self._committed = True
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            await hand_back(self._hand_back(), wait=not cancelled)

    async def _hand_back(self) -> None:
        """Roll back whatever is still open, then let the next user have the connection."""
        try:
            connection = self.connection._connection
            if connection is not None and not self._committed:
                # Queued behind any statement still running for a cancelled caller, so it ends
                # whatever that statement opens.
                await connection.rollback()
        except Exception as exc:
            log.warning("rolling back an abandoned SQLite transaction failed: %s", exc)
        finally:
            self._trxlock.release()


class ImmediateSqliteClient(SqliteClient):
    """SqliteClient whose transactions begin IMMEDIATE and always hand the connection back clean,
    with a Unicode UPPER."""

    async def create_connection(self, with_db: bool) -> None:
        """Connect, and replace the built-in UPPER on the new connection."""
        await super().create_connection(with_db)
        if self._connection is not None:
            await self._connection.create_function("upper", 1, _upper, deterministic=True)

    def _in_transaction(self) -> SqliteTransactionContext:
        return _TransactionContext(_ImmediateTransactionWrapper(self), self._lock)

    @translate_exceptions
    async def execute_many(self, query: str, values: list[Any]) -> None:
        """Run one statement for many rows in its own transaction (outside ours: bulk writes)."""
        async with self.acquire_connection() as connection:
            self.log.debug("%s: %s", query, values)
            await connection.execute("BEGIN")
            try:
                await connection.executemany(query, values)
            except BaseException as exc:
                # Tortoise rolls back on Exception only: a cancellation left BEGIN open, and later
                # autocommit writes went into it, to be lost. Queued before the lock is released.
                await hand_back(
                    connection.rollback(), wait=not isinstance(exc, asyncio.CancelledError)
                )
                raise
            await connection.commit()


client_class = ImmediateSqliteClient
