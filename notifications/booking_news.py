"""Booking news for the fieldworkers holding its jobs: changed details, completed jobs.

Methods of `notifications.render.OutboxRenderer`, kept apart to keep that module short: it binds
them as `_on_BookingChanged` and `_on_JobCompleted`. The core decides who holds what; these decide
how they hear it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatch import events as ev
from models import tables as t
from models.uow import TortoiseUnitOfWork
from notifications.keyboards import request_keyboard

if TYPE_CHECKING:
    from notifications.render import OutboxRenderer


async def on_booking_changed(
    self: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.BookingChanged
) -> None:
    """One new message per holder naming what changed and their jobs; a pending request's
    message is edited too, so the message they answer shows the new details (and keeps its
    buttons). An edit alone would go unnoticed: Telegram does not notify edits."""
    held: dict[int, list[ev.Holder]] = {}
    for holder in e.holders:
        held.setdefault(holder.fieldworker_id, []).append(holder)
    for fieldworker_id, holders in held.items():
        fw = await t.Fieldworker.get_or_none(id=fieldworker_id)
        if fw is None:
            continue
        contexts: list[dict[str, Any]] = []
        for holder in holders:
            ctx = await self._job_context(holder.job_id)
            contexts.append(ctx)
            request_id = holder.pending_request_id
            chat = self._telegram_chat(fw)
            if request_id is not None and chat is not None:
                message = self._request_text(fw, request_id, ctx)
                await self._queue(
                    uow,
                    channel="telegram",
                    recipient=chat,
                    template="job_request",
                    body=message.body,
                    booking_id=e.booking_id,
                    request_id=request_id,
                    payload={
                        "method": "edit",
                        "reply_markup": request_keyboard(request_id),
                        **message.telegram_payload(),
                    },
                )
        summaries = [self._summary(ctx, fw.timezone) for ctx in contexts]
        await self._tell_fieldworker(
            uow, fw, "booking_changed", contexts[0], changed=list(e.fields), summaries=summaries
        )


async def on_job_completed(
    self: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.JobCompleted
) -> None:
    """The job's message loses its "No longer attending" button (a new message if none)."""
    fw = await t.Fieldworker.get_or_none(id=e.fieldworker_id)
    if fw is None:
        return
    ctx = await self._job_context(e.job_id)
    await self._tell_fieldworker(
        uow, fw, "job_completed", ctx, request_id=e.request_id, edit=True, sms=False
    )
