"""Bug (fixed in cd98041): `/jobs` and `/requests` in the fieldworker's Telegram chat named each
service by its internal code ("plumb") instead of its name ("Plumbing").

Every other message names the service; the two lists showed the code staff typed when setting the
service up. Now both show the service's name. Checked in chat: the real PTB handlers answer a
command sent through the Bot API emulator.
"""

from __future__ import annotations

from datetime import timedelta

from telegram import Update

from emulators import make_message_update
from handlers import telegram as fieldworker_chat
from handlers.context import ChatContext
from tests.factories import START, add_fieldworker, add_service, create_booking, transactions
from tests.regressions.conftest import Telegram

ANN = 601


async def reply_to(telegram: Telegram, text: str, update_id: int) -> str:
    """Ann sends a command; returns the text of the bot's last message to her."""
    update = make_message_update(update_id, ANN, text)
    await telegram.application.process_update(Update.de_json(update, telegram.bot))
    return str(telegram.emu.calls_of("sendMessage", ok_only=True)[-1].params["text"])


async def test_the_lists_name_the_service(telegram: Telegram) -> None:
    tx = transactions()
    fieldworker_chat.register(telegram.application, ChatContext(tx=tx, timezone="UTC"))
    await add_service("plumb", "Plumbing")
    ann = await add_fieldworker("Ann Smith", telegram=ANN)
    await create_booking(tx, fieldworker_id=ann.id)  # her job
    await create_booking(tx, starts=(START + timedelta(days=1),))  # a request to her

    jobs = await reply_to(telegram, "/jobs", 1)
    assert jobs.startswith("Your jobs:") and ": Plumbing, " in jobs, jobs
    requests = await reply_to(telegram, "/requests", 2)
    assert requests.startswith("📋 Request #") and ": Plumbing, " in requests, requests
