"""Bug: the reminder before the start had no "No longer attending" button.

The reminder is the newest message about an assigned job, and the one a fieldworker sees when
something comes up, yet the button to drop out stayed on an older message. Now the reminder
carries it and the older message loses it (only the newest message about a job has live
buttons, CONTRACT §5). Checked through the real sender and the Bot API emulator.
"""

from __future__ import annotations

from typing import Any

from dispatch import events as ev
from dispatch import responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from models import tables as t
from notifications.sender import OutboxSender
from tests.factories import add_fieldworker, add_service, create_booking, transactions
from tests.regressions.conftest import Telegram
from tests.regressions.test_staff_assignment_was_only_a_silent_edit import (
    buttons,
    deliver,
    sent_to,
)

ANN = 611


async def test_the_reminder_carries_the_drop_out_button_and_the_older_message_loses_it(
    telegram: Telegram,
) -> None:
    await add_service()
    ann = await add_fieldworker("Ann Smith", telegram=ANN)
    tx = transactions(outbox=True)
    booking_id = await create_booking(tx, phone=None)
    sender = OutboxSender(bot=telegram.bot, telegram_per_second=1000)
    await deliver(sender)
    request = await t.JobRequest.get(booking_id=booking_id, fieldworker_id=ann.id)
    actor = Actor(ActorKind.FIELDWORKER, ann.id)
    await tx.run(
        lambda uow: responding.respond(uow, request.id, Action.ACCEPT, actor, Channel.TELEGRAM)
    )
    await deliver(sender)
    accepted = telegram.emu.message(ANN, request.telegram_message_id)
    assert buttons(accepted) == ["No longer attending"]

    async def remind(uow: Any) -> None:
        uow.emit(ev.JobReminder(booking_id, request.job_id, ann.id))

    await tx.run(remind)
    await deliver(sender)

    reminder = sent_to(telegram, ANN)[-1]
    assert "starts soon" in reminder.params["text"]
    assert buttons(reminder.params) == ["No longer attending"]
    older = telegram.emu.message(ANN, request.telegram_message_id)
    assert buttons(older) == [], "only the newest message about the job has live buttons"
