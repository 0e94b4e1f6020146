"""Bug (issue 7, CHANGELOG "Fixed"): after a pend, a reassignment or `/requests`, older messages
kept live Accept/Decline or "No longer attending" buttons.

A fieldworker could find buttons under several messages about the same request or job: the message
of an accepted job kept "No longer attending" after staff put the request back to pending and sent
it again; a fieldworker's job message kept it after staff gave the job to someone else, took it off
them or cancelled the booking; `/requests` sent a new copy of each request and left the old one's
Accept/Decline. Pressing a stale button only said the request or job was no longer theirs. Now only
the newest message about a request or a job carries live buttons (CONTRACT §5): each older one
loses them. Checked where the bug lived: the real sender delivers the outbox to the Bot API
emulator, and `/requests` goes through the real PTB handler.
"""

from __future__ import annotations

from typing import Any

from telegram import Update

from dispatch import assignment, bookings, responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from emulators import make_message_update
from handlers import telegram as fieldworker_chat
from handlers.context import ChatContext
from models import tables as t
from notifications.sender import OutboxSender
from tests.factories import add_fieldworker, add_service, create_booking, transactions
from tests.regressions.conftest import Telegram

STAFF = Actor(ActorKind.STAFF, 1, "Dora")
ANN, BEN = 601, 602  # Telegram user ids, and their private chats


def with_buttons(telegram: Telegram, chat: int) -> list[tuple[str, list[str]]]:
    """The chat's messages that still show buttons: (first line of text, button labels)."""
    out = []
    for message in telegram.emu.chat_messages(chat):
        rows: list[list[dict[str, Any]]] = (message.get("reply_markup") or {}).get(
            "inline_keyboard", []
        )
        if rows:
            out.append((message["text"].splitlines()[0], [b["text"] for r in rows for b in r]))
    return out


async def deliver(sender: OutboxSender) -> None:
    """Send everything queued, as the running sender would."""
    while await sender.drain_once():
        pass


async def offered(telegram: Telegram) -> tuple[int, int, dict[int, int], OutboxSender]:
    """A job offered to Ann and Ben, delivered; returns booking, job, request by chat, sender."""
    await add_service()
    await add_fieldworker("Ann Smith", telegram=ANN)
    await add_fieldworker("Ben Cole", telegram=BEN)
    booking_id = await create_booking(transactions(outbox=True), phone=None)
    sender = OutboxSender(bot=telegram.bot, telegram_per_second=1000)
    await deliver(sender)
    job = await t.Job.get(booking_id=booking_id)
    requests = {
        r.fieldworker.telegram_chat_id: r.id
        for r in await t.JobRequest.filter(job_id=job.id).select_related("fieldworker")
    }
    return booking_id, job.id, requests, sender


async def ben_accepts(request_id: int) -> None:
    """Ben presses Accept: the job is his, his request message offers No longer attending."""
    actor = Actor(ActorKind.FIELDWORKER, (await t.JobRequest.get(id=request_id)).fieldworker_id)
    await transactions(outbox=True).run(
        lambda uow: responding.respond(uow, request_id, Action.ACCEPT, actor, Channel.TELEGRAM)
    )


async def test_a_pend_leaves_buttons_only_on_the_new_request(telegram: Telegram) -> None:
    booking_id, _, requests, sender = await offered(telegram)
    await ben_accepts(requests[BEN])
    await deliver(sender)
    assert with_buttons(telegram, BEN) == [("✅ You got this job.", ["No longer attending"])]
    ben = (await t.JobRequest.get(id=requests[BEN])).fieldworker_id

    await transactions(outbox=True).run(
        lambda uow: responding.respond_for_fieldworker(
            uow, booking_id, ben, Action.PEND, STAFF, Channel.TELEGRAM
        )
    )
    await deliver(sender)

    [(first_line, labels)] = with_buttons(telegram, BEN)
    assert first_line.startswith("📋 New job request") and labels == ["Accept ✅", "Decline ❌"]
    assert len(telegram.emu.chat_messages(BEN)) > 2, "the old message is still there, buttonless"


async def test_a_reassignment_leaves_buttons_only_with_the_new_assignee(telegram: Telegram) -> None:
    _, job_id, _, sender = await offered(telegram)
    tx = transactions(outbox=True)
    ben = await t.Fieldworker.get(telegram_chat_id=BEN)
    ann = await t.Fieldworker.get(telegram_chat_id=ANN)
    await tx.run(lambda uow: assignment.assign(uow, job_id, ben.id, STAFF, Channel.TELEGRAM))
    await deliver(sender)
    assert with_buttons(telegram, BEN) == [
        ("📌 You have been assigned a job.", ["No longer attending"])
    ]

    await tx.run(lambda uow: assignment.assign(uow, job_id, ann.id, STAFF, Channel.TELEGRAM))
    await deliver(sender)

    assert with_buttons(telegram, BEN) == [], "the job is no longer his: no button left"
    assert with_buttons(telegram, ANN) == [
        ("📌 You have been assigned a job.", ["No longer attending"])
    ]


async def test_taking_the_job_off_or_cancelling_leaves_no_button(telegram: Telegram) -> None:
    booking_id, job_id, _, sender = await offered(telegram)
    tx = transactions(outbox=True)
    ben = await t.Fieldworker.get(telegram_chat_id=BEN)
    await tx.run(lambda uow: assignment.assign(uow, job_id, ben.id, STAFF, Channel.TELEGRAM))
    await deliver(sender)
    await tx.run(
        lambda uow: assignment.unassign(uow, job_id, STAFF, Channel.TELEGRAM, reason="Off sick")
    )
    await deliver(sender)
    assert with_buttons(telegram, BEN) == [], "unassigned: his job message lost its button"

    # Given back to him directly, then the booking is cancelled.
    await tx.run(lambda uow: assignment.assign(uow, job_id, ben.id, STAFF, Channel.TELEGRAM))
    await deliver(sender)
    assert [labels for _, labels in with_buttons(telegram, BEN)] == [["No longer attending"]]
    await tx.run(lambda uow: bookings.cancel_booking(uow, booking_id, STAFF, Channel.API))
    await deliver(sender)
    assert with_buttons(telegram, BEN) == [] and with_buttons(telegram, ANN) == []


async def test_requests_leaves_buttons_only_on_the_newest_copy(telegram: Telegram) -> None:
    _, _, requests, sender = await offered(telegram)
    fieldworker_chat.register(
        telegram.application, ChatContext(tx=transactions(outbox=True), timezone="UTC")
    )
    for update_id in (1, 2):
        update = make_message_update(update_id, ANN, "/requests")
        await telegram.application.process_update(Update.de_json(update, telegram.bot))
        await deliver(sender)

    [(first_line, labels)] = with_buttons(telegram, ANN)
    assert first_line.startswith(f"📋 Request #{requests[ANN]}")
    assert labels == ["Accept ✅", "Decline ❌"]
    newest = telegram.emu.chat_messages(ANN)[-1]
    assert newest.get("reply_markup"), "the newest copy is the one with buttons"
    request = await t.JobRequest.get(id=requests[ANN])
    assert request.telegram_message_id == newest["message_id"], "later edits go to it"
