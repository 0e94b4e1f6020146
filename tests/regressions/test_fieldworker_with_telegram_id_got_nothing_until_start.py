"""Bug (issue 7): a fieldworker whose Telegram user id staff had given got no job requests until
they sent `/start`.

Reachability demanded a linked chat, which only `/start` (or a shared contact) stored, so a
fieldworker created through the API or an import with `telegram_user_id` was silently never asked:
no request, no error, nothing for staff to see. A private chat's id is the user's id, so the id
is enough; they now get requests there at once. Checked where the bug lived: the booking is
broadcast through the core on a real database and the outbox delivered by the real sender to the
Bot API emulator.
"""

from __future__ import annotations

from models import tables as t
from notifications.sender import OutboxSender
from tests.factories import add_fieldworker, add_service, create_booking, transactions
from tests.regressions.conftest import Telegram

ANN = 701  # her Telegram user id: staff typed it in, she never wrote to the bot


async def test_a_telegram_user_id_alone_gets_the_request(telegram: Telegram) -> None:
    await add_service()
    ann = await add_fieldworker("Ann Smith", channels=["telegram"], telegram_user_id=ANN)
    assert ann.telegram_chat_id is None

    booking_id = await create_booking(transactions(outbox=True), phone=None)
    sender = OutboxSender(bot=telegram.bot, telegram_per_second=1000)
    while await sender.drain_once():
        pass

    request = await t.JobRequest.get(booking_id=booking_id, fieldworker_id=ann.id)
    [sent] = telegram.emu.calls_of("sendMessage", ok_only=True)
    assert sent.params["chat_id"] == ANN
    assert "New job request" in sent.params["text"]
    buttons = sent.params["reply_markup"]["inline_keyboard"][0]
    assert [b["text"].split()[0] for b in buttons] == ["Accept", "Decline"]
    # The message to edit when the request is answered is known, as for a linked chat.
    request = await t.JobRequest.get(id=request.id)
    assert (request.telegram_chat_id, request.telegram_message_id) == (
        ANN,
        sent.result["message_id"],
    )
