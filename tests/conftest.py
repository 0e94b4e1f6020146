"""Shared fixtures: a real database per test, SQLite always and PostgreSQL when reachable.

Under CI=true an unreachable PostgreSQL fails the PostgreSQL tests instead of skipping them.

The suite runs on `TEST_WORKERS` processes (pytest-xdist) unless `-n` says otherwise: `-n 0` or
`-p no:xdist` runs it in this one process. Each worker is a process of its own, so it has its own
PostgreSQL database (`pg_url`, named after its pid), its own temporary directory (SQLite files,
logs) and its own free ports.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse, urlunparse

import pytest

# PTB 22 warns on float retry_after unless timedelta mode is on; the app sets the same.
os.environ.setdefault("PTB_TIMEDELTA", "true")
for _name in ("TWILIO_EDGE", "TWILIO_REGION"):
    os.environ.pop(_name, None)

#: Worker processes by default. The end-to-end tests mostly wait on deadlines and subprocesses
#: (the serial run keeps a 2-core machine's load under 1), so more workers than cores pay off.
TEST_WORKERS = int(os.environ.get("TEST_WORKERS", "4"))


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`-n TEST_WORKERS --dist worksteal` when xdist is on and no `-n` was given."""
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return  # xdist is off (`-p no:xdist`), or this is one of its workers
    option = config.option
    if option.numprocesses is None and not option.usepdb and not option.collectonly:
        option.numprocesses = TEST_WORKERS
        if option.dist == "no":
            option.dist = "worksteal"  # the e2e tests' lengths vary from 0.1 s to a minute


PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
# Each test session works in its own database, so two runs on one server never collide.
PG_SESSION_DB = f"dispatchbot_test_{os.getpid()}"


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


async def reset_postgres(url: str) -> None:
    """Drop every table of the test database."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


async def _admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgres://", "postgresql://", 1))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _run_admin(*statements: str) -> None:
    # Runs on its own thread and loop: the fixture may be requested from inside a running loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(_admin(*statements))).result()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """This session's own PostgreSQL database (created once, dropped at the end)."""
    require_postgres()
    _run_admin(f"DROP DATABASE IF EXISTS {PG_SESSION_DB}", f"CREATE DATABASE {PG_SESSION_DB}")
    parsed = urlparse(PG_URL)
    yield urlunparse(parsed._replace(path=f"/{PG_SESSION_DB}"))
    _run_admin(f"DROP DATABASE IF EXISTS {PG_SESSION_DB} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh, empty database URL on each backend."""
    if request.param == "postgres":
        require_postgres()
        return str(request.getfixturevalue("pg_url"))
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
