"""Bug: after an outage of the SQLite file, the service stayed stuck until restarted.

Another process held the file locked; a REST write's `BEGIN IMMEDIATE` ran out of busy timeout.
Tortoise's transaction context kept the process's one connection lock when BEGIN failed (its
`__aexit__` never runs then) and left the task pointing at the dead transaction, so once the lock
was released every write still hung and `/healthz` answered 503 on every poll. A transaction that
failed for another reason could also be left open, and tortoise's next BEGIN committed it.

Now a failed or cancelled transaction always hands the connection back, rolled back.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.exceptions import TransactionManagementError
from tortoise.transactions import in_transaction

from models import tables as t
from models.db import close_db, init_db
from models.transactions import Transactions


@pytest.fixture
async def sqlite_file(tmp_path: Path) -> AsyncIterator[Path]:
    """A migrated SQLite file whose writers give up after 300 ms of waiting for the lock."""
    path = tmp_path / "locked.sqlite3"
    await init_db(f"sqlite://{path}?busy_timeout=300")
    try:
        yield path
    finally:
        await close_db()


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another process's write lock on the file, as long as the block lasts."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


def committed_codes(path: Path) -> list[str]:
    """Service codes another connection sees: what was really committed."""
    with sqlite3.connect(path) as other:
        return [row[0] for row in other.execute("SELECT code FROM service ORDER BY code")]


async def add_service(code: str) -> None:
    """One write in one transaction, as every command does."""
    async with in_transaction():
        await t.Service.create(code=code, name=code)


async def test_a_begin_that_timed_out_leaves_the_connection_usable(sqlite_file: Path) -> None:
    client = connections.get("default")
    with locked(sqlite_file), pytest.raises(TransactionManagementError, match="locked"):
        await add_service("during")
    assert connections.get("default") is client, "the task still sees the live connection"

    await asyncio.wait_for(add_service("after"), 5)
    assert committed_codes(sqlite_file) == ["after"]


async def test_a_cancelled_begin_leaves_the_connection_usable(sqlite_file: Path) -> None:
    # The BEGIN IMMEDIATE still waits for the lock on the connection's thread when its caller
    # gives up; whenever it gets the lock, that transaction must be rolled back, not kept open.
    await connections.get("default").execute_script("PRAGMA busy_timeout = 5000")
    with locked(sqlite_file):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(add_service("during"), 0.2)
        await asyncio.sleep(0.3)
    await asyncio.wait_for(add_service("after"), 5)
    assert committed_codes(sqlite_file) == ["after"]


async def test_the_transaction_runner_recovers_once_the_lock_is_gone(sqlite_file: Path) -> None:
    tx = Transactions()

    async def write(uow: object) -> None:
        await t.Service.create(code="retried", name="retried")

    with locked(sqlite_file):
        # Eight attempts of 300 ms each outlast a lock held for one second.
        pending = asyncio.create_task(tx.run(write))
        await asyncio.sleep(1.0)
    await asyncio.wait_for(pending, 10)
    assert committed_codes(sqlite_file) == ["retried"]


async def test_a_transaction_that_failed_is_rolled_back_not_committed_later(
    sqlite_file: Path,
) -> None:
    # Tortoise skips the rollback when the error is a TransactionManagementError and its next
    # BEGIN committed whatever the failed transaction had written.
    with pytest.raises(TransactionManagementError):
        async with in_transaction():
            await t.Service.create(code="half", name="half")
            raise TransactionManagementError("failed half way")
    await add_service("whole")
    assert committed_codes(sqlite_file) == ["whole"]
