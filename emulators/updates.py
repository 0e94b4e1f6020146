"""Telegram Update JSON as Telegram sends it: a private text message or a button press.

Tests, the demo and the benchmarks build updates here and POST them to `/telegram/webhook` (or
queue them in the emulator for long polling).
"""

from __future__ import annotations

import time

from emulators.common import _INCOMING_MESSAGE_ID_BASE, BOT_USER, JSONDict


def user_json(user_id: int, first_name: str, username: str | None) -> JSONDict:
    user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    user["language_code"] = "en"
    return user


def chat_json(chat_id: int, first_name: str | None = None, username: str | None = None) -> JSONDict:
    if chat_id > 0:
        chat: JSONDict = {"id": chat_id, "type": "private"}
        if first_name:
            chat["first_name"] = first_name
        if username:
            chat["username"] = username
        return chat
    chat_type = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": chat_type, "title": f"Test {chat_type} {chat_id}"}


def _command_entities(text: str | None) -> list[JSONDict]:
    if not text or not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    return [{"offset": 0, "length": len(command.encode("utf-16-le")) // 2, "type": "bot_command"}]


def make_message_update(
    update_id: int,
    user_id: int,
    text: str | None,
    *,
    chat_id: int | None = None,
    username: str | None = None,
    first_name: str = "Test",
    contact: JSONDict | None = None,
    reply_to_message_id: int | None = None,
    message_id: int | None = None,
) -> JSONDict:
    """Build a real ``Update`` JSON carrying a message from a user.

    Args:
        update_id: Update id.
        user_id: Sender's Telegram user id.
        text: Message text (``None`` for e.g. a pure contact message). Text starting with ``/``
            gets a ``bot_command`` entity like Telegram adds.
        chat_id: Chat id; defaults to the private chat with the user (``user_id``).
        username: Sender's @username (without ``@``).
        first_name: Sender's first name.
        contact: Shared contact, e.g. ``{"phone_number": "+15550001", "user_id": 42}``;
            ``first_name`` is filled in if missing.
        reply_to_message_id: Makes the message a reply to this (bot) message id.
        message_id: Message id; defaults to ``1_000_000 + update_id`` so it never collides with
            ids the emulator assigns to the bot's own messages.

    Returns:
        A dict that ``telegram.Update.de_json`` accepts.
    """
    chat = chat_json(user_id if chat_id is None else chat_id, first_name, username)
    now = int(time.time())
    message: JSONDict = {
        "message_id": message_id
        if message_id is not None
        else _INCOMING_MESSAGE_ID_BASE + update_id,
        "from": user_json(user_id, first_name, username),
        "chat": chat,
        "date": now,
    }
    if text is not None:
        message["text"] = text
        entities = _command_entities(text)
        if entities:
            message["entities"] = entities
    if contact is not None:
        message["contact"] = {"first_name": first_name, **contact}
    if reply_to_message_id is not None:
        message["reply_to_message"] = {
            "message_id": reply_to_message_id,
            "from": dict(BOT_USER),
            "chat": chat,
            "date": now,
            "text": "",
        }
    return {"update_id": update_id, "message": message}


def make_callback_update(
    update_id: int,
    user_id: int,
    data: str,
    *,
    message_chat_id: int,
    message_id: int,
    message_text: str = "...",
    username: str | None = None,
    first_name: str = "Test",
    reply_markup: JSONDict | None = None,
) -> JSONDict:
    """Build a real ``Update`` JSON for an inline-button press on a bot message.

    Args:
        update_id: Update id; also used to derive the callback query id.
        user_id: Id of the user who pressed the button.
        data: The button's ``callback_data``.
        message_chat_id: Chat of the message carrying the keyboard.
        message_id: Id of that message.
        message_text: Text of that message.
        username: Presser's @username (without ``@``).
        first_name: Presser's first name.
        reply_markup: Keyboard currently on the message, if the test cares.

    Returns:
        A dict that ``telegram.Update.de_json`` accepts.
    """
    message: JSONDict = {
        "message_id": message_id,
        "from": dict(BOT_USER),
        "chat": chat_json(message_chat_id, first_name, username),
        "date": int(time.time()),
        "text": message_text,
    }
    if reply_markup is not None:
        message["reply_markup"] = reply_markup
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(4_000_000_000_000_000 + update_id),
            "from": user_json(user_id, first_name, username),
            "message": message,
            "chat_instance": str(-7_000_000_000_000 - abs(message_chat_id)),
            "data": data,
        },
    }
