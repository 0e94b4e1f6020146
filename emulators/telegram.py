"""Telegram Bot API emulator: speaks the real JSON over HTTP and records every call."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulators.common import (
    BOT_USER,
    JSONDict,
    _Fault,
    _Holds,
    _poll_until,
    _Resets,
    reset_connection,
)
from emulators.telegram_delivery import WebhookDelivery
from emulators.telegram_faults import TelegramFaults
from emulators.telegram_limits import RateLimits, TelegramLimits
from emulators.telegram_methods import BotApiMethods
from emulators.telegram_wire import (
    _ApiError,
    chat_id_param,
    int_param,
    markup_param,
    read_params,
)

# --------------------------------------------------------------------------------------------
# Telegram
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One Bot API request received by :class:`TelegramEmulator`.

    Attributes:
        method: Bot API method name as sent (e.g. ``"sendMessage"``).
        params: Decoded parameters; JSON-typed fields (``reply_markup`` …) are dicts/lists,
            ids are ints.
        token: Bot token from the URL.
        failed: True if the emulator answered with an error (injected or genuine).
        status: HTTP status of the answer.
        result: The ``result`` sent back on success, else None.
        at: When the request arrived (``time.perf_counter()`` of the emulator's process).
        via: ``"api"`` for an HTTP request to the Bot API, ``"webhook"`` for a method the bot put
            in its answer to a webhook delivery (see :meth:`TelegramEmulator.deliver`).
    """

    method: str
    params: JSONDict
    token: str
    failed: bool = False
    status: int = 200
    result: Any = field(default=None, repr=False)
    at: float = field(default_factory=time.perf_counter, repr=False)
    via: str = "api"

    def summary(self) -> str:
        """Short one-line description used in assertion messages."""
        flag = f" FAILED({self.status})" if self.failed else ""
        return f"{self.method}{flag} {json.dumps(self.params, default=str)[:200]}"


Handler = Callable[[JSONDict], Awaitable[Any]]


class TelegramEmulator(TelegramFaults, BotApiMethods, WebhookDelivery):
    """Emulates the Telegram Bot API at ``/bot{token}/{method}``.

    Serve ``emu.app`` with :func:`running` and give PTB ``base_url=f"{url}/bot"``.  All calls are
    recorded in :attr:`calls`; the bot's sent messages are kept with their current state.

    Attributes:
        app: The aiohttp application.
        calls: Every request received, in arrival order.
        webhook: Parameters of the last ``setWebhook`` (``url``, ``secret_token`` …), or None.
        bot_user: The ``User`` returned by ``getMe``.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        bot_user: JSONDict | None = None,
        limits: TelegramLimits | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Create the emulator.

        Args:
            token: If given, requests with any other token get 401 ``Unauthorized``.
            bot_user: Override for :data:`BOT_USER`.
            limits: Enforce Telegram's rate limits (:mod:`emulators.telegram_limits`): a message
                beyond them gets 429 with ``retry_after``. None (the default): no limits.
            clock: Seconds for the limits' window (``time.monotonic`` unless given).
        """
        self.token = token
        self.limits = RateLimits(limits, clock) if limits is not None else None
        self.bot_user: JSONDict = dict(bot_user or BOT_USER)
        self.calls: list[Call] = []
        self.webhook: JSONDict | None = None
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._messages: dict[int, dict[int, JSONDict]] = {}
        self._last_message_id: dict[int, int] = {}
        self._updates: list[JSONDict] = []
        self._max_update_id = 0
        self._faults: dict[str, list[_Fault]] = {}
        self._holds: dict[str, _Holds] = {}
        self._late: dict[str, _Holds] = {}  # answers held after the call acted
        self._resets: dict[str, _Resets] = {}
        self._closing = False
        self._listeners: list[Callable[[Call], None]] = []
        self._webhook_token: str | None = None  # the bot that set the webhook
        self._handlers: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "answerCallbackQuery": self._answer_callback_query,
                "deleteMessage": self._delete_message,
                "sendChatAction": self._send_chat_action,
                "getUpdates": self._get_updates,
            }.items()
        }
        self.app = web.Application()
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self.app.on_startup.append(self._on_startup)
        self.app.on_shutdown.append(self._on_shutdown)

    # ---- test helpers -----------------------------------------------------------------------

    def next_update_id(self) -> int:
        """Return a fresh update id, larger than any id pushed so far."""
        self._max_update_id += 1
        return self._max_update_id

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue an update for ``getUpdates`` (long-polling bots).

        Args:
            update: Update JSON (see :func:`make_message_update`); ``update_id`` is assigned
                with :meth:`next_update_id` when missing.

        Returns:
            The queued update.
        """
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self.next_update_id()
        self._max_update_id = max(self._max_update_id, int(update["update_id"]))
        self._updates.append(update)
        return update

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed by a ``getUpdates`` offset."""
        return list(self._updates)

    def calls_of(self, method: str, *, ok_only: bool = False) -> list[Call]:
        """Recorded calls of one method (case-insensitive), in order.

        Args:
            method: Bot API method name.
            ok_only: Leave out calls answered with an error.
        """
        wanted = method.lower()
        return [c for c in self.calls if c.method.lower() == wanted and not (ok_only and c.failed)]

    async def wait_for(
        self,
        predicate: Callable[[list[Call]], bool] | str,
        timeout: float = 10.0,  # noqa: ASYNC109 - test-helper API, mirrors asyncio.wait_for
        *,
        count: int = 1,
    ) -> list[Call]:
        """Wait until the recorded calls satisfy a condition.

        Args:
            predicate: Callable over :attr:`calls`, or a method name meaning "at least ``count``
                successful calls of that method".
            timeout: Seconds before giving up.
            count: Only for a method name: number of successful calls to wait for.

        Returns:
            For a method name, its successful calls; otherwise all calls.

        Raises:
            AssertionError: On timeout, listing the last calls.
        """
        if isinstance(predicate, str):
            method = predicate

            def check() -> bool:
                return len(self.calls_of(method, ok_only=True)) >= count

            await _poll_until(check, timeout, self._describe_calls)
            return self.calls_of(method, ok_only=True)

        func = predicate
        await _poll_until(lambda: func(self.calls), timeout, self._describe_calls)
        return list(self.calls)

    def _describe_calls(self) -> str:
        last = self.calls[-15:]
        lines = "\n  ".join(c.summary() for c in last) or "(none)"
        return f"{len(self.calls)} Telegram calls, last {len(last)}:\n  {lines}"

    def message(self, chat_id: int, message_id: int) -> JSONDict:
        """Current state of a message the bot sent (a ``Message`` dict, copy).

        ``reply_markup`` holds whatever markup was last set, including reply keyboards.

        Raises:
            KeyError: The message was never sent or has been deleted.
        """
        try:
            return copy.deepcopy(self._messages[chat_id][message_id])
        except KeyError:
            raise KeyError(f"no message {message_id} in chat {chat_id}") from None

    def chat_messages(self, chat_id: int) -> list[JSONDict]:
        """Current state of every (not deleted) message the bot sent to a chat, in send order."""
        return copy.deepcopy(list(self._messages.get(chat_id, {}).values()))

    def commands(self, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        """Commands last set with ``setMyCommands`` for a scope (default scope if None)."""
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    # ---- HTTP plumbing ----------------------------------------------------------------------

    async def _on_startup(self, _app: web.Application) -> None:
        self._closing = False

    async def _on_shutdown(self, _app: web.Application) -> None:
        # Release pending getUpdates long polls and held calls so the server can stop promptly.
        self._closing = True
        self.release()

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        token = request.match_info["token"]
        method_sent = request.match_info["method"]
        try:
            params = await self._read_params(request)
        except _ApiError as err:
            call = Call(method_sent, {}, token, failed=True, status=err.status, at=arrived)
            self._record(call)
            return self._error_response(err)

        holds = self._holds.get(method_sent.lower())
        if holds is not None and (delay := holds.take()) is not None:
            await holds.hold(delay)
        return await self._run(method_sent, params, token, arrived, "api", request)

    async def _run(
        self,
        method_sent: str,
        params: JSONDict,
        token: str,
        arrived: float,
        via: str,
        request: web.Request | None = None,
    ) -> web.Response:
        entry = self._handlers.get(method_sent.lower())
        call = Call(entry[0] if entry else method_sent, params, token, at=arrived, via=via)
        self.calls.append(call)
        resets = self._resets.get(method_sent.lower())
        # Only a call over HTTP has a connection to reset (not one in a webhook's answer).
        reset = resets.take() if resets is not None and request is not None else None
        if reset is False and request is not None:  # before acting: the call did nothing
            call.failed, call.status = True, 599
            self._notify(call)
            reset_connection(request)
            return web.Response(status=599)
        response = await self._answer(call, method_sent, params, entry)
        if reset and request is not None:  # it acted; the client never hears of it
            reset_connection(request)
            return response
        late = self._late.get(method_sent.lower())
        if late is not None and (delay := late.take()) is not None:
            await late.hold(delay)
        return response

    async def _answer(
        self, call: Call, method_sent: str, params: JSONDict, entry: tuple[str, Handler] | None
    ) -> web.Response:
        token = call.token
        try:
            if self.token is not None and token != self.token:
                raise _ApiError(401, "Unauthorized")
            if entry is None:
                raise _ApiError(404, "Not Found: method not found")
            self._raise_injected_fault(method_sent.lower())
            if self.limits is not None:
                self.limits.check(method_sent, params)
            try:
                result = await entry[1](params)
            except (TypeError, ValueError) as err:
                raise _ApiError(400, f"Bad Request: invalid parameter: {err}") from None
        except _ApiError as err:
            call.failed = True
            call.status = err.status
            self._notify(call)
            return self._error_response(err)
        call.result = result
        if call.method == "setWebhook":
            self._webhook_token = token
        self._notify(call)
        return web.json_response({"ok": True, "result": result})

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._notify(call)

    @staticmethod
    def _error_response(err: _ApiError) -> web.Response:
        body: JSONDict = {"ok": False, "error_code": err.status, "description": err.description}
        if err.parameters:
            body["parameters"] = err.parameters
        return web.json_response(body, status=err.status)

    # ---- parameter helpers ------------------------------------------------------------------

    _read_params = staticmethod(read_params)
    _chat_id = staticmethod(chat_id_param)
    _int_param = staticmethod(int_param)
    _markup = staticmethod(markup_param)

    def _public(self, message: JSONDict) -> JSONDict:
        """The Message as the API returns it: only inline keyboards are echoed back."""
        out = copy.deepcopy(message)
        markup = out.get("reply_markup")
        if markup is not None and "inline_keyboard" not in markup:
            del out["reply_markup"]
        return out

    def _find_message(self, params: JSONDict, not_found: str) -> JSONDict:
        chat_id = self._chat_id(params)
        message_id = self._int_param(params, "message_id")
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None:
            raise _ApiError(400, f"Bad Request: {not_found}")
        return message

    @staticmethod
    def _commands_key(scope: JSONDict | None, language_code: str | None) -> tuple[str, str]:
        scope = scope or {"type": "default"}
        return json.dumps(scope, sort_keys=True), language_code or ""
