"""What the adapters share at run time, built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from bot.config import Config
from models.uow import Transactions


@dataclass
class AppContext:
    """The configuration and the transaction runner every adapter uses."""

    config: Config
    tx: Transactions
    # Filled by the app factory when the channels are on.
    extras: dict[str, object] = field(default_factory=dict)


#: Where the aiohttp application keeps the AppContext.
CTX = web.AppKey("ctx", AppContext)
