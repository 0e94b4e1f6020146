"""A customer's SMS forwarded to staff (`dispatch.events.CustomerReplied`).

One Telegram alert to every staff member who receives alerts, naming the customer, their number,
the booking it was filed under (its first job's service and time) and their words. Part of
`notifications.render.OutboxRenderer`, kept in its own module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatch import events as ev
from models import tables as t
from models.access import alert_chats
from models.uow import TortoiseUnitOfWork
from notifications.templates import format_when, render

if TYPE_CHECKING:
    from notifications.render import OutboxRenderer


async def customer_replied(
    renderer: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.CustomerReplied
) -> None:
    """Forward the customer's words to the staff who receive alerts."""
    booking = await t.Booking.get(id=e.booking_id).select_related("customer")
    job = (
        await t.Job.filter(booking_id=e.booking_id)
        .order_by("id")
        .select_related("appointment")
        .first()
    )
    summary = booking.address
    if job is not None:
        service = await t.Service.get_or_none(code=job.service_code)
        when = format_when(job.appointment.start, job.appointment.end, renderer.company_timezone)
        summary = f"{service.name if service else job.service_code}, {when}, {booking.address}"
    text = render(
        "staff_customer_replied",
        customer=booking.customer.name,
        phone=e.phone,
        booking_id=e.booking_id,
        summary=summary,
        text=e.text,
    )
    for chat in await alert_chats():
        await renderer._queue(
            uow,
            channel="telegram",
            recipient=chat,
            template="staff_customer_replied",
            body=text,
            booking_id=e.booking_id,
            payload={"method": "send"},
        )
