"""What the chat handlers need at run time, given to them by the app factory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

from models.transactions import Transactions
from notifications.links import LinkSigner


@dataclass(frozen=True)
class ChatContext:
    """The transaction runner and the settings the fieldworker and customer chats use."""

    tx: Transactions
    timezone: str
    twilio_auth_token: str | None = None
    public_url: str | None = None
    #: Checks the tokens of `/r/{token}` links (None: email links are off).
    links: LinkSigner | None = None


#: Where the aiohttp application keeps the ChatContext for the SMS webhooks.
CHAT = web.AppKey("chat", ChatContext)


def chat_context(context: Any) -> ChatContext:
    """The ChatContext a PTB callback's context carries (set by `handlers.telegram.register`)."""
    return cast(ChatContext, context.application.bot_data["chat"])
