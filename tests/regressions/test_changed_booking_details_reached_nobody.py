"""Bug: a booking's changed address or notes reached nobody.

`PATCH /bookings/{id}` stored and recorded the new details, but the fieldworkers holding a request
for its jobs (or the job itself) kept the old address in their messages and were not told, though
CONTRACT says changed details reach them. Now each holder gets a new message saying what changed,
and a pending request's message is edited to the new details, keeping its buttons. Checked where
the bug lived: the outbox delivered to the Bot API emulator.
"""

from __future__ import annotations

from dispatch import bookings, responding
from dispatch.commands import Action, BookingChanges
from dispatch.model import Actor, ActorKind, Channel
from models import tables as t
from notifications.sender import OutboxSender
from tests.factories import add_fieldworkers, add_service, create_booking, transactions
from tests.regressions.conftest import Telegram

STAFF = Actor(ActorKind.STAFF, 1, "Dora")
ANN, BEN = 100, 101


async def deliver(sender: OutboxSender) -> None:
    """Send everything queued, as the running sender would."""
    while await sender.drain_once():
        pass


async def test_holders_are_told_and_the_request_shows_the_new_address(telegram: Telegram) -> None:
    tx = transactions(outbox=True)
    await add_service()
    ann, ben = await add_fieldworkers(2, telegram=ANN)
    booking_id = await create_booking(tx, phone=None, address="Alexanderplatz 1")
    sender = OutboxSender(bot=telegram.bot, telegram_per_second=1000)
    await deliver(sender)
    ben_request = await t.JobRequest.get(booking_id=booking_id, fieldworker_id=ben.id)
    await tx.run(
        lambda uow: responding.respond(
            uow, ben_request.id, Action.DECLINE, STAFF, Channel.API, reason="Too far"
        )
    )
    await deliver(sender)
    sends = len(telegram.emu.calls_of("sendMessage"))

    changes = BookingChanges(address="Karl-Marx-Allee 90", notes="Ring twice")
    await tx.run(lambda uow: bookings.change_booking(uow, booking_id, changes, STAFF, Channel.API))
    await deliver(sender)

    news = telegram.emu.calls_of("sendMessage")[sends:]
    assert [c.params["chat_id"] for c in news] == [ANN], "Ben declined: not a holder"
    assert news[0].params["text"].splitlines()[:3] == [
        f"✏️ Booking {booking_id} was changed.",
        "📍 Address: Karl-Marx-Allee 90",
        "📝 Notes: Ring twice",
    ]
    request = await t.JobRequest.get(booking_id=booking_id, fieldworker_id=ann.id)
    shown = telegram.emu.message(ANN, request.telegram_message_id)
    assert "Karl-Marx-Allee 90" in shown["text"] and "Ring twice" in shown["text"]
    labels = [b["text"] for row in shown["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Accept ✅", "Decline ❌"]
