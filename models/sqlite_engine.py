"""Tortoise's SQLite backend with write transactions that take the write lock at BEGIN.

SQLite in WAL mode fails a deferred transaction that read a snapshot and then writes after another
process committed ("database is locked", no waiting). Every transaction of ours may write, so it
starts with `BEGIN IMMEDIATE`: it waits (busy_timeout) for the write lock instead, and its reads are
then current. This keeps first-to-accept correct with two processes on one SQLite file.

SQLite's own UPPER folds ASCII letters only, so tortoise's `icontains` and `iexact` (UPPER on both
sides) missed "João" for "JOÃO"; each connection gets a Unicode UPPER, as PostgreSQL has.
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


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class ImmediateSqliteClient(SqliteClient):
    """SqliteClient whose transactions begin IMMEDIATE, with a Unicode UPPER."""

    async def create_connection(self, with_db: bool) -> None:
        """Connect, and replace the built-in UPPER on the new connection."""
        await super().create_connection(with_db)
        if self._connection is not None:
            await self._connection.create_function("upper", 1, _upper, deterministic=True)

    def _in_transaction(self) -> SqliteTransactionContext:
        return SqliteTransactionContext(_ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient
