"""Customer messages: one per event and booking per transaction, however many jobs it concerns.

`OutboxRenderer._notify_customer` gathers each job an event concerns into a `CustomerNotice`
keyed by booking and template; once every event of the transaction is rendered, each notice
becomes one SMS (CONTRACT §6), and one email when the customer has an address and email is on
(§7), each with a `customer_notified` history row naming its channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dispatch.model import Actor, Channel, HistoryAction
from models import tables as t
from models.uow import TortoiseUnitOfWork
from notifications import catalogue as cat
from notifications.templates import render, render_key


def first_name(name: str) -> str:
    """The first word of a name."""
    return (name.split() or [name])[0]


def listed(values: list[Any]) -> Any:
    """Several distinct texts as one (`A`, `A and B`, `A, B and C`); a non-text value as is."""
    if len(values) == 1 or not all(isinstance(v, str) for v in values):
        return values[0]
    return ", ".join(values[:-1]) + " and " + values[-1]


@dataclass
class CustomerNotice:
    """One message to a booking's customer about one event, gathered over the jobs it concerns."""

    booking_id: int
    template: str
    job_ids: list[int] = field(default_factory=list)
    fieldworker_ids: list[int] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=dict)  # merge field -> distinct values

    def add(self, job_id: int | None, fieldworker_id: int | None, **values: Any) -> None:
        """One more job (and its fieldworker) this message is about, and its merge values."""
        for item, into in ((job_id, self.job_ids), (fieldworker_id, self.fieldworker_ids)):
            if item is not None and item not in into:
                into.append(item)
        for name, value in values.items():
            seen = self.values.setdefault(name, [])
            if value not in seen:
                seen.append(value)


async def send_customer_notice(
    uow: TortoiseUnitOfWork,
    notice: CustomerNotice,
    sms_enabled: bool,
    email_enabled: bool = False,
) -> None:
    """Queue the SMS of a notice (none without SMS, a phone, or after the customer's STOP) and its
    email (with email on and an address), each recorded in the booking's history."""
    booking = await t.Booking.get(id=notice.booking_id).select_related("customer")
    customer = booking.customer
    values = {name: listed(seen) for name, seen in notice.values.items()}
    values.update(
        customer=customer.name,
        customer_first_name=first_name(customer.name),
        booking_id=notice.booking_id,
    )
    message = cat.message(notice.template)
    if sms_enabled and customer.phone and not customer.sms_opt_out:
        await t.Notification.create(
            booking_id=notice.booking_id,
            channel="sms",
            recipient=customer.phone,
            template=notice.template,
            body=render_key(notice.template, **values).body,
            payload={},
            next_attempt_at=uow.now(),
        )
        await _record(uow, notice, Channel.SMS)
    if email_enabled and customer.email and cat.EMAIL in cat.EVENTS[message.event].channels:
        email = render(message.event, cat.EMAIL, **values)
        await t.Notification.create(
            booking_id=notice.booking_id,
            channel="email",
            recipient=customer.email,
            template=notice.template,
            body=email.body,
            payload=email.email_payload(),
            next_attempt_at=uow.now(),
        )
        await _record(uow, notice, Channel.EMAIL)


async def _record(uow: TortoiseUnitOfWork, notice: CustomerNotice, channel: Channel) -> None:
    """The `customer_notified` history row of one message of a notice."""
    details: dict[str, Any] = {
        "template": notice.template,
        "job_ids": notice.job_ids,
        "fieldworker_ids": notice.fieldworker_ids,
    }
    if len(notice.fieldworker_ids) == 1:
        details["fieldworker_id"] = notice.fieldworker_ids[0]  # as before several jobs were one
    await uow.add_history(
        notice.booking_id,
        HistoryAction.CUSTOMER_NOTIFIED,
        Actor.system(),
        job_id=notice.job_ids[0] if len(notice.job_ids) == 1 else None,
        channel=channel,
        details=details,
    )
