"""What the running service holds, built once by the app factory; typed, no lookups by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.config import Config
from bot.inbound import TelegramIntake
from models.transactions import Transactions


@dataclass
class AppContext:
    """The configuration, the transaction runner, and the channel clients once started."""

    config: Config
    tx: Transactions
    intake: TelegramIntake | None = None
    bot: Any | None = None  # telegram.Bot while the Telegram channel is on
    twilio: Any | None = None  # twilio.rest.Client while the SMS channel is on


#: Where the aiohttp application keeps the AppContext.
CTX = web.AppKey("ctx", AppContext)
