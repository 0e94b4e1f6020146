"""Bug: `/assign` could not confirm an acceptor for only the job they accepted.

`/assign BOOKING FIELDWORKER` took no job ids and always assigned every job of the booking still
to assign. In a manual booking of plumbing and painting where Bob accepted only the plumbing job,
staff could not confirm him for it: the command tried to give him the painting job too (refused,
he does not paint, or silently his when he did). The REST API took `job_ids` all along. Now
`/assign BOOKING FIELDWORKER [JOB...]` assigns the listed jobs only, and its "Assign anyway"
button names the same jobs. Checked in chat: the real PTB admin handlers answer a command sent
through the Bot API emulator.
"""

from __future__ import annotations

from telegram import Update

from admin_commands import telegram as admin
from admin_commands.invocation import StaffContext
from dispatch import offering, responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel, DispatchMode
from emulators import make_message_update
from models import tables as t
from tests.factories import (
    add_fieldworker,
    add_role,
    add_service,
    add_staff,
    create_booking,
    transactions,
)
from tests.regressions.conftest import Telegram

DANA = 501


async def test_assign_confirms_the_acceptor_for_the_listed_job_only(telegram: Telegram) -> None:
    tx = transactions()
    admin.register(telegram.application, StaffContext(tx=tx, timezone="UTC"))
    await add_role("dispatcher", ["assign", "send_requests", "respond_on_behalf", "view"])
    dana = await add_staff("Dana Dispatcher", telegram=DANA, role="dispatcher")
    await add_service("plumb", "Plumbing")
    await add_service("paint", "Painting")
    bob = await add_fieldworker("Bob Brown", telegram=602, services=["plumb"])
    booking_id = await create_booking(tx, DispatchMode.MANUAL, services=("plumb", "paint"))
    plumb, paint = (
        await t.Job.filter(booking_id=booking_id).order_by("id").values_list("id", flat=True)
    )
    staff = Actor(ActorKind.STAFF, dana.id, dana.name)
    await tx.run(lambda uow: offering.send_requests(uow, [plumb], [bob.id], staff, Channel.API))
    request = await t.JobRequest.get(job_id=plumb, fieldworker_id=bob.id)
    bob_himself = Actor(ActorKind.FIELDWORKER, bob.id, bob.name)
    await tx.run(
        lambda uow: responding.respond(
            uow, request.id, Action.ACCEPT, bob_himself, Channel.TELEGRAM
        )
    )

    update = make_message_update(1, DANA, f"/assign {booking_id} {bob.id} {plumb}")
    await telegram.application.process_update(Update.de_json(update, telegram.bot))

    reply = telegram.emu.calls_of("sendMessage", ok_only=True)[-1].params["text"]
    assert f"job {plumb}: assigned" in reply and "not eligible" not in reply, reply
    jobs = {j.id: j for j in await t.Job.filter(booking_id=booking_id)}
    assert (jobs[plumb].status, jobs[plumb].fieldworker_id) == ("assigned", bob.id)
    assert (jobs[paint].status, jobs[paint].fieldworker_id) == ("unassigned", None)
