"""Messages and history written together per transaction keep what each fieldworker sees, in order.

The outbox writer reads each fieldworker and job once per transaction and inserts its rows
together (`notifications.outbox_batch`), and history rows are inserted together before commit:
what reaches people and what history says must be exactly what one row at a time gave.
"""

from __future__ import annotations

from dispatch import responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from models import tables as t
from notifications.live_buttons import LIVE
from tests.factories import add_fieldworkers, add_service, create_booking, transactions


async def test_a_broadcast_and_its_first_accept_tell_everyone_in_order(db: str) -> None:
    await add_service()
    workers = await add_fieldworkers(4, telegram=300)
    tx = transactions(outbox=True)
    booking_id = await create_booking(tx)
    requests = await t.JobRequest.filter(booking_id=booking_id).order_by("id")
    sent = await t.Notification.filter(template="job_request").order_by("id")
    # One request message per fieldworker, in the order they were asked, each with live buttons.
    assert [n.recipient for n in sent] == [str(300 + i) for i in range(4)]
    assert [n.request_id for n in sent] == [r.id for r in requests]
    assert all(n.payload.get(LIVE) == {"request": n.request_id} for n in sent)
    assert all(n.body and n.created_at and n.status == "queued" for n in sent)

    winner = requests[2]
    await tx.run(
        lambda uow: responding.respond(
            uow,
            winner.id,
            Action.ACCEPT,
            Actor(ActorKind.FIELDWORKER, workers[2].id, workers[2].name),
            Channel.TELEGRAM,
        )
    )
    edits = await t.Notification.filter(id__gt=sent[-1].id, channel="telegram").order_by("id")
    by_chat = {n.recipient: n for n in edits}
    # The winner's message becomes the job's; every other one says it was taken, once each.
    assert by_chat["302"].template == "request_accepted"
    assert by_chat["302"].payload[LIVE] == {"job": winner.job_id}
    taken = [n for n in edits if n.template == "request_taken"]
    assert sorted(n.recipient for n in taken) == ["300", "301", "303"]
    assert all(n.payload["method"] == "edit" and LIVE not in n.payload for n in taken)
    # The request messages' buttons are all replaced by those edits: none is live any more.
    for row in await t.Notification.filter(template="job_request"):
        assert LIVE not in row.payload

    history = await t.History.filter(booking_id=booking_id).order_by("id")
    actions = [h.action for h in history]
    assert actions[: 1 + 4] == ["booking_created"] + ["request_sent"] * 4
    assert actions[5:7] == ["request_accepted", "job_assigned"]
    assert actions[7:] == ["request_withdrawn"] * 3 + ["customer_notified"]
    assert [h.request_id for h in history[1:5]] == [r.id for r in requests]
