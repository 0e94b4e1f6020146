"""Admin commands over Telegram (CONTRACT §5): permission check, parse, call the core."""

from __future__ import annotations

from typing import Any

from bot.context import AppContext


def register(application: Any, app_ctx: AppContext) -> None:
    """Add the admin command handlers (group 0, before the fieldworker handlers)."""
    application.bot_data["app_ctx"] = app_ctx
