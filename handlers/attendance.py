"""The day-before confirmation on Telegram: `Confirm`, and the way back from `Can't attend`.

`Can't attend` is the "No longer attending" flow itself (`handlers.telegram`: the same reasons,
`x:` presses, `responding.no_longer_attending`); only its Back button returns to this question.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest

from dispatch import reminders
from dispatch.commands import Outcome
from dispatch.model import Actor, ActorKind, Channel
from models import tables as t
from models.transactions import Transactions
from notifications.callbacks import JobPress, Op
from notifications.catalogue import TELEGRAM
from notifications.keyboards import attending_keyboard, day_before_keyboard
from notifications.templates import Rendered, render, timing
from notifications.templates import answer as answer_text

log = logging.getLogger(__name__)


def _attendance_outcome(outcome: Outcome) -> str:
    """A confirmation of a job that is no longer theirs is answered as such."""
    return "not_assigned" if outcome is Outcome.CLOSED else outcome.value


def back_keyboard(press: JobPress) -> dict[str, Any]:
    """The buttons a Back press under the reasons returns to."""
    if press.op is Op.CANT_ATTEND_BACK:
        return day_before_keyboard(press.job_id)
    return attending_keyboard(press.job_id)


async def _confirmed_text(job_id: int, fw: t.Fieldworker) -> Rendered:
    """The `attendance_confirmed` message for this job, in the fieldworker's zone."""
    job = await t.Job.get(id=job_id).select_related("appointment", "booking", "booking__customer")
    service = await t.Service.get_or_none(code=job.service_code)
    customer = job.booking.customer.name
    return render(
        "attendance_confirmed",
        TELEGRAM,
        **timing(job.appointment.start, job.appointment.end, fw.timezone),
        service=service.name if service else job.service_code,
        address=job.booking.address,
        notes=job.booking.notes,
        customer=customer,
        customer_first_name=(customer.split() or [customer])[0],
        booking_id=job.booking_id,
        job_id=job.id,
        fieldworker=(fw.name.split() or [fw.name])[0],
    )


async def confirm(query: Any, tx: Transactions, fw: t.Fieldworker, job_id: int) -> None:
    """`Confirm`: recorded by the core, answered, and the message edited to say so (keeping
    No longer attending). A job no longer theirs is answered and nothing changes."""
    actor = Actor(ActorKind.FIELDWORKER, fw.id, fw.name)
    result = await tx.run(
        lambda uow: reminders.confirm_attendance(uow, job_id, fw.id, actor, Channel.TELEGRAM)
    )
    await query.answer(answer_text(TELEGRAM, _attendance_outcome(result.outcome)))
    if result.outcome not in (Outcome.CONFIRMED, Outcome.ALREADY_CONFIRMED):
        return
    message = await _confirmed_text(job_id, fw)
    markup = InlineKeyboardMarkup.de_json(attending_keyboard(job_id), query.get_bot())
    try:
        await query.edit_message_text(
            message.body, reply_markup=markup, parse_mode=message.parse_mode
        )
    except BadRequest as exc:  # not modified (a second press), or the message is gone
        log.info("could not edit the confirmation: %s", exc)
