"""Messages of the follow-ups when nobody takes a job in time (`dispatch.followups`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatch import events as ev
from models import tables as t
from models.uow import TortoiseUnitOfWork
from notifications.keyboards import unassigned_soon_keyboard

if TYPE_CHECKING:
    from notifications.render import OutboxRenderer


async def customer_still_waiting(
    self: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.CustomerStillWaiting
) -> None:
    """One SMS to the customer: we are still finding their technician."""
    for job_id in e.job_ids:
        ctx = await self._job_context(job_id)
        await self._notify_customer(uow, ctx, None, "customer_no_acceptance_sms", enabled=True)


async def unassigned_soon(
    self: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.UnassignedSoon
) -> None:
    """A staff alert per job with its buttons; one SMS to the customer when enabled."""
    suggested = dict(e.suggested)
    for job_id in e.job_ids:
        job = await t.Job.get(id=job_id)
        fw = await t.Fieldworker.get_or_none(id=suggested.get(job_id, 0))
        choice = (fw.id, fw.name) if fw is not None else None
        await self._alert_staff(
            uow,
            job_id,
            "staff_unassigned_soon",
            unassigned_soon_keyboard(e.booking_id, job_id, choice),
            status=job.status,
            suggested_fieldworker=fw.name if fw is not None else None,
        )
        if e.tell_customer:
            ctx = await self._job_context(job_id)
            await self._notify_customer(
                uow, ctx, None, "customer_unassigned_soon_sms", enabled=True
            )
