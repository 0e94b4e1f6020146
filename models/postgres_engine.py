"""Tortoise's asyncpg backend with a transaction context that always hands its connection back.

Tortoise's pooled transaction context takes a connection from the pool and only gives it back from
`__aexit__`, which never runs when BEGIN fails or is cancelled (a timeout around it): the
connection leaked, and the task was left pointing at the dead transaction; a few of those and the
pool was empty, every write waiting forever. Ours rolls back whatever is open and releases the
connection on every path, even when the caller is cancelled meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import (
    TransactionalDBClient,
    TransactionContext,
    TransactionContextPooled,
)
from tortoise.connection import get_connections

from models.sqlite_engine import hand_back

log = logging.getLogger(__name__)


class _TransactionContext(TransactionContextPooled):
    """A pooled connection for one transaction; handed back however the transaction ends."""

    async def __aenter__(self) -> TransactionalDBClient:
        await self.ensure_connection()
        pool = self.client._parent._pool
        self.client._connection = await pool.acquire()
        try:
            await self.client.begin()
        except BaseException as exc:
            await hand_back(self._hand_back(), wait=not isinstance(exc, asyncio.CancelledError))
            raise
        self.token = get_connections().set(self.connection_name, self.client)
        return self.client

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        get_connections().reset(self.token)
        cancelled = exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
        try:
            if exc_type is None and not self.client._finalized:
                await self.client.commit()
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            await hand_back(self._hand_back(), wait=not cancelled)

    async def _hand_back(self) -> None:
        """Roll back whatever is still open, then return the connection to the pool."""
        client = self.client
        try:
            if not client._finalized and client.transaction is not None:  # type: ignore[attr-defined]
                # asyncpg waits for a cancelled statement's cancellation before this runs.
                await client.rollback()
        except Exception as exc:
            # The pool's release resets (or, failing that, closes) the connection anyway.
            log.debug("rollback before release failed: %s", exc)
        finally:
            pool = client._parent._pool
            if pool is not None:
                await pool.release(client._connection)


class SafeAsyncpgClient(AsyncpgDBClient):
    """AsyncpgDBClient whose transactions always give their connection back."""

    def _in_transaction(self) -> TransactionContext:
        return _TransactionContext(TransactionWrapper(self), self._pool_init_lock)


client_class = SafeAsyncpgClient
