"""Bug (fixed in feede0b): cancelling a booking did not tell a fieldworker who had been given its
job directly.

Cancelling withdrew the job's requests, and each holder was told. A fieldworker given the job
directly (at booking, or by staff) holds no request, so they were not told and could still turn up
at a cancelled appointment. Now they get a "This job was cancelled" message all the same.
"""

from __future__ import annotations

from dispatch import bookings
from dispatch.model import Actor, ActorKind, Channel
from models import tables as t
from tests.factories import add_fieldworkers, add_service, create_booking, transactions

STAFF = Actor(ActorKind.STAFF, 1, "Dora")


async def test_cancelling_a_directly_assigned_job_tells_the_fieldworker(db: str) -> None:
    tx = transactions(outbox=True)
    await add_service()
    await add_fieldworkers(3, telegram=100)
    booking_id = await create_booking(tx, actor=STAFF, fieldworker_id=1)
    assert (await t.Job.get()).fieldworker_id == 1
    assert await t.JobRequest.all().count() == 0, "assigned at creation: nobody else asked"
    await tx.run(lambda uow: bookings.cancel_booking(uow, booking_id, STAFF, Channel.API))
    job = await t.Job.get()
    assert job.status == "cancelled"
    told = await t.Notification.filter(recipient="100", template="request_cancelled")
    assert len(told) == 1 and "cancelled" in told[0].body
