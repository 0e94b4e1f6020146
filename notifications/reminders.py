"""Messages of the reminders (`dispatch.reminders`): the nudge, the reminder before a job, and the
day-before confirmation with its Confirm / Can't attend buttons.

On Telegram the nudge is a reply to the request's own message (the sender resolves
`reply_to_request` to that message when it sends), so the buttons to answer are right above it;
by SMS it repeats the reply code. Times are in the fieldworker's own zone. Each row remembers what
it was rendered from (`reminder` in its payload), so a message refused on one channel is rendered
anew for the next (`send_again`): an SMS gets the reply code, a Telegram message its buttons.
These are `OutboxRenderer` methods (`notifications.render` binds them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatch import events as ev
from dispatch.model import Channel
from dispatch.reachability import message_channel
from models import tables as t
from models.uow import TortoiseUnitOfWork
from models.views import contact_of
from notifications import catalogue as cat
from notifications.keyboards import attending_keyboard, day_before_keyboard
from notifications.templates import render

if TYPE_CHECKING:
    from notifications.render import OutboxRenderer

#: Payload key of a Telegram row to be sent as a reply to its request's message.
REPLY_TO_REQUEST = "reply_to_request"
#: Payload key of what a reminder row was rendered from: its template, job and merge values.
REMINDER = "reminder"


def _telegram_payload(template: str, job_id: int) -> dict[str, Any]:
    if template == "nudge":
        return {REPLY_TO_REQUEST: True}
    if template == "day_before_confirmation":
        return {"reply_markup": day_before_keyboard(job_id)}
    if template == "reminder":  # the newest message about the job: its button moves here
        return {"reply_markup": attending_keyboard(job_id)}
    return {}


async def _to_fieldworker(
    r: OutboxRenderer,
    uow: TortoiseUnitOfWork,
    fieldworker_id: int,
    job_id: int,
    template: str,
    *,
    request_id: int | None = None,
    **values: Any,
) -> None:
    """One new message on the first channel that reaches them: `template` on Telegram,
    `<template>_email` by email, `<template>_sms` by SMS."""
    fw = await t.Fieldworker.get(id=fieldworker_id)
    ctx = await r._job_context(job_id)
    # Who it is for (`failures`, if it fails) and how to render it again for another channel.
    marks = {"fieldworker_id": fw.id, REMINDER: {"template": template, "job_id": job_id, **values}}
    chat = r._telegram_chat(fw)
    merge = {**ctx, **r._fieldworker_values(fw, ctx), "request_id": request_id, **values}
    if chat is not None:
        message = render(template, cat.TELEGRAM, **merge)
        channel, recipient, name = "telegram", str(chat), template
        payload = {
            "method": "send",
            **_telegram_payload(template, job_id),
            **message.telegram_payload(),
            **marks,
        }
    elif message_channel(contact_of(fw), r.channels_on) is Channel.EMAIL and fw.email:
        if template == "nudge" and request_id is not None and r.links is not None:
            merge["accept_url"] = r.links.url(request_id, "accept")
            merge["decline_url"] = r.links.url(request_id, "decline")
        message = render(template, cat.EMAIL, **merge)
        channel, recipient, name = "email", fw.email, f"{template}_email"
        payload = {**marks, **message.email_payload()}
    elif number := r._sms_number(fw):
        message = render(template, cat.SMS, **merge)
        channel, recipient, name, payload = "sms", number, f"{template}_sms", marks
    else:
        return
    await r._queue(
        uow,
        channel=channel,
        recipient=recipient,
        template=name,
        body=message.body,
        booking_id=ctx["booking_id"],
        request_id=request_id,
        payload=payload,
    )


async def send_again(
    r: OutboxRenderer, uow: TortoiseUnitOfWork, failed: t.Notification, fieldworker_id: int
) -> None:
    """A refused reminder rendered anew by `r` (a renderer that sees only the fallback channel)."""
    values = dict(failed.payload[REMINDER])
    template, job_id = str(values.pop("template")), int(values.pop("job_id"))
    await _to_fieldworker(
        r, uow, fieldworker_id, job_id, template, request_id=failed.request_id, **values
    )


async def request_nudged(r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.RequestNudged) -> None:
    """The nudge: a reply to the request message on Telegram, the reply code by SMS."""
    request = await t.JobRequest.get(id=e.request_id)
    await _to_fieldworker(
        r,
        uow,
        e.fieldworker_id,
        e.job_id,
        "nudge",
        request_id=e.request_id,
        code=request.reply_code,
    )


async def job_reminder(r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.JobReminder) -> None:
    """The reminder before the start: the job's details, address and time in their zone."""
    await _to_fieldworker(r, uow, e.fieldworker_id, e.job_id, "reminder")


async def attendance_asked(
    r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.AttendanceAsked
) -> None:
    """The day-before question: Confirm / Can't attend buttons, or `CONFIRM code` by SMS."""
    await _to_fieldworker(
        r, uow, e.fieldworker_id, e.job_id, "day_before_confirmation", code=e.reply_code
    )
