"""A message to a fieldworker about a job: worded for the channel that reaches them.

Part of `notifications.render.OutboxRenderer` (bound as `_tell_fieldworker`), kept apart to keep
that module short. The message key names the event (`notifications.catalogue`); the text is that
event's template for Telegram (edit of the request's message, or a new one), SMS or email.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatch.model import Channel
from dispatch.reachability import message_channel
from models.rows import FieldworkerLike
from models.uow import TortoiseUnitOfWork
from models.views import contact_of
from notifications import catalogue as cat
from notifications import live_buttons, request_channels
from notifications.templates import render

if TYPE_CHECKING:
    from notifications.render import OutboxRenderer


async def tell_fieldworker(
    self: OutboxRenderer,
    uow: TortoiseUnitOfWork,
    fw: FieldworkerLike,
    template: str,
    ctx: dict[str, Any],
    *,
    request_id: int | None = None,
    edit: bool = False,
    markup: dict[str, Any] | None = None,
    sms: bool = True,
    **values: Any,
) -> None:
    """Edit the request's Telegram message (or send a new one), or send an SMS or an email:
    the message key `template`'s event, worded for the channel that reaches them."""
    event = cat.message(template).event
    merge = {**ctx, **self._fieldworker_values(fw, ctx), **values}
    chat = self._telegram_chat(fw)
    # Who it is for, and how to word it again for another channel (`failures`).
    who: dict[str, Any] = {
        "fieldworker_id": fw.id,
        "message": {"key": template, "job_id": ctx["job_id"], "values": values},
    }
    channels = cat.EVENTS[event].channels
    if chat is not None:
        rendered = render(event, cat.TELEGRAM, **merge)
        payload: dict[str, Any] = {
            "method": "edit" if edit else "send",
            **who,
            **rendered.telegram_payload(),
        }
        if edit and request_id is not None:  # the edit replaces that message's buttons
            await live_buttons.replaced(ctx["booking_id"], request_id)
        if markup is not None:
            payload["reply_markup"] = markup
        await self._queue(
            uow,
            channel="telegram",
            recipient=chat,
            template=template,
            body=rendered.body,
            booking_id=ctx["booking_id"],
            request_id=request_id,
            payload=payload,
        )
    elif not sms:
        return
    elif message_channel(contact_of(fw), self.channels_on) is Channel.EMAIL:
        if cat.EMAIL in channels:
            rendered = render(event, cat.EMAIL, **merge)
            await request_channels.notice_by_email(
                self, uow, fw, template, rendered, ctx, request_id
            )
    elif cat.SMS in channels and (number := self._sms_number(fw)):
        await self._queue(
            uow,
            channel="sms",
            recipient=number,
            template=f"{event}_sms",
            body=render(event, cat.SMS, **merge).body,
            booking_id=ctx["booking_id"],
            request_id=request_id,
            payload=who,
        )
