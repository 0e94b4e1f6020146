"""Database wiring: the tortoise config for a DATABASE_URL, start-up, schema migrations, and the
health probe (can the database be written?)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.executor import MigrationExecutor
from tortoise.transactions import in_transaction

log = logging.getLogger(__name__)

APP = "models"
SQLITE_ENGINE = "tortoise.backends.sqlite"
ASYNCPG_ENGINE = "tortoise.backends.asyncpg"
# Any fixed number; every instance agrees on it so only one migrates at a time.
_MIGRATION_LOCK_KEY = 74_201_193


def tortoise_config(url: str) -> dict[str, Any]:
    """The tortoise config for a DATABASE_URL (sqlite://path or postgres://...)."""
    db = expand_db_url(url)
    if db["engine"] == SQLITE_ENGINE:
        db["engine"] = "models.sqlite_engine"
        # Wait for another process's write instead of failing at once.
        db["credentials"].setdefault("busy_timeout", 30000)
    elif db["engine"] == ASYNCPG_ENGINE:
        # Tortoise's own leaks a pooled connection when BEGIN fails or is cancelled.
        db["engine"] = "models.postgres_engine"
        db["credentials"].setdefault("minsize", 1)
        db["credentials"].setdefault("maxsize", 10)
    return {
        "connections": {"default": db},
        "apps": {
            APP: {
                "models": ["models.tables", "models.message_templates"],
                "migrations": "models.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


#: For tortoise's CLI (`tortoise -c models.db.TORTOISE_ORM makemigrations`), not used at run time.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")


def is_sqlite(url: str) -> bool:
    """True for a SQLite DATABASE_URL."""
    return url.startswith("sqlite:")


#: `INSERT ... RETURNING` (a broadcast's new requests, `models.rows.insert`) came in SQLite 3.35.
MIN_SQLITE = (3, 35, 0)


def sqlite_too_old() -> str | None:
    """Why this Python's SQLite cannot hold the database, or None when it can."""
    import sqlite3

    if sqlite3.sqlite_version_info >= MIN_SQLITE:
        return None
    return (
        f"SQLite {'.'.join(map(str, MIN_SQLITE))} or newer is needed (this Python's sqlite3 "
        f"module has {sqlite3.sqlite_version}); use a Python built with a newer SQLite, or "
        "PostgreSQL"
    )


def _ensure_sqlite_dir(url: str) -> None:
    path = expand_db_url(url)["credentials"].get("file_path", "")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


async def init_db(url: str, *, migrate: bool = True) -> None:
    """Connect tortoise to `url` and, unless told otherwise, bring the schema up to date."""
    if is_sqlite(url):
        if (why := sqlite_too_old()) is not None:
            raise RuntimeError(why)
        _ensure_sqlite_dir(url)
    config = tortoise_config(url)
    await Tortoise.init(config=config)
    if migrate:
        await upgrade(config)


async def upgrade(config: dict[str, Any]) -> list[str]:
    """Apply pending migrations (creates the schema on an empty database); returns their names."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    if postgres:
        # Two instances starting together must not both migrate.
        await conn.execute_query("SELECT pg_advisory_lock($1)", [_MIGRATION_LOCK_KEY])
    try:
        executor = MigrationExecutor(conn, {APP: config["apps"][APP]})
        plan = await executor.plan(None)
        applied = [
            f"{step.migration.app_label}.{step.migration.name}"
            for step in plan
            if not step.backward
        ]
        await executor.migrate(None)
        for name in applied:
            log.info("applied migration %s", name)
        return applied
    finally:
        if postgres:
            await conn.execute_query("SELECT pg_advisory_unlock($1)", [_MIGRATION_LOCK_KEY])


class _ProbeDone(Exception):
    """Ends the health probe's transaction by rolling it back."""


# Touches no row, but needs what a real write needs: SQLite's write lock (taken at BEGIN IMMEDIATE),
# PostgreSQL's row-exclusive lock on the outbox every command writes, and a writable server.
_WRITE_PROBE = 'UPDATE "notification" SET "id" = "id" WHERE 1 = 0'


async def check_writable(within: float) -> None:
    """Raise unless a write transaction starts and writes within `within` seconds; keeps nothing."""
    async with asyncio.timeout(within):
        with contextlib.suppress(_ProbeDone):
            async with in_transaction("default") as conn:
                await conn.execute_query(_WRITE_PROBE)
                raise _ProbeDone


async def close_db() -> None:
    """Close every database connection and forget the models' binding to them.

    Resetting the app registry lets the same process connect again to another backend (the tests
    run SQLite then PostgreSQL); without it the models keep the first backend's SQL dialect.
    """
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    await Tortoise.close_connections()
    await Tortoise._reset_apps()
    EXECUTOR_CACHE.clear()  # keyed by connection *name*: holds the old backend's INSERT SQL
