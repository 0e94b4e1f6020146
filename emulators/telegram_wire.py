"""The Bot API's wire format as the emulator reads it: parameters, errors, decoding."""

from __future__ import annotations

import json
import re
from contextlib import suppress
from typing import Any

from aiohttp import web

from emulators.common import JSONDict


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


async def read_params(request: web.Request) -> JSONDict:
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
            elif isinstance(value, web.FileField):
                params[key] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "content": value.file.read(),
                }
    return params


def chat_id_param(params: JSONDict) -> int:
    chat_id = params.get("chat_id")
    if chat_id in (None, ""):
        raise _ApiError(400, "Bad Request: chat_id is empty")
    if isinstance(chat_id, bool) or not isinstance(chat_id, int):
        raise _ApiError(400, "Bad Request: chat not found")
    return chat_id


def int_param(params: JSONDict, name: str) -> int:
    value = params.get(name)
    if value in (None, ""):
        raise _ApiError(400, f"Bad Request: {name} is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _ApiError(400, f"Bad Request: invalid {name} specified") from None


def markup_param(params: JSONDict) -> JSONDict | None:
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    return markup
