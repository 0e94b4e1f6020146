"""Bug: `/request` sent fieldworkers jobs of services they do not offer, skipping eligibility.

`/request BOOKING FIELDWORKER...` asked each fieldworker for every open job of the booking without
checking eligibility: in a booking of plumbing and painting, a plumber got a request for the
painting job (and anyone far away or busy got requests too). The rule now lives in
`dispatch.offering.send_requests`: a fieldworker is not asked for a job they are not eligible for,
and staff are told which job and why (`not_eligible` in REST `job-requests`, where `force` still
asks on purpose). Checked in chat: the real PTB admin handlers answer a command sent through the
Bot API emulator.
"""

from __future__ import annotations

from telegram import Update

from admin_commands import telegram as admin
from admin_commands.invocation import StaffContext
from dispatch.model import DispatchMode
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


async def test_request_skips_and_reports_a_service_the_fieldworker_lacks(
    telegram: Telegram,
) -> None:
    tx = transactions()
    admin.register(telegram.application, StaffContext(tx=tx, timezone="UTC"))
    await add_role("dispatcher", ["send_requests", "view"])
    await add_staff("Dana Dispatcher", telegram=DANA, role="dispatcher")
    await add_service("plumb", "Plumbing")
    await add_service("paint", "Painting")
    bob = await add_fieldworker("Bob Brown", telegram=602, services=["plumb"])
    booking_id = await create_booking(tx, DispatchMode.MANUAL, services=("plumb", "paint"))
    plumb, paint = (
        await t.Job.filter(booking_id=booking_id).order_by("id").values_list("id", flat=True)
    )

    update = make_message_update(1, DANA, f"/request {booking_id} {bob.id}")
    await telegram.application.process_update(Update.de_json(update, telegram.bot))

    reply = telegram.emu.calls_of("sendMessage", ok_only=True)[-1].params["text"]
    assert "1 request(s) sent" in reply, reply
    assert f"job {paint}: not eligible (does not do this service)" in reply, reply
    asked = await t.JobRequest.filter(booking_id=booking_id).values_list("job_id", flat=True)
    assert asked == [plumb]
