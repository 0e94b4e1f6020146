"""Bug (fixed in 1b42f45): when a job's last request expired unanswered, staff were told that no
eligible fieldworker was left to ask.

That generic alert misled: people had been asked and simply did not answer in time, so staff went
looking for a missing fieldworker instead of chasing the ones asked. Now staff get one assignment
timeout alert saying how many were asked and what to do next, and the history records it as
`timeout_alerted`.
"""

from __future__ import annotations

from dispatch import offering
from models import tables as t
from tests.factories import (
    add_fieldworkers,
    add_service,
    add_staff,
    create_booking,
    transactions,
)

OWNER = 900


async def test_staff_hear_that_nobody_answered_in_time(db: str) -> None:
    tx = transactions(outbox=True)
    await add_staff("Owen Owner", role="owner", telegram=OWNER)
    await add_service()
    await add_fieldworkers(2, telegram=100)
    booking_id = await create_booking(tx)
    asked = await t.JobRequest.filter(booking_id=booking_id).values_list("id", flat=True)
    assert len(asked) == 2

    for request_id in asked:  # what the sweep does once the deadline passed
        assert await tx.run(lambda uow, rid=request_id: offering.expire_request(uow, rid))

    job = await t.Job.get(booking_id=booking_id)
    assert (job.status, job.fieldworker_id) == ("unassigned", None)
    alerts = await t.Notification.filter(recipient=str(OWNER)).values_list("template", "body")
    assert len(alerts) == 1, alerts
    template, body = alerts[0]
    assert template == "staff_assignment_timeout"
    assert "nobody accepted in time (2 asked)" in body
    assert "no eligible fieldworker" not in body
    timeouts = await t.History.filter(booking_id=booking_id, action="timeout_alerted")
    assert len(timeouts) == 1 and timeouts[0].details == {"asked": 2}
