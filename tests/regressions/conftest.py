"""Regression tests: one module per bug fixed, named after the bug; its docstring says what it was.

Each test takes the cheapest real path to what a user noticed: the core on a real database, or the
Telegram emulator where the bug lived in chat. They run on SQLite only: none of these bugs was in a
database backend, and the integration tests run every rule on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application, ApplicationBuilder

from emulators import TelegramEmulator, running
from notifications.telegram_transport import AiohttpRequest

TOKEN = "1:TEST"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite database (overrides the both-backends fixture of tests/conftest.py)."""
    return f"sqlite://{tmp_path}/test.sqlite3"


@dataclass
class Telegram:
    """The Bot API emulator and a started PTB application talking to it (no handlers yet)."""

    emu: TelegramEmulator
    application: Application  # type: ignore[type-arg]

    @property
    def bot(self) -> Any:
        """The application's bot, as the outbox sender uses it."""
        return self.application.bot


@pytest.fixture
async def telegram(db: str) -> AsyncIterator[Telegram]:
    """PTB on our aiohttp transport against the emulator, as the app factory builds it."""
    emu = TelegramEmulator(token=TOKEN)
    async with running(emu.app) as url:
        application = (
            ApplicationBuilder()
            .token(TOKEN)
            .base_url(f"{url}/bot")
            .request(AiohttpRequest())
            .get_updates_request(AiohttpRequest())
            .updater(None)
            .build()
        )
        async with application:
            yield Telegram(emu, application)
