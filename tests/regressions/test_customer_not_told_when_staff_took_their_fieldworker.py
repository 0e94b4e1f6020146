"""Bug (issue 7, CHANGELOG "Fixed"): customers were not told when staff took their fieldworker
away or cancelled the booking.

The customer heard who was coming, and then nothing when staff declined for that fieldworker
(`/decline_for`), put their answer back to pending (`/pend`), took their jobs off them
(`/reassign_all`, REST reassign), gave the job to someone else, or cancelled the booking: they
waited for someone who was not coming. Now each is one SMS by the events of CONTRACT §6 -
`fieldworker_cancelled`, `fieldworker_changed`, `cancelled` - each switchable in
`customer_notify`, and recorded as `customer_notified`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from dispatch import assignment, bookings, responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from models import tables as t
from models.transactions import Transactions
from tests.factories import (
    START,
    add_fieldworkers,
    add_service,
    create_booking,
    save_settings,
    transactions,
)

STAFF = Actor(ActorKind.STAFF, 1, "Dora")
CUSTOMER = "+4915112345678"  # the factories' default customer phone
TakeAway = Callable[[Transactions, int, int, int], Awaitable[object]]


async def decline_for(tx: Transactions, booking: int, _job: int, fw: int) -> object:
    """`/decline_for` on the assigned fieldworker."""
    return await tx.run(
        lambda uow: responding.respond_for_fieldworker(
            uow, booking, fw, Action.DECLINE, STAFF, Channel.TELEGRAM, reason="Van broke down"
        )
    )


async def pend(tx: Transactions, booking: int, _job: int, fw: int) -> object:
    """`/pend` the assigned fieldworker: back to pending, asked again."""
    return await tx.run(
        lambda uow: responding.respond_for_fieldworker(
            uow, booking, fw, Action.PEND, STAFF, Channel.TELEGRAM
        )
    )


async def reassign_all(tx: Transactions, _booking: int, _job: int, fw: int) -> object:
    """`/reassign_all` and REST `POST /fieldworkers/{id}/reassign` (the same core call)."""
    return await assignment.unassign_range(
        tx,
        fw,
        START - timedelta(days=1),
        START + timedelta(days=1),
        STAFF,
        Channel.API,
        reason="Ill",
    )


async def customer_sms() -> list[tuple[str, str]]:
    """(template, body) of every SMS queued for the customer, in order."""
    rows = await t.Notification.filter(recipient=CUSTOMER).order_by("id")
    return [(r.template, r.body) for r in rows]


async def assigned_to_first(tx: Transactions) -> tuple[int, int, int]:
    """An auto booking whose job the first of three fieldworkers accepted: booking, job, fw."""
    await add_service()
    first, *_ = await add_fieldworkers(3, telegram=100)
    booking_id = await create_booking(tx, customer="Carol Client")
    job = await t.Job.get(booking_id=booking_id)
    request = await t.JobRequest.get(job_id=job.id, fieldworker_id=first.id)
    actor = Actor(ActorKind.FIELDWORKER, first.id)
    await tx.run(
        lambda uow: responding.respond(uow, request.id, Action.ACCEPT, actor, Channel.TELEGRAM)
    )
    assert [template for template, _ in await customer_sms()] == ["customer_assigned_sms"]
    return booking_id, job.id, first.id


@pytest.mark.parametrize("take_away", [decline_for, pend, reassign_all])
async def test_the_customer_hears_once_that_their_fieldworker_is_not_coming(
    db: str, take_away: TakeAway
) -> None:
    tx = transactions(outbox=True)
    booking_id, job_id, fw = await assigned_to_first(tx)

    await take_away(tx, booking_id, job_id, fw)

    told = await customer_sms()
    assert [template for template, _ in told] == [
        "customer_assigned_sms",
        "customer_fieldworker_cancelled_sms",
    ], told
    assert "Worker can no longer come for your Plumbing" in told[1][1], "named by first name"
    notified = await t.History.filter(booking_id=booking_id, action="customer_notified")
    assert [h.details["template"] for h in notified][-1] == "customer_fieldworker_cancelled_sms"


async def test_the_customer_hears_who_comes_instead_on_a_reassignment(db: str) -> None:
    tx = transactions(outbox=True)
    _, job_id, _ = await assigned_to_first(tx)
    other = await t.Fieldworker.get(name="Worker 2")

    await tx.run(lambda uow: assignment.assign(uow, job_id, other.id, STAFF, Channel.TELEGRAM))

    told = await customer_sms()
    assert [template for template, _ in told][1:] == ["customer_fieldworker_changed_sms"], told
    assert "Worker will come instead" in told[1][1], "named by first name"


async def test_the_customer_hears_once_that_the_booking_is_cancelled(db: str) -> None:
    tx = transactions(outbox=True)
    booking_id, _, _ = await assigned_to_first(tx)

    await tx.run(lambda uow: bookings.cancel_booking(uow, booking_id, STAFF, Channel.API))
    await tx.run(lambda uow: bookings.cancel_booking(uow, booking_id, STAFF, Channel.API))

    told = await customer_sms()
    assert [template for template, _ in told][1:] == ["customer_cancelled_sms"], told
    assert "has been cancelled" in told[1][1] and "Plumbing" in told[1][1]


async def test_each_message_is_switchable(db: str) -> None:
    tx = transactions(outbox=True)
    await save_settings(
        customer_notify={
            "fieldworker_cancelled": False,
            "fieldworker_changed": False,
            "cancelled": False,
        }
    )
    booking_id, job_id, _ = await assigned_to_first(tx)
    other = await t.Fieldworker.get(name="Worker 2")

    await tx.run(lambda uow: assignment.assign(uow, job_id, other.id, STAFF, Channel.TELEGRAM))
    await reassign_all(tx, booking_id, job_id, other.id)
    await tx.run(lambda uow: bookings.cancel_booking(uow, booking_id, STAFF, Channel.API))

    assert [template for template, _ in await customer_sms()] == ["customer_assigned_sms"]
