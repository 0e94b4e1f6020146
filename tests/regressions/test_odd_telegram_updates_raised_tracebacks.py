"""Bug: Telegram updates of shapes our handlers did not expect raised tracebacks (and were retried
three times): a message without a chat, text that is a number, a button press without a message.

PTB's `de_json` takes any JSON types as they come, so `"text": 12` or a missing `chat` reached its
filters and our handlers, which failed. Now the webhook refuses shapes Telegram never sends (400,
nothing recorded), and a press on an inline message (which has no message) is handled: asking for a
typed reason asks in the fieldworker's private chat.
"""

from __future__ import annotations

from emulators import make_callback_update, make_message_update
from models import tables as t
from tests.factories import add_fieldworker, add_service, create_booking, save_settings
from tests.regressions.conftest import Webhooks

ANA = 601


async def test_malformed_updates_are_refused(webhooks: Webhooks) -> None:
    no_chat = make_message_update(1, ANA, "hi")
    del no_chat["message"]["chat"]
    numeric = make_message_update(2, ANA, "hi")
    numeric["message"]["text"] = 12
    no_sender = make_callback_update(3, ANA, "a:1", message_chat_id=ANA, message_id=1)
    del no_sender["callback_query"]["from"]
    for update in (no_chat, numeric, no_sender):
        assert await webhooks.update(update) == 400
    assert await t.InboundEvent.all().count() == 0
    # A number typed as text is text.
    assert await webhooks.update(make_message_update(4, ANA, "123")) == 200
    assert (await t.InboundEvent.get(key="tg:4")).status == "done"


async def test_a_press_without_a_message_is_handled(webhooks: Webhooks) -> None:
    await save_settings(decline_reasons=["Too far", "Other"])
    await add_service()
    await add_fieldworker("Ana", telegram=ANA)
    await create_booking()  # request 1 to Ana
    update = make_callback_update(5, ANA, "r:1:2", message_chat_id=ANA, message_id=1)  # "Other"
    del update["callback_query"]["message"]
    update["callback_query"]["inline_message_id"] = "inline-1"

    assert await webhooks.update(update) == 200

    assert (await t.InboundEvent.get(key="tg:5")).status == "done"
    emu = webhooks.telegram.emu
    assert len(emu.calls_of("answerCallbackQuery", ok_only=True)) == 1
    prompt = emu.calls_of("sendMessage", ok_only=True)[-1].params
    assert prompt["chat_id"] == ANA and "type your reason" in str(prompt["text"])
    assert await t.Conversation.filter(address=str(ANA)).exists()
