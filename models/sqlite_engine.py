"""Tortoise's SQLite backend with write transactions that take the write lock at BEGIN.

SQLite in WAL mode fails a deferred transaction that read a snapshot and then writes after another
process committed ("database is locked", no waiting). Every transaction of ours may write, so it
starts with `BEGIN IMMEDIATE`: it waits (busy_timeout) for the write lock instead, and its reads are
then current. This keeps first-to-accept correct with two processes on one SQLite file.
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


class _ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    """SqliteClient whose transactions begin IMMEDIATE."""

    def _in_transaction(self) -> SqliteTransactionContext:
        return SqliteTransactionContext(_ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient
