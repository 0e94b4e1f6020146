"""Shared fixtures: a real database per test, SQLite always and PostgreSQL when reachable.

Under CI=true an unreachable PostgreSQL fails the PostgreSQL tests instead of skipping them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest

# PTB 22 warns on float retry_after unless timedelta mode is on; the app sets the same.
os.environ.setdefault("PTB_TIMEDELTA", "true")
for _name in ("TWILIO_EDGE", "TWILIO_REGION"):
    os.environ.pop(_name, None)

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def postgres_reachable() -> bool:
    """True when something listens at the test PostgreSQL address."""
    parsed = urlparse(PG_URL)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), 1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skip (or fail under CI) when PostgreSQL is not there."""
    if not postgres_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI but {PG_URL} is unreachable")
        pytest.skip("PostgreSQL not reachable")


async def reset_postgres(url: str = PG_URL) -> None:
    """Drop every table of the test database."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh, empty database URL on each backend."""
    if request.param == "postgres":
        require_postgres()
        return PG_URL
    return f"sqlite://{tmp_path}/test.sqlite3"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[str]:
    """A migrated database, connected through tortoise for the test's duration."""
    from models.db import close_db, init_db

    if db_url.startswith("postgres"):
        await reset_postgres(db_url)
    await init_db(db_url)
    try:
        yield db_url
    finally:
        await close_db()
