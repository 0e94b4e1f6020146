"""What people are told when a booking is rescheduled (`dispatch.rescheduling`).

A fieldworker who keeps a moved job gets a new message with the new time (and the "No longer
attending" button: older ones lose theirs); one who loses it because they are not free then is
told so; staff are alerted of jobs left for them (manual mode); the customer gets one SMS per
reschedule, however many jobs and appointments moved (`customer_rescheduled_sms`, switched by
`customer_notify.rescheduled`). These are `OutboxRenderer` methods (`notifications.render` binds
them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatch import events as ev
from models import tables as t
from models.uow import TortoiseUnitOfWork
from notifications import assist
from notifications.keyboards import attending_keyboard, rescheduled_alert_keyboard
from notifications.templates import format_when

if TYPE_CHECKING:
    from notifications.render import OutboxRenderer


async def job_rescheduled(r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.JobRescheduled) -> None:
    """The fieldworker keeps the job at its new time: a new message (an edit would go unnoticed);
    when the customer chose a time they proposed, `assist.reschedule_chosen` tells them."""
    fw = await t.Fieldworker.get_or_none(id=e.fieldworker_id)
    if fw is None or assist.chosen_in(uow, e.job_id) is not None:
        return
    previous = format_when(e.previous.start, e.previous.end, fw.timezone)
    ctx = await r._job_context(e.job_id)
    await r._tell_fieldworker(
        uow, fw, "job_rescheduled", ctx, markup=attending_keyboard(e.job_id), previous=previous
    )


async def job_unassigned(r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.JobUnassigned) -> None:
    """The job moved to a time its fieldworker is not free: tell them (the customer hears of the
    new time from `appointment_rescheduled`, not of a lost fieldworker)."""
    fw = await t.Fieldworker.get_or_none(id=e.fieldworker_id)
    if fw is None:
        return
    await r._tell_fieldworker(uow, fw, "job_unassigned_rescheduled", await r._job_context(e.job_id))


async def appointment_rescheduled(
    r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.AppointmentRescheduled
) -> None:
    """Staff alerted of each job left for them; the customer told once (gathered per booking)."""
    for job_id in e.staff_job_ids:
        await r._alert_staff(
            uow, job_id, "staff_job_rescheduled", rescheduled_alert_keyboard(job_id)
        )
    for job_id in e.job_ids:
        ctx = await r._job_context(job_id)
        await r._notify_customer(
            uow, ctx, None, "customer_rescheduled_sms", enabled=e.tell_customer
        )
