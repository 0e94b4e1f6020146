"""Webhook delivery as Telegram does it, and watching calls as they are answered (benchmarks)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from emulators.common import JSONDict
from emulators.telegram_wire import _normalise_json_params

if TYPE_CHECKING:
    from emulators.telegram import Call


class WebhookDelivery:
    """`TelegramEmulator`'s webhook side: deliver an update, run the method in the answer."""

    token: str | None
    _listeners: list[Callable[[Call], None]]
    _webhook_token: str | None

    async def _run(
        self, method_sent: str, params: JSONDict, token: str, arrived: float, via: str
    ) -> web.Response:
        raise NotImplementedError

    def _notify(self, call: Call) -> None:
        for listener in list(self._listeners):
            listener(call)

    def watch(self, listener: Callable[[Call], None]) -> None:
        """Call ``listener(call)`` for every call once it is answered (benchmarks time them)."""
        self._listeners.append(listener)

    async def deliver(
        self,
        session: aiohttp.ClientSession,
        url: str,
        update: JSONDict,
        *,
        secret: str | None = None,
        token: str | None = None,
    ) -> int:
        """POST an update to a webhook as Telegram does; returns the HTTP status.

        Telegram runs one Bot API method that the bot puts in its answer's body (``{"method":
        "answerCallbackQuery", ...}``); so does this, recording it as a call with ``via="webhook"``.
        Like Telegram, it reports nothing back: a failing method is only marked failed here.

        Args:
            session: The client session to post with.
            url: The webhook URL.
            update: The Update JSON.
            secret: Sent as ``X-Telegram-Bot-Api-Secret-Token`` when given.
            token: The bot token the method counts against; default: the emulator's own, else
                the token that last called ``setWebhook``.
        """
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        async with session.post(url, json=update, headers=headers) as resp:
            status = resp.status
            body = await resp.read()
        arrived = time.perf_counter()
        if status != 200 or not body:
            return status
        try:
            reply = json.loads(body)
        except ValueError:
            return status
        if isinstance(reply, dict) and isinstance(reply.get("method"), str):
            params = {k: v for k, v in reply.items() if k != "method"}
            bot_token = token or self.token or self._webhook_token or ""
            await self._run(
                str(reply["method"]), _normalise_json_params(params), bot_token, arrived, "webhook"
            )
        return status
