"""Fieldworker chat over Telegram: `/jobs` and `/requests` (the lists a fieldworker asks for)."""

from __future__ import annotations

from functools import partial
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from dispatch.model import JobStatus, RequestStatus
from handlers.context import chat_context
from models import tables as t
from notifications import live_buttons
from notifications.keyboards import request_keyboard
from notifications.templates import format_when


async def fieldworker_for(user_id: int) -> t.Fieldworker | None:
    """The fieldworker linked to a Telegram user, or None."""
    return await t.Fieldworker.get_or_none(telegram_user_id=user_id)


async def service_names() -> dict[str, str]:
    """Service code -> display name."""
    return dict(await t.Service.all().values_list("code", "name"))


async def _linked_fieldworker(update: Update) -> tuple[Any, t.Fieldworker] | None:
    """The message and its sender's fieldworker; tells an unlinked sender how to link."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return None
    fw = await fieldworker_for(user.id)
    if fw is None:
        await message.reply_text("Your Telegram account is not linked yet. Send /start.")
        return None
    return message, fw


async def on_jobs(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """The fieldworker's assigned jobs, soonest first."""
    linked = await _linked_fieldworker(update)
    if linked is None:
        return
    message, fw = linked
    jobs = (
        await t.Job.filter(fieldworker_id=fw.id, status=JobStatus.ASSIGNED.value)
        .order_by("appointment__start")
        .select_related("appointment", "booking")
    )
    if not jobs:
        await message.reply_text("You have no assigned jobs.")
        return
    names = await service_names()
    lines = [
        f"• Job {j.id} (booking {j.booking_id}): {names.get(j.service_code, j.service_code)}, "
        f"{format_when(j.appointment.start, j.appointment.end, fw.timezone)}, {j.booking.address}"
        for j in jobs[:30]
    ]
    await message.reply_text("Your jobs:\n" + "\n".join(lines))


async def on_requests(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Pending requests, each sent again with working buttons; the older message loses its own."""
    linked = await _linked_fieldworker(update)
    if linked is None:
        return
    message, fw = linked
    pending = (
        await t.JobRequest.filter(fieldworker_id=fw.id, status=RequestStatus.PENDING.value)
        .order_by("id")
        .select_related("job__appointment", "job__booking")
    )
    if not pending:
        await message.reply_text("No job requests are waiting for you.")
        return
    names = await service_names()
    for r in pending[:10]:
        job = r.job
        text = (
            f"📋 Request #{r.id}: {names.get(job.service_code, job.service_code)}, "
            f"{format_when(job.appointment.start, job.appointment.end, fw.timezone)}, "
            f"{job.booking.address}"
        )
        sent = await message.reply_text(
            text, reply_markup=InlineKeyboardMarkup.de_json(request_keyboard(r.id), context.bot)
        )
        await chat_context(context).tx.run(partial(_newest_copy, request=r, sent=sent))


async def _newest_copy(uow: Any, request: t.JobRequest, sent: Any) -> None:
    """Later edits (taken, expired) go to the newest copy; the one before loses its buttons."""
    await t.JobRequest.filter(id=request.id).update(
        telegram_chat_id=sent.chat.id, telegram_message_id=sent.message_id
    )
    if request.telegram_message_id is not None:
        await live_buttons.superseded(
            uow.now(),
            request.booking_id,
            request.id,
            request.telegram_chat_id or sent.chat.id,
            request.telegram_message_id,
        )
