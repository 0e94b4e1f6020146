"""Bug (fixed in cd98041, CHANGELOG "Fixed"): a fieldworker given a job by staff got only a silent
edit of an old message.

When staff assigned (or reassigned) a job, the fieldworker's old job request message was edited to
say so. Telegram notifies nobody of an edit, so they were not told they had a job. Now they get a
new message (with the "No longer attending" button), the old request message loses its stale
Accept/Decline buttons, and their request reads `accepted`. Checked where the bug lived: the outbox
is delivered by the real sender to the Bot API emulator.
"""

from __future__ import annotations

from typing import Any

from dispatch import assignment, responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from emulators import Call
from models import tables as t
from notifications.sender import OutboxSender
from tests.factories import add_fieldworker, add_service, create_booking, transactions
from tests.regressions.conftest import Telegram

STAFF = Actor(ActorKind.STAFF, 1, "Dora")
ANN, BEN = 601, 602  # Telegram user ids, and their private chats


async def deliver(sender: OutboxSender) -> None:
    """Send everything queued, as the running sender would."""
    while await sender.drain_once():
        pass


def sent_to(telegram: Telegram, chat: int) -> list[Call]:
    """New messages (not edits) the bot sent to a chat, in order."""
    return [
        c for c in telegram.emu.calls_of("sendMessage", ok_only=True) if c.params["chat_id"] == chat
    ]


def buttons(message: dict[str, Any]) -> list[str]:
    """The labels of a message's inline buttons."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["text"] for row in rows for b in row]


async def offered_to_ann_and_ben(telegram: Telegram) -> tuple[int, t.Fieldworker, OutboxSender]:
    """A job offered to Ann and Ben, requests delivered; returns the job id, Ben and the sender."""
    await add_service()
    await add_fieldworker("Ann Smith", telegram=ANN)
    ben = await add_fieldworker("Ben Cole", telegram=BEN)
    booking_id = await create_booking(transactions(outbox=True), phone=None)
    sender = OutboxSender(bot=telegram.bot, telegram_per_second=1000)
    await deliver(sender)
    assert len(sent_to(telegram, BEN)) == 1
    return (await t.Job.get(booking_id=booking_id)).id, ben, sender


async def assert_told_with_a_new_message(
    telegram: Telegram, ben: t.Fieldworker, job_id: int, sends_before: int
) -> None:
    """Ben got one new message with the news; his request is accepted, its message buttonless."""
    news = sent_to(telegram, BEN)[sends_before:]
    assert len(news) == 1, [c.summary() for c in news]
    assert "You have been assigned a job" in news[0].params["text"]
    assert buttons(news[0].params) == ["No longer attending"]
    request = await t.JobRequest.get(job_id=job_id, fieldworker_id=ben.id)
    assert request.status == "accepted"
    old = telegram.emu.message(BEN, request.telegram_message_id)
    assert "New job request" not in old["text"]
    assert buttons(old) == [], "no stale Accept/Decline buttons"


async def test_assigning_an_offered_job_sends_the_fieldworker_a_new_message(
    telegram: Telegram,
) -> None:
    job_id, ben, sender = await offered_to_ann_and_ben(telegram)
    sends_before = len(sent_to(telegram, BEN))

    await transactions(outbox=True).run(
        lambda uow: assignment.assign(uow, job_id, ben.id, STAFF, Channel.TELEGRAM)
    )
    await deliver(sender)

    await assert_told_with_a_new_message(telegram, ben, job_id, sends_before)


async def test_reassigning_a_taken_job_sends_the_new_fieldworker_a_new_message(
    telegram: Telegram,
) -> None:
    job_id, ben, sender = await offered_to_ann_and_ben(telegram)
    tx = transactions(outbox=True)
    ann_request = await t.JobRequest.get(job_id=job_id, fieldworker_id__not=ben.id)
    await tx.run(
        lambda uow: responding.respond(
            uow,
            ann_request.id,
            Action.ACCEPT,
            Actor(ActorKind.FIELDWORKER, ann_request.fieldworker_id),
            Channel.TELEGRAM,
        )
    )
    await deliver(sender)
    assert (await t.JobRequest.get(job_id=job_id, fieldworker_id=ben.id)).status == "withdrawn"
    sends_before = len(sent_to(telegram, BEN))
    ann_sends_before = len(sent_to(telegram, ANN))

    await tx.run(lambda uow: assignment.assign(uow, job_id, ben.id, STAFF, Channel.TELEGRAM))
    await deliver(sender)

    await assert_told_with_a_new_message(telegram, ben, job_id, sends_before)
    ann_news = sent_to(telegram, ANN)[ann_sends_before:]
    assert len(ann_news) == 1 and "no longer yours" in ann_news[0].params["text"]
