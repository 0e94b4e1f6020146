"""Bug: one visit with two services sent the customer two "assigned" SMS.

A booking of plumbing and painting at one appointment is two jobs. Assigning both to one
fieldworker (staff's `assign` for the booking, or a fieldworker chosen at creation) wrote one
customer SMS per job event, so the customer got "Ben will do your Plumbing" and then "Ben will do
your Painting" for the same visit. CONTRACT §6 says one SMS per event and booking: now the
renderer gathers every job an event concerns in one transaction into one message ("Ben will do
your Plumbing and Painting") with one `customer_notified` history row. Checked where the bug
lived: the real renderer writing the outbox inside the core's transaction.
"""

from __future__ import annotations

from dispatch import assignment
from dispatch.model import Actor, ActorKind, Channel, DispatchMode
from models import tables as t
from tests.factories import add_fieldworker, add_service, create_booking, transactions

STAFF = Actor(ActorKind.STAFF, 1, "Dora")
PHONE = "+4915112345678"


async def customer_sms(booking_id: int) -> list[t.Notification]:
    """The booking's outbox rows to the customer."""
    return await t.Notification.filter(booking_id=booking_id, recipient=PHONE).order_by("id")


async def two_services_and_ben() -> t.Fieldworker:
    await add_service("plumb", "Plumbing")
    await add_service("paint", "Painting")
    return await add_fieldworker("Ben Cole", telegram=602, services=["plumb", "paint"])


async def test_assigning_both_jobs_of_a_visit_sends_one_assigned_sms(db: str) -> None:
    ben = await two_services_and_ben()
    tx = transactions(outbox=True)
    booking_id = await create_booking(
        tx, DispatchMode.MANUAL, services=("plumb", "paint"), phone=PHONE
    )

    await tx.run(lambda uow: assignment.assign_booking(uow, booking_id, ben.id, STAFF, Channel.API))

    sms = await customer_sms(booking_id)
    assert len(sms) == 1, [n.body for n in sms]
    assert sms[0].template == "customer_assigned_sms"
    assert sms[0].body.startswith("Hi Carol, Ben will do your Plumbing and Painting on Tue 1 Dec")
    notified = await t.History.filter(booking_id=booking_id, action="customer_notified")
    assert len(notified) == 1
    jobs = await t.Job.filter(booking_id=booking_id).order_by("id").values_list("id", flat=True)
    assert notified[0].details["job_ids"] == list(jobs)
    assert notified[0].details["fieldworker_id"] == ben.id


async def test_a_visit_assigned_at_creation_sends_one_assigned_sms(db: str) -> None:
    ben = await two_services_and_ben()

    booking_id = await create_booking(
        transactions(outbox=True), services=("plumb", "paint"), phone=PHONE, fieldworker_id=ben.id
    )

    sms = await customer_sms(booking_id)
    assert [n.body.split(" on ")[0] for n in sms] == [
        "Hi Carol, Ben will do your Plumbing and Painting"
    ]


async def test_separate_transactions_still_tell_each_change(db: str) -> None:
    # One message per event and booking per transaction: a later, separate assignment is news.
    ben = await two_services_and_ben()
    tx = transactions(outbox=True)
    booking_id = await create_booking(
        tx, DispatchMode.MANUAL, services=("plumb", "paint"), phone=PHONE
    )
    plumb, paint = (
        await t.Job.filter(booking_id=booking_id).order_by("id").values_list("id", flat=True)
    )
    for job_id in (plumb, paint):
        await tx.run(
            lambda uow, job_id=job_id: assignment.assign(uow, job_id, ben.id, STAFF, Channel.API)
        )

    assert [n.body.split(" on ")[0] for n in await customer_sms(booking_id)] == [
        "Hi Carol, Ben will do your Plumbing",
        "Hi Carol, Ben will do your Painting",
    ]
