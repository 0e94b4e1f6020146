"""Alerts to staff about a job, and a customer's SMS forwarded to them.

Each goes by Telegram to every staff member who receives alerts (`models.access.alert_chats`).
Part of `notifications.render.OutboxRenderer`, kept in its own module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatch import events as ev
from models import tables as t
from models.access import alert_chats
from models.uow import TortoiseUnitOfWork
from notifications.keyboards import timeout_alert_keyboard
from notifications.templates import format_when, render_key, timing

if TYPE_CHECKING:
    from notifications.render import OutboxRenderer


async def to_staff(
    renderer: OutboxRenderer,
    uow: TortoiseUnitOfWork,
    key: str,
    booking_id: int,
    markup: Any = None,
    /,
    **values: Any,
) -> None:
    """One alert (the `staff_alert` template, its `kind` set by `key`) to every staff member
    who receives alerts, by Telegram."""
    message = render_key(key, **values)
    payload = {"method": "send", **message.telegram_payload()}
    if markup:
        payload["reply_markup"] = markup
    for chat in await alert_chats():
        await renderer._queue(
            uow,
            channel="telegram",
            recipient=chat,
            template=key,
            body=message.body,
            booking_id=booking_id,
            payload=payload,
        )


async def alert_staff(
    renderer: OutboxRenderer,
    uow: TortoiseUnitOfWork,
    job_id: int,
    template: str,
    markup: Any = None,
    **values: Any,
) -> None:
    """A Telegram alert about a job (with buttons, if any) to every staff member on alerts."""
    ctx = await renderer._job_context(job_id)
    timed = timing(ctx["start"], ctx["end"], renderer.company_timezone)
    await to_staff(renderer, uow, template, ctx["booking_id"], markup, **ctx, **timed, **values)


async def acceptance_waiting(
    renderer: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.AcceptanceWaiting
) -> None:
    """Manual mode: a fieldworker accepted; staff confirm who gets the job."""
    fw = await t.Fieldworker.get(id=e.fieldworker_id)
    await renderer._alert_staff(
        uow, e.job_id, "staff_acceptance_waiting", fieldworker=fw.name, fieldworker_id=fw.id
    )


async def nobody_to_ask(
    renderer: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.JobNobodyToAsk
) -> None:
    """No eligible fieldworker is left to ask for a job."""
    await renderer._alert_staff(uow, e.job_id, "staff_nobody_to_ask")


async def assignment_timed_out(
    renderer: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.AssignmentTimedOut
) -> None:
    """Nobody accepted within the assignment timeout (with Re-broadcast and Assign buttons)."""
    markup = timeout_alert_keyboard(e.booking_id, e.job_id)
    await renderer._alert_staff(uow, e.job_id, "staff_assignment_timeout", markup, asked=e.asked)


async def customer_replied(
    renderer: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.CustomerReplied
) -> None:
    """Forward a customer's words: their name and number, the booking it was filed under (its
    first job's service and time), and the text."""
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
    await to_staff(
        renderer,
        uow,
        "staff_customer_replied",
        e.booking_id,
        customer=booking.customer.name,
        phone=e.phone,
        booking_id=e.booking_id,
        summary=summary,
        text=e.text,
    )
