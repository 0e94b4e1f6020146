"""Admin commands over Telegram: the real PTB application against the Bot API emulator, on SQLite
and PostgreSQL (the `db` fixture). Assertions are on database state, history rows and the replies
the emulator recorded."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, ApplicationBuilder

from admin_commands import telegram as admin
from admin_commands.invocation import StaffContext
from admin_commands.parsing import (
    BookingFieldworkerArgs,
    FieldworkerRef,
    RequestArgs,
    UsageError,
    day_range,
    page_window,
    parse_booking_fieldworker,
    parse_callback,
    parse_fieldworker,
    parse_reassign,
    parse_request,
    parse_respond,
)
from dispatch import offering
from dispatch.model import DispatchMode, Point
from emulators import Call, TelegramEmulator, make_callback_update, make_message_update, running
from handlers import telegram as fieldworker_chat
from handlers.context import ChatContext
from models import tables as t
from models.transactions import Transactions
from notifications.callbacks import ForceAssign, PageRef
from notifications.keyboards import timeout_alert_keyboard
from notifications.telegram_transport import AiohttpRequest
from tests.factories import (
    START,
    add_fieldworker,
    add_role,
    add_service,
    add_staff,
    create_booking,
)

DANA, VIC, OWEN, STRANGER = 501, 502, 503, 999  # Telegram user ids
ALL_PERMISSIONS = ["respond_on_behalf", "assign", "send_requests", "manage_settings", "view"]


@dataclass
class Harness:
    """The PTB application wired like the app factory, and the emulator it talks to."""

    emu: TelegramEmulator
    application: Application  # type: ignore[type-arg]
    app_ctx: StaffContext
    errors: list[BaseException] = field(default_factory=list)
    update_id: int = 0

    async def _process(self, payload: dict[str, Any]) -> None:
        await self.application.process_update(Update.de_json(payload, self.application.bot))

    async def send(self, user_id: int, text: str, *, username: str | None = None) -> Call:
        """Send a message from a user; return the one reply it got."""
        before = len(self.emu.calls_of("sendMessage"))
        self.update_id += 1
        await self._process(make_message_update(self.update_id, user_id, text, username=username))
        replies = self.emu.calls_of("sendMessage")[before:]
        assert len(replies) == 1, [c.summary() for c in replies]
        assert replies[0].params["chat_id"] == user_id
        assert "parse_mode" not in replies[0].params
        return replies[0]

    async def text(self, user_id: int, text: str, **kwargs: Any) -> str:
        """The text of the reply to a message."""
        return str((await self.send(user_id, text, **kwargs)).params["text"])

    async def press(self, user_id: int, data: str, message: Call) -> str:
        """Press a button on a bot message; return the callback answer's text."""
        before = len(self.emu.calls_of("answerCallbackQuery"))
        self.update_id += 1
        await self._process(
            make_callback_update(
                self.update_id,
                user_id,
                data,
                message_chat_id=message.params["chat_id"],
                message_id=message.result["message_id"],
                message_text=message.params["text"],
                reply_markup=message.params.get("reply_markup"),
            )
        )
        answers = self.emu.calls_of("answerCallbackQuery")[before:]
        assert len(answers) == 1, "every press is answered exactly once"
        return str(answers[0].params.get("text", ""))

    def current(self, message: Call) -> dict[str, Any]:
        """The message as it is now (after edits)."""
        return self.emu.message(message.params["chat_id"], message.result["message_id"])


def buttons(message: dict[str, Any] | Call) -> dict[str, str]:
    """Button label -> callback data of a message (sent or current)."""
    markup = message.params.get("reply_markup") if isinstance(message, Call) else None
    if not isinstance(message, Call):
        markup = message.get("reply_markup")
    rows = (markup or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


@pytest.fixture
async def tg(db: str) -> AsyncIterator[Harness]:
    emu = TelegramEmulator()
    async with running(emu.app) as url:
        application = (
            ApplicationBuilder()
            .token("123:ABC")
            .base_url(f"{url}/bot")
            .request(AiohttpRequest())
            .get_updates_request(AiohttpRequest())
            .updater(None)
            .build()
        )
        ctx = StaffContext(tx=Transactions(outbox=None), timezone="UTC")
        harness = Harness(emu, application, ctx)

        async def on_error(update: object, context: Any) -> None:
            harness.errors.append(context.error)

        admin.register(application, ctx)
        fieldworker_chat.register(application, ChatContext(tx=ctx.tx, timezone="UTC"))
        application.add_error_handler(on_error)
        async with application:
            yield harness
        assert not harness.errors, harness.errors


@dataclass
class World:
    dana: t.Staff
    vic: t.Staff
    ann: t.Fieldworker
    bob: t.Fieldworker
    fay: t.Fieldworker


async def seed() -> World:
    """Three roles, a dispatcher, a viewer and an owner; two plumbers near the job, one far off."""
    await add_role("owner", ALL_PERMISSIONS, receives_alerts=True)
    await add_role(
        "dispatcher",
        ["respond_on_behalf", "assign", "send_requests", "view"],
        receives_alerts=True,
    )
    await add_role("viewer", ["view"])
    dana = await add_staff("Dana Dispatcher", telegram=DANA, role="dispatcher")
    vic = await add_staff("Vic Viewer", telegram=VIC, role="viewer")
    await add_staff("Owen Owner", telegram=OWEN, role="owner")
    await add_service()
    ann = await add_fieldworker(
        "Ann Smith", telegram=601, at=Point(52.53, 13.41), telegram_username="AnnS"
    )
    bob = await add_fieldworker(
        "Bob Brown", telegram=602, at=Point(52.50, 13.45), telegram_username="bobb"
    )
    # Munich: outside the 25 km radius.
    fay = await add_fieldworker("Fay Far", telegram=603, at=Point(48.14, 11.58))
    return World(dana, vic, ann, bob, fay)


async def request_of(booking_id: int, fw: t.Fieldworker) -> t.JobRequest:
    return await t.JobRequest.get(booking_id=booking_id, fieldworker_id=fw.id)


async def test_viewer_is_refused_and_nothing_changes(
    tg: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    w = await seed()
    b = await create_booking(tg.app_ctx.tx)
    before = await t.History.filter(booking_id=b).count()

    with caplog.at_level(logging.WARNING, logger="admin_commands.telegram"):
        reply = await tg.text(VIC, f"/accept_for {b} {w.ann.id}")

    assert any("permission refused" in r.getMessage() for r in caplog.records)

    assert reply.startswith("Refused")
    assert "respond_on_behalf" in reply
    assert {r.status for r in await t.JobRequest.filter(booking_id=b)} == {"pending"}
    assert (await t.Job.get(booking_id=b)).status == "offered"
    refused = await t.History.filter(booking_id=b).order_by("-id").first()
    assert refused is not None and refused.action == "permission_refused"
    assert (refused.actor_kind, refused.actor_id) == ("staff", w.vic.id)
    assert refused.details["command"] == "/accept_for"
    assert await t.History.filter(booking_id=b).count() == before + 1


async def test_accept_for_assigns_on_behalf(tg: Harness) -> None:
    w = await seed()
    b = await create_booking(tg.app_ctx.tx)

    reply = await tg.text(DANA, f"/accept_for {b} {w.ann.id}")

    assert "the job is theirs" in reply, reply
    job = await t.Job.get(booking_id=b)
    assert (job.status, job.fieldworker_id) == ("assigned", w.ann.id)
    assigned = await t.History.get(booking_id=b, action="job_assigned")
    assert (assigned.actor_kind, assigned.actor_id, assigned.actor_name) == (
        "staff",
        w.dana.id,
        "Dana Dispatcher",
    )
    assert assigned.on_behalf_of == w.ann.id
    accepted = await t.History.get(booking_id=b, action="request_accepted")
    assert (accepted.on_behalf_of, accepted.actor_id) == (w.ann.id, w.dana.id)
    assert (await request_of(b, w.bob)).status == "withdrawn"


async def test_usage_errors_and_unknowns_change_nothing(tg: Harness) -> None:
    w = await seed()
    b = await create_booking(tg.app_ctx.tx)
    rows = await t.History.all().count()

    no_reason = await tg.text(DANA, f"/decline_for {b} {w.ann.id}")
    assert "Usage: /decline_for BOOKING FIELDWORKER REASON..." in no_reason
    bad = await tg.text(DANA, "/accept_for abc 1")
    assert "Usage: /accept_for BOOKING FIELDWORKER [JOB...]" in bad
    assert "Usage: /reassign_all" in await tg.text(DANA, "/reassign_all 1 2026-12-02 2026-12-01")
    assert (
        await tg.text(DANA, f"/accept_for {b + 100} {w.ann.id}") == f"Booking {b + 100} not found."
    )
    assert "@nobody" in await tg.text(DANA, f"/accept_for {b} @nobody")
    assert "not part of booking" in await tg.text(DANA, f"/pend {b} {w.ann.id} 99999")

    assert await t.History.all().count() == rows
    assert {r.status for r in await t.JobRequest.filter(booking_id=b)} == {"pending"}


async def test_decline_for_by_username_records_the_reason(tg: Harness) -> None:
    w = await seed()
    b = await create_booking(tg.app_ctx.tx)

    reply = await tg.text(DANA, f"/decline_for {b} @anns Too far today")  # stored as "AnnS"

    assert "declined" in reply and "Too far today" in reply, reply
    req = await request_of(b, w.ann)
    assert (req.status, req.reason, req.responded_by_kind) == ("declined", "Too far today", "staff")
    row = await t.History.get(booking_id=b, action="request_declined")
    assert row.on_behalf_of == w.ann.id


async def test_pend_returns_an_accepted_request_to_pending(tg: Harness) -> None:
    w = await seed()
    b = await create_booking(tg.app_ctx.tx)
    await tg.text(DANA, f"/accept_for {b} {w.ann.id}")
    assert (await request_of(b, w.ann)).status == "accepted"

    job_id = (await t.Job.get(booking_id=b)).id
    reply = await tg.text(DANA, f"/pend {b} @AnnS {job_id}")

    assert "pending again" in reply, reply
    assert (await request_of(b, w.ann)).status == "pending"
    job = await t.Job.get(booking_id=b)
    assert (job.status, job.fieldworker_id) == ("offered", None)
    pended = await t.History.get(booking_id=b, action="request_pended")
    assert (pended.from_status, pended.to_status, pended.on_behalf_of) == (
        "accepted",
        "pending",
        w.ann.id,
    )


async def test_assign_ineligible_offers_assign_anyway(tg: Harness) -> None:
    w = await seed()
    b = await create_booking(tg.app_ctx.tx, DispatchMode.MANUAL)

    sent = await tg.send(DANA, f"/assign {b} {w.fay.id}")

    text = sent.params["text"]
    assert "not eligible" in text and "outside travel radius" in text, text
    data = buttons(sent)["Assign anyway"]
    assert data == f"s:{b}:{w.fay.id}" and len(data.encode()) <= 64
    assert (await t.Job.get(booking_id=b)).status == "unassigned"

    assert (await tg.press(VIC, data, sent)).startswith("Refused")
    assert (await t.Job.get(booking_id=b)).status == "unassigned"
    assert await t.History.filter(booking_id=b, action="permission_refused").count() == 1

    assert await tg.press(DANA, data, sent) == "Assigned."
    job = await t.Job.get(booking_id=b)
    assert (job.status, job.fieldworker_id) == ("assigned", w.fay.id)
    row = await t.History.get(booking_id=b, action="job_assigned")
    assert row.details["forced"] is True and row.actor_id == w.dana.id
    edited = tg.current(sent)
    assert "assigned to Fay Far" in edited["text"] and not buttons(edited)

    assert "not valid" in await tg.press(DANA, "s:1:x", sent)
    assert await tg.press(STRANGER, data, sent) == "This command is for staff."


async def two_service_visit(tg: Harness, w: World) -> tuple[int, int, int]:
    """A manual booking of plumbing and painting at one appointment: (booking, plumb, paint).

    Ann does both services, Bob only plumbing."""
    await add_service("paint", "Painting")
    await t.Fieldworker.filter(id=w.ann.id).update(services=["plumb", "paint"])
    b = await create_booking(tg.app_ctx.tx, DispatchMode.MANUAL, services=("plumb", "paint"))
    plumb, paint = await t.Job.filter(booking_id=b).order_by("id").values_list("id", flat=True)
    return b, plumb, paint


async def test_assign_with_job_ids_confirms_an_acceptor_for_that_job_only(tg: Harness) -> None:
    w = await seed()
    b, plumb, paint = await two_service_visit(tg, w)
    await tg.text(DANA, f"/request {b} {w.ann.id} {w.bob.id} job {plumb}")
    await tg.text(DANA, f"/accept_for {b} {w.bob.id} {plumb}")

    reply = await tg.text(DANA, f"/assign {b} {w.bob.id} {plumb}")

    assert f"job {plumb}: assigned" in reply and f"job {paint}" not in reply, reply
    jobs = {j.id: j for j in await t.Job.filter(booking_id=b)}
    assert (jobs[plumb].status, jobs[plumb].fieldworker_id) == ("assigned", w.bob.id)
    assert (jobs[paint].status, jobs[paint].fieldworker_id) == ("unassigned", None)
    assert (await t.JobRequest.get(job_id=plumb, fieldworker_id=w.ann.id)).status == "withdrawn"

    # The whole visit to one fieldworker who does both services: no conflict with itself.
    reply = await tg.text(DANA, f"/assign {b} {w.ann.id} job {plumb} {paint}")
    assert "not eligible" not in reply, reply
    assert {j.fieldworker_id for j in await t.Job.filter(booking_id=b)} == {w.ann.id}


async def test_assign_anyway_for_listed_jobs_assigns_those_only(tg: Harness) -> None:
    w = await seed()
    b, plumb, paint = await two_service_visit(tg, w)

    sent = await tg.send(DANA, f"/assign {b} {w.bob.id} {paint}")

    text = sent.params["text"]
    assert f"job {paint}: does not do this service" in text and f"job {plumb}" not in text, text
    data = buttons(sent)["Assign anyway"]
    assert data == f"j:{b}:{w.bob.id}:{paint}"
    assert await tg.press(DANA, data, sent) == "Assigned."
    jobs = {j.id: j for j in await t.Job.filter(booking_id=b)}
    assert (jobs[paint].status, jobs[paint].fieldworker_id) == ("assigned", w.bob.id)
    assert jobs[plumb].status == "unassigned"


async def test_request_reports_jobs_a_fieldworker_is_not_eligible_for(tg: Harness) -> None:
    w = await seed()
    b, plumb, paint = await two_service_visit(tg, w)

    reply = await tg.text(DANA, f"/request {b} {w.ann.id} {w.bob.id} {w.fay.id}")

    assert "3 request(s) sent" in reply, reply
    assert f"Bob Brown (#{w.bob.id}), job {paint}: not eligible (does not do this service)" in reply
    assert f"Fay Far (#{w.fay.id}), job {plumb}: not eligible (outside travel radius)" in reply
    asked = await t.JobRequest.filter(booking_id=b).values_list("job_id", "fieldworker_id")
    assert sorted(asked) == sorted([(plumb, w.ann.id), (paint, w.ann.id), (plumb, w.bob.id)])

    assert "Usage: /request" in await tg.text(DANA, f"/request {b} {w.bob.id} job")


async def test_assign_eligible_assigns_at_once(tg: Harness) -> None:
    w = await seed()
    b = await create_booking(tg.app_ctx.tx, DispatchMode.MANUAL)
    reply = await tg.send(DANA, f"/assign {b} @bobb")
    assert "assigned to Bob Brown" in reply.params["text"] and not buttons(reply)
    job = await t.Job.get(booking_id=b)
    assert (job.status, job.fieldworker_id) == ("assigned", w.bob.id)


async def test_request_sends_and_reports_skipped(tg: Harness) -> None:
    w = await seed()
    uma = await add_fieldworker("Uma Unlinked", at=Point(52.5, 13.4))
    b = await create_booking(tg.app_ctx.tx, DispatchMode.MANUAL)
    assert "not found" in await tg.text(DANA, f"/request {b} {w.ann.id} 99999")
    assert await t.JobRequest.filter(booking_id=b).count() == 0

    reply = await tg.text(DANA, f"/request {b} {w.ann.id} @BOBB {uma.id}")

    assert "2 request(s) sent" in reply and "Uma Unlinked" in reply and "cannot be reached" in reply
    assert sorted(
        await t.JobRequest.filter(booking_id=b).values_list("fieldworker_id", flat=True)
    ) == [
        w.ann.id,
        w.bob.id,
    ]
    assert (await t.Job.get(booking_id=b)).status == "offered"
    again = await tg.text(DANA, f"/request {b} {w.ann.id}")
    assert "0 request(s) sent" in again and "already has a pending request" in again


async def test_available_lists_eligible_and_reasons(tg: Harness) -> None:
    w = await seed()
    await t.Fieldworker.filter(id=w.bob.id).update(status="inactive")
    b = await create_booking(tg.app_ctx.tx, DispatchMode.MANUAL)

    reply = await tg.text(VIC, f"/available {b}")

    assert "1 eligible, 2 excluded" in reply, reply
    assert f"1. Ann Smith (#{w.ann.id}), 1.3 km" in reply
    assert f"✗ Bob Brown (#{w.bob.id}): inactive" in reply
    assert f"✗ Fay Far (#{w.fay.id}): outside travel radius (50" in reply


async def test_booking_history_and_rebroadcast(tg: Harness) -> None:
    w = await seed()
    b = await create_booking(tg.app_ctx.tx)
    await tg.text(DANA, f"/decline_for {b} {w.ann.id} Personal")

    summary = await tg.text(VIC, f"/booking {b}")
    assert f"Booking {b}: open (auto dispatch)" in summary
    assert "Carol Client" in summary and "Alexanderplatz 1" in summary
    assert f"Ann Smith (#{w.ann.id}) declined (Personal)" in summary
    assert f"Bob Brown (#{w.bob.id}) pending" in summary

    history = (await tg.text(VIC, f"/history {b}")).splitlines()
    assert "booking_created" in history[1]
    declined = next(line for line in history if "request_declined" in line)
    assert "Dana Dispatcher" in declined and f"for Ann Smith (#{w.ann.id})" in declined
    assert "pending→declined" in declined and "reason: Personal" in declined

    # A new eligible fieldworker joins: rebroadcast asks only them.
    cy = await add_fieldworker("Cy New", telegram=700)
    assert "Cy New" in await tg.text(DANA, f"/rebroadcast {b}")
    assert (await request_of(b, cy)).status == "pending"
    assert "nobody new to ask" in await tg.text(DANA, f"/rebroadcast {b}")


async def test_unassigned_is_paged(tg: Harness) -> None:
    await seed()
    starts = tuple(START + timedelta(days=12 - i) for i in range(12))  # created newest first
    b = await create_booking(tg.app_ctx.tx, DispatchMode.MANUAL, starts=starts)
    jobs = (
        await t.Job.filter(booking_id=b).order_by("appointment__start").values_list("id", flat=True)
    )

    sent = await tg.send(VIC, "/unassigned")

    lines = sent.params["text"].splitlines()
    assert lines[0] == "Unassigned jobs: 12, page 1/2:"
    assert len(lines) == 11 and lines[1].startswith(f"Job {jobs[0]} ")
    assert buttons(sent) == {"Next ▶": "p:u:0:2"}

    assert await tg.press(VIC, "p:u:0:2", sent) == ""
    page2 = tg.current(sent)
    assert page2["text"].splitlines()[0] == "Unassigned jobs: 12, page 2/2:"
    assert [line.split()[1] for line in page2["text"].splitlines()[1:]] == [
        str(j) for j in jobs[10:]
    ]
    assert buttons(page2) == {"◀ Prev": "p:u:0:1"}

    # The permission is checked again on each press.
    await t.Role.filter(name="viewer").update(permissions=[])
    assert (await tg.press(VIC, "p:u:0:1", sent)).startswith("Refused")
    assert tg.current(sent)["text"] == page2["text"]


async def time_out(tx: Transactions, booking_id: int) -> None:
    """The assignment timeout passes: every pending request of the booking expires."""
    pending = await t.JobRequest.filter(booking_id=booking_id, status="pending").values_list(
        "id", flat=True
    )
    for request_id in pending:
        assert await tx.run(lambda uow, rid=request_id: offering.expire_request(uow, rid))
    assert (await t.Job.get(booking_id=booking_id)).status == "unassigned"


async def test_rebroadcast_all_asks_again_those_whose_request_expired(tg: Harness) -> None:
    w = await seed()
    b = await create_booking(tg.app_ctx.tx)
    await time_out(tg.app_ctx.tx, b)

    plain = await tg.text(DANA, f"/rebroadcast {b}")
    assert plain == (
        f"Booking {b}: nobody new to ask. /rebroadcast {b} all asks again those whose request "
        "expired."
    )
    assert "Usage: /rebroadcast BOOKING [all]" in await tg.text(DANA, f"/rebroadcast {b} most")
    assert {r.status for r in await t.JobRequest.filter(booking_id=b)} == {"expired"}

    everyone = await tg.text(DANA, f"/rebroadcast {b} ALL")

    assert everyone == (
        f"Booking {b}: asked 2 fieldworker(s): Ann Smith (#{w.ann.id}), Bob Brown (#{w.bob.id})"
    )
    assert {r.status for r in await t.JobRequest.filter(booking_id=b)} == {"pending"}
    assert (await t.Job.get(booking_id=b)).status == "offered"
    resent = await t.History.filter(booking_id=b, action="request_sent", from_status="expired")
    assert len(resent) == 2 and {h.actor_id for h in resent} == {w.dana.id}
    assert await tg.text(DANA, f"/rebroadcast {b} all") == (
        f"Booking {b}: nobody to ask, expired requests included."
    )


async def test_timeout_alert_buttons_rebroadcast_to_everyone_and_show_available(
    tg: Harness,
) -> None:
    await seed()
    b = await create_booking(tg.app_ctx.tx)
    job = await t.Job.get(booking_id=b)
    await time_out(tg.app_ctx.tx, b)
    # The alert as the outbox sends it (its rendering is tested in tests/regressions).
    await tg.application.bot.send_message(
        DANA,
        "⏰ nobody accepted in time",
        reply_markup=InlineKeyboardMarkup.de_json(timeout_alert_keyboard(b, job.id), None),
    )
    alert = tg.emu.calls_of("sendMessage")[-1]
    assert buttons(alert) == {
        "Re-broadcast to everyone (incl. expired)": f"e:{b}",
        "Show available": f"v:{job.id}",
    }

    # A viewer may look, not ask: refused and recorded, nothing sent.
    assert (await tg.press(VIC, f"e:{b}", alert)).startswith("Refused")
    assert {r.status for r in await t.JobRequest.filter(booking_id=b)} == {"expired"}
    refused = await t.History.get(booking_id=b, action="permission_refused")
    assert refused.details["command"] == "re-broadcast button"

    sent = len(tg.emu.calls_of("sendMessage"))
    assert await tg.press(DANA, f"e:{b}", alert) == "Asked 2 fieldworker(s)."
    assert {r.status for r in await t.JobRequest.filter(booking_id=b)} == {"pending"}
    [result] = tg.emu.calls_of("sendMessage")[sent:]
    assert result.params["chat_id"] == DANA
    assert result.params["text"].startswith(f"Booking {b}: asked 2 fieldworker(s): Ann Smith")
    assert buttons(tg.current(alert)) == {"Show available": f"v:{job.id}"}, "done: button gone"

    assert await tg.press(VIC, f"v:{job.id}", alert) == ""
    [available] = tg.emu.calls_of("sendMessage")[sent + 1 :]
    assert available.params["chat_id"] == DANA  # the chat the alert is in
    assert f"Booking {b}, job {job.id}" in available.params["text"]
    assert "2 eligible, 1 excluded" in available.params["text"]
    assert "not valid" in await tg.press(DANA, "v:0", alert)
    await t.Role.filter(name="viewer").update(permissions=[])
    assert (await tg.press(VIC, f"v:{job.id}", alert)).startswith("Refused")


async def test_today_lists_the_days_jobs_by_status_paged(tg: Harness) -> None:
    w = await seed()
    midnight = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), tzinfo=UTC)
    hours = [midnight + timedelta(hours=1, minutes=5 * i) for i in range(11)]
    open_b = await create_booking(tg.app_ctx.tx, DispatchMode.MANUAL, starts=hours, hours=1)
    mine = await create_booking(tg.app_ctx.tx, starts=(midnight,), fieldworker_id=w.ann.id)
    await create_booking(tg.app_ctx.tx, starts=(midnight + timedelta(days=1),))  # tomorrow

    sent = await tg.send(VIC, "/today")

    day = midnight.strftime("%a %-d %b %Y")
    lines = sent.params["text"].splitlines()
    assert lines[0] == f"Jobs on {day} (UTC): 12, page 1/2"
    assert lines[1] == "Unassigned (11):"
    assert lines[2].startswith("• 01:00-02:00 Job ") and f"(booking {open_b})" in lines[2]
    assert len(lines) == 12, "ten jobs a page, under their group's heading"
    number = midnight.strftime("%Y%m%d")
    assert buttons(sent) == {"Next ▶": f"p:t:{number}:2"}

    assert await tg.press(VIC, f"p:t:{number}:2", sent) == ""
    page2 = tg.current(sent)["text"].splitlines()
    assert page2[0] == f"Jobs on {day} (UTC): 12, page 2/2"
    assert page2[1] == "Unassigned (11):" and page2[3] == "Assigned (1):"
    assert page2[4].startswith("• 00:00-02:00 Job ")
    assert f"(booking {mine}): Plumbing, Ann Smith (#{w.ann.id}), Alexanderplatz 1" in page2[4]
    assert buttons(tg.current(sent)) == {"◀ Prev": f"p:t:{number}:1"}
    assert "Usage: /today" in await tg.text(VIC, "/today tomorrow")
    assert "/today - today's jobs by status" in await tg.text(VIC, "/help")


async def test_strangers_and_fieldworkers_get_the_short_note(tg: Harness) -> None:
    w = await seed()
    b = await create_booking(tg.app_ctx.tx)
    note = "This command is for staff."
    assert await tg.text(STRANGER, f"/booking {b}") == note
    assert await tg.text(600 + 1, f"/accept_for {b} {w.ann.id}") == note  # Ann herself
    assert {r.status for r in await t.JobRequest.filter(booking_id=b)} == {"pending"}
    # /help: staff get the admin list (and only that), fieldworkers their own help.
    staff_help = await tg.text(DANA, "/help")
    assert "/accept_for BOOKING FIELDWORKER [JOB...]" in staff_help
    assert "your role: dispatcher" in staff_help
    assert "/accept_for" not in await tg.text(600 + 1, "/help")


async def test_role_change_applies_to_the_next_command(tg: Harness) -> None:
    w = await seed()
    b = await create_booking(tg.app_ctx.tx)
    assert (await tg.text(VIC, f"/accept_for {b} {w.ann.id}")).startswith("Refused")

    await t.Staff.filter(id=w.vic.id).update(role="dispatcher")
    assert "the job is theirs" in await tg.text(VIC, f"/accept_for {b} {w.ann.id}")

    await t.Role.filter(name="dispatcher").update(permissions=["view"])
    assert (await tg.text(VIC, f"/pend {b} {w.ann.id}")).startswith("Refused")
    assert (await t.Job.get(booking_id=b)).status == "assigned"


async def test_reassign_all_takes_jobs_in_range_and_dispatches_again(tg: Harness) -> None:
    w = await seed()
    tx = tg.app_ctx.tx
    via_accept = await create_booking(tx, starts=(START,))  # 1 Dec, asked Ann and Bob
    await tg.text(DANA, f"/accept_for {via_accept} {w.ann.id}")  # Bob's request withdrawn
    direct = await create_booking(tx, starts=(START + timedelta(days=1),), fieldworker_id=w.ann.id)
    manual = await create_booking(
        tx,
        DispatchMode.MANUAL,
        starts=(START + timedelta(days=1, hours=4),),
        fieldworker_id=w.ann.id,
    )
    later = await create_booking(tx, starts=(START + timedelta(days=3),), fieldworker_id=w.ann.id)
    cy = await add_fieldworker("Cy New", telegram=700)

    reply = await tg.text(DANA, "/reassign_all @anns 2026-12-01 2026-12-02")

    assert "Reassigning 3 job(s)" in reply, reply
    lines = reply.splitlines()
    assert any(f"(booking {via_accept}): unassigned, offered to 2" in line for line in lines)
    assert any(f"(booking {direct}): unassigned, offered to 2" in line for line in lines)
    assert any(f"(booking {manual}): unassigned; manual booking" in line for line in lines)
    # Through the core's on-behalf decline: Ann's request declined, the job offered again to
    # those never asked, and to Bob, who lost it to Ann but never said no (his request reopens).
    ann_request = await request_of(via_accept, w.ann)
    assert (ann_request.status, ann_request.reason) == ("declined", "Reassigned by staff")
    assert (await request_of(via_accept, cy)).status == "pending"
    assert (await request_of(via_accept, w.bob)).status == "pending"
    # Assigned directly (no request): unassigned, then offered to everyone else, never Ann.
    assert {r.fieldworker_id for r in await t.JobRequest.filter(booking_id=direct)} == {
        w.bob.id,
        cy.id,
    }
    for b in (via_accept, direct):
        job = await t.Job.get(booking_id=b)
        assert (job.status, job.fieldworker_id) == ("offered", None)
        row = await t.History.get(booking_id=b, action="job_unassigned")
        assert (row.actor_id, row.on_behalf_of) == (w.dana.id, w.ann.id)
    manual_job = await t.Job.get(booking_id=manual)
    assert (manual_job.status, manual_job.fieldworker_id) == ("unassigned", None)
    assert not await t.JobRequest.filter(booking_id=manual).exists()
    later_job = await t.Job.get(booking_id=later)
    assert (later_job.status, later_job.fieldworker_id) == ("assigned", w.ann.id)

    again = await tg.text(DANA, f"/reassign_all {w.ann.id} 2026-12-01 2026-12-02")
    assert "no assigned jobs" in again


# -- parsing (pure, no database) -----------------------------------------------------------------


def test_parsing_of_arguments_and_buttons() -> None:
    assert parse_fieldworker("@Ann_S") == FieldworkerRef(username="Ann_S")
    assert parse_fieldworker("#7") == parse_fieldworker("7") == FieldworkerRef(id=7)
    for bad in ("@", "@a-b", "0", "x", "99999999999", "-3"):
        with pytest.raises(UsageError):
            parse_fieldworker(bad)
    assert parse_respond(["4", "@a", "9", "9", "8"], action="pend").job_ids == (9, 8)
    assert parse_respond(["4", "7", "Too", "far"], action="decline").reason == "Too far"
    # Job ids after the word `job`: last, after the reason or the fieldworkers.
    declined = parse_respond(["4", "7", "Too", "far", "job", "9", "#8"], action="decline")
    assert (declined.reason, declined.job_ids) == ("Too far", (9, 8))
    mentions = parse_respond(["4", "7", "got", "another", "job"], action="decline")
    assert (mentions.reason, mentions.job_ids) == ("got another job", ())
    assert parse_respond(["4", "7", "job", "9"], action="accept").job_ids == (9,)
    assert parse_booking_fieldworker(["4", "@a", "9", "8"]) == BookingFieldworkerArgs(
        4, FieldworkerRef(username="a"), (9, 8)
    )
    assert parse_booking_fieldworker(["4", "7", "jobs", "9"]).job_ids == (9,)
    assert parse_request(["4", "7", "@a", "8", "job", "9"]) == RequestArgs(
        4, (FieldworkerRef(id=7), FieldworkerRef(username="a"), FieldworkerRef(id=8)), (9,)
    )
    assert parse_request(["4", "7", "8"]).job_ids == ()
    for bad_request in (["4", "job", "9"], ["4", "7", "job"], ["4", "7", "job", "9", "@a"]):
        with pytest.raises(UsageError):
            parse_request(bad_request)
    for bad_jobs in (["4", "7", "job"], ["4", "7", "job", "x"]):
        with pytest.raises(UsageError):
            parse_booking_fieldworker(bad_jobs)
    with pytest.raises(UsageError):
        parse_respond(["4", "7", "  "], action="decline")
    with pytest.raises(UsageError):
        parse_reassign(["7", "2026-02-30", "2026-03-01"])
    assert parse_callback("s:42:7") == ForceAssign(42, 7)
    assert parse_callback("p:h:42:2") == PageRef("h", 42, 2)
    for stale in ("s:42", "s:42:7:1", "p:x:1:1", "p:u:0:0", "s:0:7", "a:1", "p:u:0:2\n"):
        assert parse_callback(stale) is None
    window = page_window(21, 9)
    assert (window.page, window.pages, window.offset, window.has_next) == (3, 3, 20, False)
    assert page_window(0, 1).pages == 1


def test_day_range_uses_local_midnights_across_dst() -> None:
    start, end = day_range(date(2026, 3, 29), date(2026, 3, 29), "Europe/Berlin")
    assert start == datetime(2026, 3, 28, 23, tzinfo=UTC)  # CET
    assert end == datetime(2026, 3, 29, 22, tzinfo=UTC)  # CEST: a 23-hour day
