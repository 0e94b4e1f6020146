"""`DATABASE_URL` (CONTRACT §2): what `run` refuses before it starts."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_config


def config(**env: str):  # type: ignore[no-untyped-def]
    return load_config(_env_file=None, **env)


def test_a_database_url_of_another_kind_stops_run() -> None:
    with pytest.raises(ConfigError) as refused:
        config(DATABASE_URL="mysql://u@db/dispatch").check_for_run()
    assert str(refused.value).startswith("DATABASE_URL: expected sqlite://PATH or postgres://")


def test_a_sqlite_too_old_for_the_database_stops_run_naming_both_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sqlite3

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(ConfigError) as refused:
        config(DATABASE_URL="sqlite://data/x.sqlite3").check_for_run()
    assert str(refused.value).startswith("DATABASE_URL: SQLite 3.35.0 or newer is needed")
    assert "3.31.1" in str(refused.value)
    config(DATABASE_URL="postgres://u@db/dispatch").check_for_run()  # PostgreSQL needs no SQLite
