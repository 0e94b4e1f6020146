"""Bug: assigning one fieldworker to both jobs of one visit failed with `schedule_conflict`.

A booking with two services at one appointment is two jobs at the same time. Eligibility counted
every other assigned job overlapping the appointment as `busy`, including the booking's own other
job: once the fieldworker had the first job, they were "busy" for the second, so `/assign` and
REST `assign` of the whole booking to one fieldworker were refused as `not_eligible`
(`schedule_conflict`), and an automatic offer of the second job skipped them. Now a job of the
same visit (same booking, same appointment: `dispatch.eligibility.keeps_busy`) never conflicts
with another; any other overlapping job still does. Checked on the real storage adapter, which
fills `busy`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from dispatch import assignment, offering
from dispatch.errors import Conflict
from dispatch.model import Actor, ActorKind, Channel, DispatchMode, ExclusionReason
from models import tables as t
from tests.factories import START, add_fieldworker, add_service, create_booking, transactions

STAFF = Actor(ActorKind.STAFF, 1, "Dora")


async def test_one_fieldworker_gets_both_jobs_of_a_visit(db: str) -> None:
    await add_service("plumb", "Plumbing")
    await add_service("paint", "Painting")
    ben = await add_fieldworker("Ben Cole", telegram=602, services=["plumb", "paint"])
    tx = transactions()
    booking_id = await create_booking(tx, DispatchMode.MANUAL, services=("plumb", "paint"))

    done = await tx.run(
        lambda uow: assignment.assign_booking(uow, booking_id, ben.id, STAFF, Channel.API)
    )

    assert [changed for _, changed in done] == [True, True]
    jobs = await t.Job.filter(booking_id=booking_id)
    assert {(j.status, j.fieldworker_id) for j in jobs} == {("assigned", ben.id)}

    # Another booking at that time is still a conflict.
    other = await create_booking(
        tx, DispatchMode.MANUAL, starts=(START + timedelta(hours=1),), services=("plumb",)
    )
    other_job = (await t.Job.get(booking_id=other)).id
    result = await tx.run(lambda uow: offering.eligibility(uow, other_job))
    assert [e.reasons for e in result.excluded] == [(ExclusionReason.SCHEDULE_CONFLICT,)]
    with pytest.raises(Conflict):
        await tx.run(lambda uow: assignment.assign_booking(uow, other, ben.id, STAFF, Channel.API))
