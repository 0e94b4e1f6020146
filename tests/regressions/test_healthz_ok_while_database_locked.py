"""Bug: `/healthz` answered 200 while the database could not be written.

On SQLite it ran `SELECT 1`, which another process's write lock does not stop, so for 60 s the
service looked healthy while every webhook failed. Health now means a write (rolled back) gets
through within a short timeout; and a probe that timed out leaves nothing behind: once the lock is
gone the probe, and any write, succeed again at once, on both backends.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from bot.app import healthz
from emulators import running
from models import tables as t
from models.db import check_writable
from tests.regressions.conftest import until


@asynccontextmanager
async def write_locked(db_url: str) -> AsyncIterator[None]:
    """Another process holds what a write needs: SQLite's file lock, or the outbox table."""
    if db_url.startswith("sqlite"):
        other = sqlite3.connect(db_url.removeprefix("sqlite://"), isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            yield
            other.execute("ROLLBACK")
        finally:
            other.close()
        return
    conn = await asyncpg.connect(db_url.replace("postgres://", "postgresql://", 1))
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("LOCK TABLE notification IN ACCESS EXCLUSIVE MODE")
        yield
        await transaction.rollback()
    finally:
        await conn.close()


async def test_healthz_fails_while_locked_and_recovers_after(db: str) -> None:
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    async with running(app) as base, aiohttp.ClientSession() as http:

        async def health() -> int:
            async with http.get(f"{base}/healthz") as resp:
                return resp.status

        assert await health() == 200
        async with write_locked(db):
            assert await health() == 503
            # More timed-out probes than PostgreSQL's pool has connections: none may leak.
            for _ in range(11):
                with pytest.raises(TimeoutError):
                    await check_writable(0.2)

        async def healthy() -> bool:
            return await health() == 200

        await until(healthy, within=5, what="healthz passing once the lock is gone")
    await asyncio.wait_for(t.Service.create(code="after", name="after"), 5)
    assert await t.Service.filter(code="after").count() == 1
    assert await t.Notification.all().count() == 0, "the probe writes nothing"
