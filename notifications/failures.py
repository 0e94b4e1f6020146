"""What a failed delivery causes in the outbox (`dispatch.events.DeliveryFailed`).

The core decided the channel a refused message goes by now (or none) and whether staff are told;
this words it: the message again on that channel, worded for it (a job request by SMS gets its
reply code, by Telegram its buttons), and one alert to the staff who receive alerts. It is part of
`notifications.render.OutboxRenderer`, kept in its own module.
"""

from __future__ import annotations

import copy
import html
import re
from typing import TYPE_CHECKING, Any

from dispatch import events as ev
from dispatch.model import Channel
from dispatch.reachability import ChannelsOn
from models import tables as t
from models.uow import TortoiseUnitOfWork
from notifications import reminders, staff_alerts
from notifications.templates import html_part

if TYPE_CHECKING:
    from notifications.render import OutboxRenderer

#: How a channel is named in a message to staff.
CHANNEL_NAMES = {Channel.TELEGRAM: "Telegram", Channel.SMS: "SMS", Channel.EMAIL: "email"}


async def delivery_failed(
    renderer: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.DeliveryFailed
) -> None:
    """Send the refused message on by the core's fallback channel, and alert staff once."""
    failed = await t.Notification.get(id=e.notification_id)
    fw = None
    if e.fieldworker_id is not None:
        fw = await t.Fieldworker.get_or_none(id=e.fieldworker_id)
    if fw is not None and e.fallback is not None:
        await _send_on(_only(renderer, e.fallback, e.refused), uow, failed, fw, e)
    if e.alert_staff:
        await _alert_staff(renderer, uow, failed, fw, e)


def _only(
    renderer: OutboxRenderer, channel: Channel, refused: tuple[Channel, ...]
) -> OutboxRenderer:
    """A copy of the renderer that sees only `channel` on and marks its rows with `refused`.

    Rendering the event again with only the fallback channel on is exactly "the same message by
    the next channel"; the mark keeps a second refusal from coming back to a channel that refused.
    """
    again = copy.copy(renderer)
    again.channels_on = ChannelsOn(
        telegram=channel is Channel.TELEGRAM,
        sms=channel is Channel.SMS,
        email=channel is Channel.EMAIL,
    )
    again.marks = {**renderer.marks, "refused": [c.value for c in refused]}
    return again


async def _send_on(
    again: OutboxRenderer,
    uow: TortoiseUnitOfWork,
    failed: t.Notification,
    fw: t.Fieldworker,
    e: ev.DeliveryFailed,
) -> None:
    """The refused message again: a job request rendered anew, anything else as it was written."""
    if failed.payload.get("job_request") and e.request_id is not None and e.job_id is not None:
        await again._send_request(uow, e.request_id, fw.id, e.job_id)
        return
    if reminders.REMINDER in failed.payload:  # worded for the channel (the code, the buttons)
        await reminders.send_again(again, uow, failed, fw.id)
        return
    message = failed.payload.get("message")
    if message is not None and e.fallback is not None:  # worded anew for the fallback channel
        ctx = await again._job_context(int(message["job_id"]))
        values = dict(message.get("values") or {})
        await again._tell_fieldworker(
            uow, fw, str(message["key"]), ctx, request_id=e.request_id, **values
        )
        return
    await _send_as_written(again, uow, failed, fw, e)


async def _send_as_written(
    again: OutboxRenderer,
    uow: TortoiseUnitOfWork,
    failed: t.Notification,
    fw: t.Fieldworker,
    e: ev.DeliveryFailed,
) -> None:
    """A message that cannot be worded anew goes on by the fallback channel as plain text."""
    payload: dict[str, Any] = {"method": "send", "fieldworker_id": fw.id}
    body = failed.body
    if failed.payload.get("parse_mode") == "HTML":
        body = html.unescape(re.sub(r"<[^>]+>", "", body))
    if e.fallback is Channel.SMS:
        recipient: str | int | None = again._sms_number(fw)
        template = "request_update_sms"
    elif e.fallback is Channel.EMAIL:
        recipient, template = fw.email, failed.template
        subject = "About your jobs"
        payload.update({"subject": subject, "html": html_part(body)})
    else:
        recipient, template = again._telegram_chat(fw), failed.template
    if recipient is None or e.fallback is None:
        return
    await again._queue(
        uow,
        channel=e.fallback.value,
        recipient=recipient,
        template=template,
        body=body,
        booking_id=e.booking_id,
        request_id=e.request_id,
        payload=payload,
    )


async def _alert_staff(
    renderer: OutboxRenderer,
    uow: TortoiseUnitOfWork,
    failed: t.Notification,
    fw: t.Fieldworker | None,
    e: ev.DeliveryFailed,
) -> None:
    """One Telegram alert to every staff member who receives alerts (as `_alert_staff` sends)."""
    if fw is not None:
        recipient = fw.name
    else:
        booking = await t.Booking.get(id=e.booking_id).select_related("customer")
        recipient = f"the customer {booking.customer.name}"
    await staff_alerts.to_staff(
        renderer,
        uow,
        "staff_delivery_failed",
        e.booking_id,
        recipient=recipient,
        booking_id=e.booking_id,
        job_id=e.job_id,
        channel=CHANNEL_NAMES.get(e.channel, e.channel.value),
        error=failed.error,
        fallback=CHANNEL_NAMES.get(e.fallback, e.fallback.value) if e.fallback else None,
    )
