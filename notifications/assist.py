"""What people are told in Reschedule Assist (`dispatch.assist`, `dispatch.assist_choice`).

A fieldworker invited to propose other times sees their free times as buttons under their decline
(or "No longer attending") on Telegram; by SMS the answer to their `NO`/`CANCEL` says how
(`handlers.sms_assist`). The customer gets one SMS listing the proposed times (`reschedule_offer`,
"Reply 1, 2 or 3"). When they choose, the assignment and the move that follow are one piece of
news: the proposer gets one message (the job is theirs at the new time, or offered again), and the
customer one SMS (`reschedule_chosen_sms`) instead of "assigned" plus "rescheduled". These are
`OutboxRenderer` methods (`notifications.render` binds them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dispatch import events as ev
from dispatch.model import Channel, Interval
from models import tables as t
from models.uow import TortoiseUnitOfWork
from notifications import catalogue as cat
from notifications.keyboards import attending_keyboard, propose_keyboard
from notifications.templates import format_when, render

if TYPE_CHECKING:
    from notifications.render import OutboxRenderer

#: The customer messages a chosen time replaces with its own one.
REPLACED_BY_CHOICE = (
    "customer_assigned_sms",
    "customer_fieldworker_changed_sms",
    "customer_rescheduled_sms",
)


def numbered(slots: Sequence[Interval], timezone: str) -> str:
    """`1) Wed 2 Dec 10:00-12:00 CET, 2) ...`: the times as the customer answers them."""
    return ", ".join(
        f"{i}) {format_when(s.start, s.end, timezone)}" for i, s in enumerate(slots, 1)
    )


def choices(count: int) -> str:
    """What the customer may reply: `1`, `1 or 2`, `1, 2 or 3`."""
    numbers = [str(i) for i in range(1, count + 1)]
    return numbers[0] if count == 1 else ", ".join(numbers[:-1]) + " or " + numbers[-1]


def chosen_in(uow: TortoiseUnitOfWork, job_id: int) -> ev.RescheduleChosen | None:
    """The customer's choice that this transaction carries out for the job, if any: the messages
    of the assignment and the move it causes are left to `reschedule_chosen`."""
    for event in uow.events:
        if isinstance(event, ev.RescheduleChosen) and event.job_id == job_id:
            return event
    return None


async def proposal_invited(
    r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.ProposalInvited
) -> None:
    """On Telegram: their decline's message (a new one for a job given directly) shows it again,
    now with the suggested times as buttons, "Type times" and "Send to customer"."""
    fw = await t.Fieldworker.get(id=e.fieldworker_id)
    if r._telegram_chat(fw) is None:
        return  # by SMS, the answer to their NO or CANCEL says how to propose
    settings = await uow.settings()
    ctx = await r._job_context(e.job_id)
    invite = render(
        "assist_invite",
        cat.TELEGRAM,
        **ctx,
        **r._fieldworker_values(fw, ctx),
        suggested=bool(e.suggested),
        max_slots=settings.reschedule_assist.max_slots,
    ).body
    await r._tell_fieldworker(
        uow,
        fw,
        "request_no_longer_attending" if e.no_longer_attending else "request_declined",
        ctx,
        request_id=e.request_id,
        edit=e.request_id is not None,
        markup=propose_keyboard(e.job_id, e.suggested, (), fw.timezone),
        sms=False,
        reason=e.reason,
        invite=invite,
    )


async def reschedule_proposed(
    r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.RescheduleProposed
) -> None:
    """The customer gets the times (one SMS); a proposal made on Telegram is confirmed there."""
    fw = await t.Fieldworker.get(id=e.fieldworker_id)
    ctx = await r._job_context(e.job_id)
    await r._notify_customer(
        uow,
        ctx,
        fw,
        "reschedule_offer",
        enabled=True,
        options=numbered(e.slots, r.company_timezone),
        choices=choices(len(e.slots)),
    )
    if e.channel is Channel.TELEGRAM:
        options = numbered(e.slots, fw.timezone)
        await r._tell_fieldworker(uow, fw, "assist_sent", ctx, sms=False, options=options)


async def reschedule_chosen(
    r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.RescheduleChosen
) -> None:
    """One message to the proposer (with "No longer attending" when the job is theirs) and one SMS
    to the customer, replacing what the assignment and the move would have sent them."""
    fw = await t.Fieldworker.get(id=e.fieldworker_id)
    ctx = await r._job_context(e.job_id)
    chosen = format_when(e.slot.start, e.slot.end, fw.timezone)
    if e.assigned:
        markup = attending_keyboard(e.job_id)
        await r._tell_fieldworker(uow, fw, "assist_chosen", ctx, markup=markup, chosen=chosen)
    else:
        await r._tell_fieldworker(uow, fw, "assist_chosen_not_free", ctx, chosen=chosen)
    notices = r._customer_notices[id(uow)]
    for template in REPLACED_BY_CHOICE:
        notices.pop((e.booking_id, template), None)
    # The whole visit moved: the SMS names every service of it still to be done.
    visit = await t.Job.filter(appointment_id=ctx["job"].appointment_id).order_by("id")
    for job in [j for j in visit if j.status not in ("cancelled", "completed")]:
        theirs = job.id == e.job_id and e.assigned
        await r._notify_customer(
            uow,
            ctx if job.id == e.job_id else await r._job_context(job.id),
            fw if theirs else None,
            "reschedule_chosen_sms",
            enabled=True,
            assigned=e.assigned,
        )


async def offer_expired(
    r: OutboxRenderer, uow: TortoiseUnitOfWork, e: ev.RescheduleOfferExpired
) -> None:
    """The proposer hears that the customer chose none of their times."""
    fw = await t.Fieldworker.get(id=e.fieldworker_id)
    await r._tell_fieldworker(uow, fw, "assist_expired", await r._job_context(e.job_id))
