"""Bug (issue 7, CHANGELOG "Fixed"): a fieldworker dropping out of a job left it `unassigned`, never
`missed`.

"No longer attending" and a decline on behalf of the assigned fieldworker recorded `job_unassigned`
and put the job straight back to `unassigned`, as if nobody had ever taken it: `missed` (CONTRACT
§4) was never produced, the history had no `job_missed`, and with `auto_rebroadcast_on_cancel` off
(or in `manual` mode) staff could not tell a dropped job from a new one. Now the job becomes
`missed` with a `job_missed` row before any re-broadcast, stays `missed` until staff act, shows so
in `GET /bookings/{id}` and `/unassigned`, and staff can assign, request or re-broadcast it.
"""

from __future__ import annotations

from admin_commands import views
from dispatch import assignment, offering, responding
from dispatch.commands import Action, Outcome
from dispatch.model import Actor, ActorKind, Channel, DispatchMode
from models import tables as t
from rest.bookings import bookings_out
from tests.factories import (
    add_fieldworker,
    add_fieldworkers,
    add_service,
    create_booking,
    save_settings,
    transactions,
)

STAFF = Actor(ActorKind.STAFF, 1, "Dora")


async def test_no_longer_attending_makes_the_job_missed_until_staff_act(db: str) -> None:
    await save_settings(auto_rebroadcast_on_cancel=False)
    tx = transactions(outbox=True)
    await add_service()
    ann, ben = await add_fieldworkers(2, telegram=100)
    booking_id = await create_booking(tx)
    job = await t.Job.get(booking_id=booking_id)
    mine = await t.JobRequest.get(job_id=job.id, fieldworker_id=ann.id)
    as_ann = Actor(ActorKind.FIELDWORKER, ann.id)
    await tx.run(lambda uow: responding.respond(uow, mine.id, Action.ACCEPT, as_ann, Channel.SMS))
    asked = await t.JobRequest.all().count()

    result = await tx.run(
        lambda uow: responding.no_longer_attending(
            uow, job.id, ann.id, as_ann, Channel.TELEGRAM, reason="Ill"
        )
    )

    assert result.outcome is Outcome.CANCELLED
    job = await t.Job.get(id=job.id)
    assert (job.status, job.fieldworker_id) == ("missed", None)
    [missed] = await t.History.filter(booking_id=booking_id, action="job_missed")
    assert (missed.from_status, missed.to_status) == ("assigned", "missed")
    assert missed.details == {"fieldworker_id": ann.id, "reason": "Ill"}
    assert not await t.History.filter(booking_id=booking_id, action="job_unassigned").exists()
    assert await t.JobRequest.all().count() == asked, "re-broadcast is off: staff decide"
    assert (await t.JobRequest.get(job_id=job.id, fieldworker_id=ben.id)).status == "withdrawn"
    booking = await t.Booking.get(id=booking_id)
    [shown] = await bookings_out([booking])
    assert shown["jobs"][0]["status"] == "missed"
    page = await views.unassigned_page(1, "UTC")
    assert f"Job {job.id} (booking {booking_id})" in page.text and "missed" in page.text

    # Staff act: a re-broadcast asks whoever was not asked yet; the job is offered again.
    cara = await add_fieldworker("Cara Diaz", telegram=200)
    sent = await tx.run(lambda uow: offering.rebroadcast(uow, booking_id, STAFF, Channel.API))
    assert [r.fieldworker_id for r in await t.JobRequest.filter(id__in=sent)] == [cara.id]
    assert (await t.Job.get(id=job.id)).status == "offered"


async def test_a_decline_after_assignment_misses_the_job_before_it_goes_out_again(
    db: str,
) -> None:
    tx = transactions(outbox=True)
    await add_service()
    ann, _ben = await add_fieldworkers(2, telegram=100)
    booking_id = await create_booking(tx, DispatchMode.MANUAL)
    job = await t.Job.get(booking_id=booking_id)
    await tx.run(lambda uow: offering.send_requests(uow, [job.id], [ann.id], STAFF, Channel.API))
    await tx.run(
        lambda uow: responding.respond_for_fieldworker(
            uow, booking_id, ann.id, Action.ACCEPT, STAFF, Channel.API
        )
    )
    await tx.run(lambda uow: assignment.assign(uow, job.id, ann.id, STAFF, Channel.API))

    await tx.run(
        lambda uow: responding.respond_for_fieldworker(
            uow, booking_id, ann.id, Action.DECLINE, STAFF, Channel.API, reason="Van broke down"
        )
    )

    job = await t.Job.get(id=job.id)
    assert (job.status, job.fieldworker_id) == ("missed", None), "manual: it waits for staff"
    [missed] = await t.History.filter(booking_id=booking_id, action="job_missed")
    assert missed.on_behalf_of == ann.id and missed.actor_kind == "staff"
