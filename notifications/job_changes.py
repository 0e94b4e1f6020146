"""What people are told when a job leaves its fieldworker or a booking is cancelled.

Staff taking a job off a fieldworker (`/reassign_all`, REST reassign, `/pend` of the assigned one)
tell them and the customer; a fieldworker who drops out (their own "No longer attending", or a
decline on their behalf once the job was theirs: the job is missed) is an alert for staff and news
for the customer; a cancelled booking is news for the customer and for a fieldworker it was given
to directly. The customer hears of each once, through the renderer's one customer-SMS helper, and
each message is switchable in `customer_notify` (CONTRACT §6). These are `OutboxRenderer` methods
(`notifications.render` binds them), kept here so the renderer stays one screenful per concern.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatch import events as ev
from dispatch.model import ActorKind
from models import tables as t
from models.uow import TortoiseUnitOfWork
from notifications import rescheduling

if TYPE_CHECKING:
    from notifications.render import OutboxRenderer


async def job_unassigned(r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.JobUnassigned) -> None:
    """Staff took the job off its fieldworker: tell them, and the customer."""
    if e.rescheduled:
        await rescheduling.job_unassigned(r, uow, e)
        return
    if e.actor.kind is ActorKind.FIELDWORKER:
        return
    fw = await t.Fieldworker.get(id=e.fieldworker_id)
    ctx = await r._job_context(e.job_id)
    await r._tell_fieldworker(uow, fw, "job_unassigned", ctx)
    notify = (await uow.settings()).customer_notify
    await r._notify_customer(
        uow, ctx, fw, "customer_fieldworker_cancelled_sms", enabled=notify.fieldworker_cancelled
    )


async def job_cancelled(r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.JobCancelled) -> None:
    """A job given to a fieldworker directly (no request to withdraw) was cancelled: tell them."""
    fw = await t.Fieldworker.get(id=e.fieldworker_id)
    await r._tell_fieldworker(uow, fw, "request_cancelled", await r._job_context(e.job_id))


async def fieldworker_cancelled(
    r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.FieldworkerCancelled
) -> None:
    """The assigned fieldworker is no longer attending (the job is missed): alert staff, tell
    the customer."""
    fw = await t.Fieldworker.get(id=e.fieldworker_id)
    await r._alert_staff(
        uow,
        e.job_id,
        "staff_fieldworker_cancelled",
        fieldworker=fw.name,
        reason=e.reason,
        rebroadcast=e.rebroadcast,
    )
    ctx = await r._job_context(e.job_id)
    settings = await uow.settings()
    await r._notify_customer(
        uow,
        ctx,
        fw,
        "customer_fieldworker_cancelled_sms",
        enabled=settings.customer_notify.fieldworker_cancelled,
    )


async def booking_cancelled(
    r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.BookingCancelled
) -> None:
    """The booking was cancelled: tell the customer once, naming its first visit."""
    first = await t.Job.filter(booking_id=e.booking_id).order_by("appointment__start", "id").first()
    if first is None:
        return
    notify = (await uow.settings()).customer_notify
    await r._notify_customer(
        uow,
        await r._job_context(first.id),
        None,
        "customer_cancelled_sms",
        enabled=notify.cancelled,
    )
