"""Telegram Bot API emulator: speaks the real JSON over HTTP and records every call."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulators.common import (
    _MAX_TEXT_LENGTH,
    _NOT_MODIFIED,
    _POLL_INTERVAL,
    BOT_USER,
    JSONDict,
    _Fault,
    _poll_until,
)
from emulators.updates import chat_json

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
    """

    method: str
    params: JSONDict
    token: str
    failed: bool = False
    status: int = 200
    result: Any = field(default=None, repr=False)

    def summary(self) -> str:
        """Short one-line description used in assertion messages."""
        flag = f" FAILED({self.status})" if self.failed else ""
        return f"{self.method}{flag} {json.dumps(self.params, default=str)[:200]}"


class _ApiError(Exception):
    """An error answer in Telegram's format."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


_TG_FAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

# Parameters whose form-encoded values must stay strings even if they look like JSON numbers.
_TG_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "parse_mode",
        "ip_address",
        "language_code",
        "business_connection_id",
        "message_effect_id",
        "action",
        "data",
        "query",
        "description",
        "short_description",
        "name",
        "phone_number",
        "first_name",
        "last_name",
        "title",
        "address",
        "vcard",
    }
)
_TG_CHAT_ID_FIELDS = frozenset({"chat_id", "from_chat_id", "user_id"})
_TG_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "link_preview_options",
        "reply_parameters",
        "media",
    }
)
_INT_RE = re.compile(r"-?\d+")


def _decode_form_value(name: str, value: str) -> Any:
    """Decode one form value the way the Bot API types it."""
    if name in _TG_STRING_FIELDS:
        return value
    if name in _TG_CHAT_ID_FIELDS:
        return int(value) if _INT_RE.fullmatch(value) else value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    if isinstance(decoded, dict | list | bool | int | float):
        return decoded
    return value


def _normalise_json_params(params: JSONDict) -> JSONDict:
    """Parse JSON-typed fields that arrived as JSON-encoded strings inside a JSON body."""
    out = dict(params)
    for key, value in params.items():
        if key in _TG_JSON_FIELDS and isinstance(value, str):
            with suppress(ValueError):
                out[key] = json.loads(value)
        elif key in _TG_CHAT_ID_FIELDS and isinstance(value, str) and _INT_RE.fullmatch(value):
            out[key] = int(value)
    return out


Handler = Callable[[JSONDict], Awaitable[Any]]


class TelegramEmulator:
    """Emulates the Telegram Bot API at ``/bot{token}/{method}``.

    Serve ``emu.app`` with :func:`running` and give PTB ``base_url=f"{url}/bot"``.  All calls are
    recorded in :attr:`calls`; the bot's sent messages are kept with their current state.

    Attributes:
        app: The aiohttp application.
        calls: Every request received, in arrival order.
        webhook: Parameters of the last ``setWebhook`` (``url``, ``secret_token`` …), or None.
        bot_user: The ``User`` returned by ``getMe``.
    """

    def __init__(self, token: str | None = None, *, bot_user: JSONDict | None = None) -> None:
        """Create the emulator.

        Args:
            token: If given, requests with any other token get 401 ``Unauthorized``.
            bot_user: Override for :data:`BOT_USER`.
        """
        self.token = token
        self.bot_user: JSONDict = dict(bot_user or BOT_USER)
        self.calls: list[Call] = []
        self.webhook: JSONDict | None = None
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._messages: dict[int, dict[int, JSONDict]] = {}
        self._last_message_id: dict[int, int] = {}
        self._updates: list[JSONDict] = []
        self._max_update_id = 0
        self._faults: dict[str, list[_Fault]] = {}
        self._closing = False
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

    def fail_next(
        self,
        method: str,
        status: int = 429,
        count: int = 1,
        retry_after: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail.

        Args:
            method: Bot API method name (case-insensitive).
            status: HTTP status / ``error_code``; 429 adds ``parameters.retry_after``.
            count: Number of consecutive calls to fail.
            retry_after: Seconds reported for 429.
            description: Override of the error description.
        """
        self._faults.setdefault(method.lower(), []).append(
            _Fault(status=status, remaining=count, retry_after=retry_after, description=description)
        )

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
        # Release pending getUpdates long polls so the server can stop promptly.
        self._closing = True

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method_sent = request.match_info["method"]
        try:
            params = await self._read_params(request)
        except _ApiError as err:
            self.calls.append(Call(method_sent, {}, token, failed=True, status=err.status))
            return self._error_response(err)

        entry = self._handlers.get(method_sent.lower())
        call = Call(entry[0] if entry else method_sent, params, token)
        self.calls.append(call)
        try:
            if self.token is not None and token != self.token:
                raise _ApiError(401, "Unauthorized")
            if entry is None:
                raise _ApiError(404, "Not Found: method not found")
            self._raise_injected_fault(method_sent.lower())
            try:
                result = await entry[1](params)
            except (TypeError, ValueError) as err:
                raise _ApiError(400, f"Bad Request: invalid parameter: {err}") from None
        except _ApiError as err:
            call.failed = True
            call.status = err.status
            return self._error_response(err)
        call.result = result
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error_response(err: _ApiError) -> web.Response:
        body: JSONDict = {"ok": False, "error_code": err.status, "description": err.description}
        if err.parameters:
            body["parameters"] = err.parameters
        return web.json_response(body, status=err.status)

    def _raise_injected_fault(self, method: str) -> None:
        faults = self._faults.get(method)
        if not faults:
            return
        fault = faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            faults.pop(0)
        if fault.status == 429:
            raise _ApiError(
                429,
                fault.description or f"Too Many Requests: retry after {fault.retry_after}",
                {"retry_after": fault.retry_after},
            )
        raise _ApiError(
            fault.status,
            fault.description or _TG_FAULT_DESCRIPTIONS.get(fault.status, "Internal Server Error"),
        )

    @staticmethod
    async def _read_params(request: web.Request) -> JSONDict:
        params: JSONDict = {k: _decode_form_value(k, v) for k, v in request.query.items()}
        if request.method not in ("POST", "PUT") or not request.body_exists:
            return params
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse JSON") from None
            if not isinstance(body, dict):
                raise _ApiError(400, "Bad Request: JSON object expected")
            params.update(_normalise_json_params(body))
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, str):
                    params[key] = _decode_form_value(key, value)
                else:  # web.FileField
                    params[key] = {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "content": value.file.read(),
                    }
        return params

    # ---- parameter helpers ------------------------------------------------------------------

    @staticmethod
    def _chat_id(params: JSONDict) -> int:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise _ApiError(400, "Bad Request: chat not found")
        return chat_id

    @staticmethod
    def _int_param(params: JSONDict, name: str) -> int:
        value = params.get(name)
        if value in (None, ""):
            raise _ApiError(400, f"Bad Request: {name} is empty")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise _ApiError(400, f"Bad Request: invalid {name} specified") from None

    @staticmethod
    def _markup(params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        return markup

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

    # ---- methods ----------------------------------------------------------------------------

    async def _get_me(self, _params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _set_webhook(self, params: JSONDict) -> bool:
        url = params.get("url")
        if not url:
            raise _ApiError(400, "Bad Request: bad webhook: URL must be provided")
        self.webhook = dict(params)
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _delete_webhook(self, params: JSONDict) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, _params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook:
            info["max_connections"] = self.webhook.get("max_connections", 40)
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = commands
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return copy.deepcopy(self._commands.get(key, []))

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands.pop(key, None)
        return True

    async def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise _ApiError(400, "Bad Request: message text is empty")
        text = str(text)
        if len(text) > _MAX_TEXT_LENGTH:
            raise _ApiError(400, "Bad Request: message is too long")
        markup = self._markup(params)
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        message: JSONDict = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": chat_json(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        entities = params.get("entities")
        if isinstance(entities, list) and entities:
            message["entities"] = entities
        reply_to = params.get("reply_to_message_id")
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            reply_to = reply_parameters.get("message_id")
        if reply_to is not None:
            replied = self._messages.get(chat_id, {}).get(int(reply_to))
            if replied is not None:
                message["reply_to_message"] = self._public(replied)
        if markup is not None:
            message["reply_markup"] = markup
        self._messages.setdefault(chat_id, {})[message_id] = message
        return self._public(message)

    async def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise _ApiError(400, "Bad Request: message text is empty")
        text = str(text)
        if len(text) > _MAX_TEXT_LENGTH:
            raise _ApiError(400, "Bad Request: message is too long")
        markup = self._markup(params)
        if params.get("inline_message_id"):
            return True
        message = self._find_message(params, "message to edit not found")
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise _ApiError(400, _NOT_MODIFIED)
        message["text"] = text
        entities = params.get("entities")
        if isinstance(entities, list) and entities:
            message["entities"] = entities
        else:
            message.pop("entities", None)
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return self._public(message)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        markup = self._markup(params)
        if params.get("inline_message_id"):
            return True
        message = self._find_message(params, "message to edit not found")
        if message.get("reply_markup") == markup:
            raise _ApiError(400, _NOT_MODIFIED)
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return self._public(message)

    @staticmethod
    def _set_markup(message: JSONDict, markup: JSONDict | None) -> None:
        # Like Telegram: an edit without reply_markup removes the inline keyboard.
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        if not params.get("callback_query_id"):
            raise _ApiError(400, "Bad Request: query_id is empty")
        return True

    async def _delete_message(self, params: JSONDict) -> bool:
        message = self._find_message(params, "message to delete not found")
        del self._messages[message["chat"]["id"]][message["message_id"]]
        return True

    async def _send_chat_action(self, params: JSONDict) -> bool:
        self._chat_id(params)
        if not params.get("action"):
            raise _ApiError(400, "Bad Request: action is empty")
        return True

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        limit = max(1, min(limit, 100))
        timeout = max(0.0, min(float(params.get("timeout") or 0), 50.0))
        if offset < 0:
            self._updates = self._updates[offset:]
        elif offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Polling (not an asyncio.Event) keeps the emulator free of any event-loop binding.
        while not self._updates and not self._closing and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(_POLL_INTERVAL)
        return copy.deepcopy(self._updates[:limit])
