"""Two appointments of one booking traded places in one PATCH (the morning one moved to midday,
the afternoon one to the morning); the fieldworker holding both lost the first, because its job
was judged at midday while the other appointment still sat in the afternoon, overlapping it.

Every appointment now moves before any job is judged (`dispatch.rescheduling.reschedule`).
"""

from __future__ import annotations

from datetime import timedelta

from dispatch import assignment, bookings, rescheduling
from dispatch.commands import AppointmentMove, JobOutcome
from dispatch.model import Channel, DispatchMode, Interval, JobStatus
from dispatch.ports import NewBooking
from tests.unit.fakes import SITE, STAFF, START, company


async def test_appointments_trading_places_keep_their_fieldworker() -> None:
    uow = company(2)
    first, second = START, START + timedelta(hours=3)
    slots = tuple(Interval(s, s + timedelta(hours=2)) for s in (first, second))
    new = NewBooking(
        "Cleo", "+4915100000000", None, "Street 1", SITE, ("plumb",), slots, DispatchMode.MANUAL
    )
    booking_id = await bookings.create_booking(uow, new, STAFF, Channel.API)
    jobs = await uow.jobs_of_booking(booking_id)
    for job in jobs:
        await assignment.assign(uow, job.id, 1, STAFF, Channel.API)

    midday = second - timedelta(hours=1)  # overlaps where the second appointment was
    swap = [
        AppointmentMove(jobs[0].appointment_id, midday, midday + timedelta(hours=2)),
        AppointmentMove(jobs[1].appointment_id, first, first + timedelta(hours=2)),
    ]
    result = await rescheduling.reschedule(uow, booking_id, swap, STAFF, Channel.API)

    assert [o.outcome for o in result.jobs] == [JobOutcome.KEPT, JobOutcome.KEPT]
    assert all(
        uow.jobs[j.id].status is JobStatus.ASSIGNED and uow.jobs[j.id].fieldworker_id == 1
        for j in jobs
    )
