"""Bug (issue 7, CHANGELOG "Fixed"): in `manual` mode staff were not alerted when a fieldworker
accepted.

The acceptance was recorded and the job waited for staff to confirm someone (`/assign`), but
nothing told staff it was waiting (CONTRACT §5 lists "an acceptance waiting for confirmation in
`manual` mode" among the staff alerts): the job sat until someone happened to look. Now every
staff member who receives alerts gets one, naming the fieldworker and the command that confirms.
An acceptance staff entered themselves (`/accept_for`) needs no alert, and `auto` mode none.
"""

from __future__ import annotations

from dispatch import offering, responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel, DispatchMode
from models import tables as t
from tests.factories import add_fieldworkers, add_service, add_staff, create_booking, transactions

OWNER = 900
STAFF = Actor(ActorKind.STAFF, 1, "Dora")


async def test_staff_are_alerted_when_an_acceptance_waits_for_them(db: str) -> None:
    tx = transactions(outbox=True)
    await add_staff("Owen Owner", role="owner", telegram=OWNER)
    await add_service()
    ann, ben = await add_fieldworkers(2, telegram=100)
    booking_id = await create_booking(tx, DispatchMode.MANUAL)
    job = await t.Job.get(booking_id=booking_id)
    await tx.run(
        lambda uow: offering.send_requests(uow, [job.id], [ann.id, ben.id], STAFF, Channel.API)
    )
    ann_request = await t.JobRequest.get(fieldworker_id=ann.id)
    as_ann = Actor(ActorKind.FIELDWORKER, ann.id)

    await tx.run(
        lambda uow: responding.respond(uow, ann_request.id, Action.ACCEPT, as_ann, Channel.SMS)
    )
    await tx.run(
        lambda uow: responding.respond_for_fieldworker(
            uow, booking_id, ben.id, Action.ACCEPT, STAFF, Channel.TELEGRAM
        )
    )

    alerts = await t.Notification.filter(recipient=str(OWNER)).values_list("template", "body")
    assert len(alerts) == 1, alerts
    template, body = alerts[0]
    assert template == "staff_acceptance_waiting"
    assert "Worker 0 accepted job" in body and f"/assign {booking_id} {ann.id}" in body
    assert (await t.Job.get(id=job.id)).status == "offered", "the job waits for staff"
