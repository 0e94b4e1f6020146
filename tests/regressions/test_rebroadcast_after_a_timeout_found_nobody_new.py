"""Bug: after an assignment timeout, the `/rebroadcast` the alert suggested found "nobody new to
ask".

When nobody accepted in time, every eligible fieldworker had already been asked and had let the
request expire, and a re-broadcast only asks people never asked, so the alert's advice led
nowhere. Now staff can ask everyone again, the expired ones included (`/rebroadcast BOOKING all`,
REST `{"include_expired": true}`): their requests reopen and are re-sent. The alert names that
command and carries the buttons that work: "Re-broadcast to everyone (incl. expired)" and "Show
available". Checked where the bug lived: the alert delivered to the Bot API emulator and its
button pressed through the admin handlers.
"""

from __future__ import annotations

from typing import Any

from telegram import Update

from admin_commands import telegram as admin
from admin_commands.invocation import StaffContext
from dispatch import offering
from dispatch.model import Actor, ActorKind, Channel
from emulators import Call, make_callback_update
from models import tables as t
from models.access import ensure_default_roles
from notifications.sender import OutboxSender
from tests.factories import add_fieldworkers, add_service, add_staff, create_booking, transactions
from tests.regressions.conftest import Telegram

OWNER = 900
WORKERS = 100  # Telegram chats 100 and 101


async def deliver(sender: OutboxSender) -> None:
    """Send everything queued, as the running sender would."""
    while await sender.drain_once():
        pass


def sent_to(telegram: Telegram, chat: int) -> list[Call]:
    """New messages the bot sent to a chat, in order."""
    return [
        c for c in telegram.emu.calls_of("sendMessage", ok_only=True) if c.params["chat_id"] == chat
    ]


def buttons(params: dict[str, Any]) -> dict[str, str]:
    """Label -> callback data of a message's inline buttons."""
    rows = (params.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def test_the_timeout_alert_re_asks_everyone_with_a_button_that_works(
    telegram: Telegram,
) -> None:
    tx = transactions(outbox=True)
    await ensure_default_roles()
    await add_staff("Owen Owner", role="owner", telegram=OWNER)
    await add_service()
    await add_fieldworkers(2, telegram=WORKERS)
    booking_id = await create_booking(tx, phone=None)
    job = await t.Job.get(booking_id=booking_id)
    for request_id in await t.JobRequest.filter(booking_id=booking_id).values_list("id", flat=True):
        assert await tx.run(lambda uow, rid=request_id: offering.expire_request(uow, rid))
    staff = Actor(ActorKind.STAFF, 1, "Owen Owner")
    # What the alert used to suggest: nobody new.
    assert await tx.run(lambda uow: offering.rebroadcast(uow, booking_id, staff, Channel.API)) == []

    sender = OutboxSender(bot=telegram.bot, telegram_per_second=1000)
    await deliver(sender)
    [alert] = [c for c in sent_to(telegram, OWNER) if "nobody accepted in time" in c.params["text"]]
    assert f"/rebroadcast {booking_id} all" in alert.params["text"]
    assert buttons(alert.params) == {
        "Re-broadcast to everyone (incl. expired)": f"e:{booking_id}",
        "Show available": f"v:{job.id}",
    }

    admin.register(telegram.application, StaffContext(tx=tx, timezone="UTC"))
    press = make_callback_update(
        1,
        OWNER,
        f"e:{booking_id}",
        message_chat_id=OWNER,
        message_id=alert.result["message_id"],
        message_text=alert.params["text"],
        reply_markup=alert.params["reply_markup"],
    )
    await telegram.application.process_update(Update.de_json(press, telegram.bot))

    [answer] = telegram.emu.calls_of("answerCallbackQuery")
    assert answer.params["text"] == "Asked 2 fieldworker(s)."
    requests = await t.JobRequest.filter(booking_id=booking_id)
    assert len(requests) == 2 and {r.status for r in requests} == {"pending"}
    await deliver(sender)
    for chat in (WORKERS, WORKERS + 1):
        first, again = [c for c in sent_to(telegram, chat) if "New job request" in c.params["text"]]
        assert list(buttons(again.params)) == ["Accept ✅", "Decline ❌"]
        assert not buttons(telegram.emu.message(chat, first.result["message_id"])), "expired"
