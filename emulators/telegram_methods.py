"""The Bot API methods the emulator answers, each as Telegram answers it."""

from __future__ import annotations

import asyncio
import copy
import time

from emulators.common import _MAX_TEXT_LENGTH, _NOT_MODIFIED, _POLL_INTERVAL, JSONDict
from emulators.telegram_wire import _ApiError
from emulators.updates import chat_json


class BotApiMethods:
    """The method implementations of `TelegramEmulator`; its state is declared here."""

    bot_user: JSONDict
    webhook: JSONDict | None
    _commands: dict[tuple[str, str], list[JSONDict]]
    _messages: dict[int, dict[int, JSONDict]]
    _last_message_id: dict[int, int]
    _updates: list[JSONDict]
    _closing: bool

    def _public(self, message: JSONDict) -> JSONDict:
        raise NotImplementedError

    def _find_message(self, params: JSONDict, not_found: str) -> JSONDict:
        raise NotImplementedError

    @staticmethod
    def _commands_key(scope: JSONDict | None, language_code: str | None) -> tuple[str, str]:
        raise NotImplementedError

    @staticmethod
    def _chat_id(params: JSONDict) -> int:
        raise NotImplementedError

    @staticmethod
    def _int_param(params: JSONDict, name: str) -> int:
        raise NotImplementedError

    @staticmethod
    def _markup(params: JSONDict) -> JSONDict | None:
        raise NotImplementedError

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
