"""Bug: CONTRACT §4's booking filters and `POST /bookings/{id}/complete` were missing, and staff
had no view of the day's jobs.

`GET /bookings` took only `status` and refused `date`, `from`/`to`, `job_status`,
`fieldworker_id` and `q` as unknown fields (422), and said nothing of the total; completing a job
was a 404, so no job or booking ever became `completed`. Now the filters work (a day in
`TIMEZONE`), `X-Total-Count` carries the total, assigned jobs can be completed (the booking with
them), and `/today` lists the day's jobs by status. Checked through the REST sub-application and
the admin command handlers against the Bot API emulator.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from telegram import Update

from admin_commands import telegram as admin
from admin_commands.invocation import StaffContext
from emulators import make_message_update
from models import tables as t
from models.access import ensure_default_roles
from rest.api import ApiContext, create_api
from tests.factories import add_fieldworker, add_service, add_staff, create_booking, transactions
from tests.regressions.conftest import Telegram

TOKEN = "t"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VIEWER = 700


async def test_bookings_are_found_completed_and_listed_for_the_day(telegram: Telegram) -> None:
    tx = transactions()
    await ensure_default_roles()
    await add_service()
    ann = await add_fieldworker("Ann Smith", telegram=100)
    now = datetime.combine(datetime.now(UTC).date(), time(9), tzinfo=UTC)
    today = await create_booking(tx, starts=(now,), fieldworker_id=ann.id)
    await create_booking(tx, starts=(now + timedelta(days=3),), customer="Other Client")
    app = web.Application()
    app.add_subapp("/api/v1", create_api(ApiContext(tx=tx, timezone="UTC", api_token=TOKEN)))

    async with TestClient(TestServer(app)) as client:
        day = now.date().isoformat()
        async with client.get(f"/api/v1/bookings?date={day}&q=carol", headers=AUTH) as resp:
            assert resp.status == 200, await resp.text()
            assert [b["id"] for b in await resp.json()] == [today]
            assert resp.headers["X-Total-Count"] == "1"
        async with client.post(f"/api/v1/bookings/{today}/complete", headers=AUTH) as resp:
            assert resp.status == 200, await resp.text()
            done = await resp.json()
    assert (done["status"], done["jobs"][0]["status"]) == ("completed", "completed")
    assert await t.History.filter(booking_id=today, action="job_completed").count() == 1

    await add_staff("Vic Viewer", role="viewer", telegram=VIEWER)
    admin.register(telegram.application, StaffContext(tx=tx, timezone="UTC"))
    update = make_message_update(1, VIEWER, "/today")
    await telegram.application.process_update(Update.de_json(update, telegram.bot))
    [reply] = telegram.emu.calls_of("sendMessage")
    assert reply.params["text"].splitlines()[1:] == [
        "Completed (1):",
        f"• 09:00-11:00 Job {done['jobs'][0]['id']} "
        f"(booking {today}): Plumbing, Ann Smith (#{ann.id}), Alexanderplatz 1",
    ]
