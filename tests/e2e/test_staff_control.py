"""Staff in control, end to end: staff of several roles answer for fieldworkers, confirm,
assign, reassign and look things up, over Telegram admin commands and the REST API. Through the
real process, with the staff created by `POST /staff`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from emulators import Call
from tests.e2e.conftest import Service, add_fieldworker

CUSTOMER = "+4915199990000"
WORKERS = [  # name, phone, base (lat, lon): all within 25 km of the job in Berlin
    ("Anna Berg", "+4915110000001", (52.52, 13.40)),
    ("Ben Cole", "+4915110000002", (52.53, 13.41)),
    ("Cara Diaz", "+4915110000003", (52.50, 13.39)),
]
FAR = ("Dan Far", "+4915110000004", (48.14, 11.58))  # Munich: outside the radius
EXTRA = ("Eve Extra", "+4915110000005", (52.51, 13.42))  # near, joins later
CHAT = 5000  # fieldworker i is Telegram user (and private chat) CHAT + i
DISPATCHER = 800001
VIEWER = 800002
STRANGER = 800999


@dataclass
class World:
    """The seeded company: fieldworkers (0-2 near, 3 far) and the staff rows by role."""

    workers: list[dict[str, Any]]
    dispatcher: dict[str, Any]
    viewer: dict[str, Any]

    def fw(self, i: int) -> int:
        """Fieldworker id of worker `i`."""
        return int(self.workers[i]["id"])


# -- helpers ---------------------------------------------------------------------------------------


def sent_to(s: Service, chat: int) -> list[Call]:
    """Successful sendMessage calls to a chat, in order."""
    return [c for c in s.tg.calls_of("sendMessage", ok_only=True) if c.params["chat_id"] == chat]


def requests_to(s: Service, chat: int) -> list[Call]:
    """Job request messages sent to a chat, in order."""
    return [c for c in sent_to(s, chat) if "New job request" in str(c.params.get("text", ""))]


def button(call_or_message: Call | dict[str, Any], index: int) -> str:
    """Callback data of the `index`-th button in the first row of a message."""
    params = call_or_message.params if isinstance(call_or_message, Call) else call_or_message
    return str(params["reply_markup"]["inline_keyboard"][0][index]["callback_data"])


async def link(s: Service, user: int, fw: dict[str, Any]) -> None:
    """The fieldworker links Telegram with their invite code, as @worker<user - CHAT>."""
    before = len(sent_to(s, user))
    username = f"worker{user - CHAT}"
    assert await s.message(user, f"/start {fw['invite_code']}", username=username) == 200
    await s.tg.wait_for(lambda _: len(sent_to(s, user)) > before)
    assert "Welcome" in sent_to(s, user)[before].params["text"]


async def seed(s: Service) -> World:
    """A service, four linked fieldworkers (one far away), a dispatcher and a viewer."""
    status, _ = await s.api(
        "POST", "/services", {"code": "plumb", "name": "Plumbing", "required_skills": []}
    )
    assert status == 201
    workers = [
        await add_fieldworker(s, name, phone, lat, lon)
        for name, phone, (lat, lon) in [*WORKERS, FAR]
    ]
    await asyncio.gather(*(link(s, CHAT + i, fw) for i, fw in enumerate(workers)))
    staff = {}
    for name, user, role in (
        ("Dora Dispatch", DISPATCHER, "dispatcher"),
        ("Vic Viewer", VIEWER, "viewer"),
    ):
        status, row = await s.api(
            "POST", "/staff", {"name": name, "telegram_user_id": user, "role": role}
        )
        assert status == 201, row
        assert row["role"] == role
        staff[role] = row
    return World(workers, staff["dispatcher"], staff["viewer"])


async def book(s: Service, day: str = "2026-12-01", **extra: Any) -> dict[str, Any]:
    """A booking for one plumbing appointment in Berlin on `day`, 10:00-12:00 UTC."""
    body = {
        "customer": {"name": "Carla Customer", "phone": CUSTOMER, "email": None},
        "address": "Alexanderplatz 1, Berlin",
        "location": {"lat": 52.5219, "lon": 13.4132},
        "services": ["plumb"],
        "appointments": [{"start": f"{day}T10:00:00+00:00", "end": f"{day}T12:00:00+00:00"}],
        "notes": "Leaking tap",
        **extra,
    }
    status, booking = await s.api("POST", "/bookings", body)
    assert status == 201, booking
    return dict(booking)


async def book_and_broadcast(s: Service) -> tuple[int, dict[int, Call]]:
    """An auto-mode booking; waits until the three near fieldworkers got their request."""
    booking = await book(s)
    chats = (CHAT, CHAT + 1, CHAT + 2)
    await s.tg.wait_for(lambda _: all(requests_to(s, c) for c in chats))
    return int(booking["id"]), {c: requests_to(s, c)[0] for c in chats}


async def command(s: Service, user: int, text: str) -> Call:
    """A staff member (or anyone) sends a command; returns the bot's reply in their chat.

    Staff alerts (`⚠️ ...`) that may arrive in the same chat meanwhile are not replies.
    """

    def replies() -> list[Call]:
        return [c for c in sent_to(s, user) if not str(c.params["text"]).startswith("⚠️")]

    before = len(replies())
    assert await s.message(user, text) == 200
    await s.tg.wait_for(lambda _: len(replies()) > before)
    return replies()[before]


async def wait_text(s: Service, chat: int, message_id: int, words: str) -> dict[str, Any]:
    """Wait until a bot message (as edited) contains `words`; returns its current state."""
    await s.tg.wait_for(lambda _: words in s.tg.message(chat, message_id)["text"])
    return s.tg.message(chat, message_id)


async def wait_sent(s: Service, chat: int, words: str, within: float = 10.0) -> Call:
    """Wait for a new message (not an edit) to `chat` containing `words`; returns the first."""
    await s.tg.wait_for(lambda _: any(words in c.params["text"] for c in sent_to(s, chat)), within)
    return next(c for c in sent_to(s, chat) if words in c.params["text"])


async def get_booking(s: Service, booking_id: int) -> dict[str, Any]:
    """GET /bookings/{id}."""
    status, booking = await s.api("GET", f"/bookings/{booking_id}")
    assert status == 200, booking
    return dict(booking)


async def first_job(s: Service, booking_id: int) -> dict[str, Any]:
    """The booking's only job."""
    return dict((await get_booking(s, booking_id))["jobs"][0])


def request_of(job: dict[str, Any], fieldworker_id: int) -> dict[str, Any]:
    """The fieldworker's request for the job."""
    return next(r for r in job["requests"] if r["fieldworker_id"] == fieldworker_id)


async def history(s: Service, booking_id: int) -> list[dict[str, Any]]:
    """GET /bookings/{id}/history."""
    status, rows = await s.api("GET", f"/bookings/{booking_id}/history")
    assert status == 200, rows
    return list(rows)


# -- tests -----------------------------------------------------------------------------------------


async def test_accept_for_refused_for_viewer_done_for_dispatcher(service: Service) -> None:
    s = service
    w = await seed(s)
    booking_id, sent = await book_and_broadcast(s)
    ben = w.fw(1)

    reply = await command(s, VIEWER, f"/accept_for {booking_id} {ben}")
    assert "Refused" in reply.params["text"] and "respond_on_behalf" in reply.params["text"]
    job = await first_job(s, booking_id)
    assert job["status"] == "offered" and job["fieldworker_id"] is None
    assert request_of(job, ben)["status"] == "pending"
    rows = await history(s, booking_id)
    refused = [h for h in rows if h["action"] == "permission_refused"]
    assert len(refused) == 1
    assert refused[0]["actor"]["kind"] == "staff" and refused[0]["actor"]["id"] == w.viewer["id"]
    assert not any(h["action"] == "request_accepted" for h in rows)

    reply = await command(s, DISPATCHER, f"/accept_for {booking_id} {ben}")
    assert "the job is theirs" in reply.params["text"], reply.params["text"]
    job = await first_job(s, booking_id)
    assert job["status"] == "assigned" and job["fieldworker_id"] == ben
    mine = request_of(job, ben)
    assert mine["status"] == "accepted" and mine["channel"] == "telegram"
    assert mine["responded_by"] == {"kind": "staff", "id": w.dispatcher["id"]}
    accepted = [h for h in await history(s, booking_id) if h["action"] == "request_accepted"]
    assert len(accepted) == 1
    row = accepted[0]
    assert row["actor"]["kind"] == "staff" and row["actor"]["id"] == w.dispatcher["id"]
    assert row["on_behalf_of"] == ben and row["channel"] == "telegram"

    # Ben's request message shows the result; Ben is told staff acted for him.
    ben_message = sent[CHAT + 1].result["message_id"]
    current = await wait_text(s, CHAT + 1, ben_message, "You got this job")
    labels = [b["text"] for row in current["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["No longer attending"], "an answered request keeps no Accept/Decline"
    await wait_sent(s, CHAT + 1, "on your behalf")
    for chat in (CHAT, CHAT + 2):
        await wait_text(s, chat, sent[chat].result["message_id"], "taken by another fieldworker")
    messages = await s.sms.wait_for(CUSTOMER)
    assert "Ben" in messages[0]["body"] and "Plumbing" in messages[0]["body"]


async def test_stranger_gets_only_a_short_note(service: Service) -> None:
    s = service
    w = await seed(s)
    booking_id, _ = await book_and_broadcast(s)
    assert booking_id == 1 and w.fw(0) == 1
    before_booking = await get_booking(s, booking_id)
    before_history = await history(s, booking_id)

    reply = await command(s, STRANGER, "/accept_for 1 1")
    assert reply.params["text"] == "This command is for staff."
    await asyncio.sleep(0.5)
    assert len(sent_to(s, STRANGER)) == 1, "one short note and nothing else"
    assert await get_booking(s, booking_id) == before_booking
    assert await history(s, booking_id) == before_history


async def test_decline_for_frees_the_job_and_asks_others(service: Service) -> None:
    s = service
    w = await seed(s)
    booking_id, sent = await book_and_broadcast(s)
    anna = w.fw(0)
    await s.press(CHAT, button(sent[CHAT], 0), CHAT, sent[CHAT].result["message_id"])
    await wait_text(s, CHAT, sent[CHAT].result["message_id"], "You got this job")
    assert (await first_job(s, booking_id))["fieldworker_id"] == anna

    # A new eligible fieldworker joins after the broadcast: not asked yet.
    eve = await add_fieldworker(s, EXTRA[0], EXTRA[1], *EXTRA[2])
    await link(s, CHAT + 9, eve)

    reply = await command(s, DISPATCHER, f"/decline_for {booking_id} {anna} Van broke down")
    assert "declined" in reply.params["text"] and "Van broke down" in reply.params["text"]
    job = await first_job(s, booking_id)
    mine = request_of(job, anna)
    assert mine["status"] == "declined" and mine["reason"] == "Van broke down"
    assert mine["responded_by"] == {"kind": "staff", "id": w.dispatcher["id"]}
    assert job["status"] != "assigned" and job["fieldworker_id"] is None

    # Anna is told; her request message shows the decline and its reason.
    current = await wait_text(s, CHAT, sent[CHAT].result["message_id"], "Declined")
    assert "Van broke down" in current["text"] and not current.get("reply_markup")
    await wait_sent(s, CHAT, "on your behalf")

    # Auto mode: the fieldworker not asked yet is asked now, and those who lost the job to Anna
    # (they never said no) are asked again with working buttons; Anna is not asked again.
    await s.tg.wait_for(lambda _: len(requests_to(s, CHAT + 9)) == 1)
    await s.tg.wait_for(lambda _: all(len(requests_to(s, c)) == 2 for c in (CHAT + 1, CHAT + 2)))
    job = await first_job(s, booking_id)
    assert job["status"] == "offered"
    assert request_of(job, eve["id"])["status"] == "pending"
    assert {request_of(job, w.fw(i))["status"] for i in (1, 2)} == {"pending"}
    assert len(requests_to(s, CHAT)) == 1
    declined = [h for h in await history(s, booking_id) if h["action"] == "request_declined"]
    assert declined and declined[-1]["on_behalf_of"] == anna
    assert declined[-1]["actor"]["id"] == w.dispatcher["id"]
    assert declined[-1]["details"].get("reason") == "Van broke down"


async def test_pend_round_trip_sends_a_new_working_request(service: Service) -> None:
    s = service
    w = await seed(s)
    booking_id, sent = await book_and_broadcast(s)
    ben = w.fw(1)
    first = sent[CHAT + 1]
    await s.press(CHAT + 1, button(first, 0), CHAT + 1, first.result["message_id"])
    await wait_text(s, CHAT + 1, first.result["message_id"], "You got this job")

    reply = await command(s, DISPATCHER, f"/pend {booking_id} @worker1")  # Ben, by username
    assert "pending again" in reply.params["text"], reply.params["text"]
    job = await first_job(s, booking_id)
    assert request_of(job, ben)["status"] == "pending"
    assert job["status"] != "assigned" and job["fieldworker_id"] is None

    # A NEW request message with working buttons.
    await s.tg.wait_for(lambda _: len(requests_to(s, CHAT + 1)) == 2)
    again = requests_to(s, CHAT + 1)[1]
    assert again.result["message_id"] != first.result["message_id"]
    keyboard = again.params["reply_markup"]["inline_keyboard"][0]
    assert keyboard[0]["text"].startswith("Accept") and keyboard[1]["text"].startswith("Decline")

    answers = len(s.tg.calls_of("answerCallbackQuery"))
    await s.press(CHAT + 1, button(again, 0), CHAT + 1, again.result["message_id"])
    await s.tg.wait_for("answerCallbackQuery", count=answers + 1)
    assert "yours" in s.tg.calls_of("answerCallbackQuery")[answers].params.get("text", "")
    await wait_text(s, CHAT + 1, again.result["message_id"], "You got this job")
    job = await first_job(s, booking_id)
    assert job["status"] == "assigned" and job["fieldworker_id"] == ben
    assert request_of(job, ben)["status"] == "accepted"

    request_id = request_of(job, ben)["id"]
    rows = await history(s, booking_id)
    chain = [
        (h["action"], h["to_status"])
        for h in rows
        if h.get("request_id") == request_id
        and h["action"] in ("request_accepted", "request_pended")
    ]
    assert chain == [
        ("request_accepted", "accepted"),
        ("request_pended", "pending"),
        ("request_accepted", "accepted"),
    ]
    pended = next(h for h in rows if h["action"] == "request_pended")
    assert pended["actor"]["id"] == w.dispatcher["id"] and pended["on_behalf_of"] == ben


async def test_manual_booking_staff_confirm_one_of_several_acceptors(service: Service) -> None:
    s = service
    w = await seed(s)
    booking = await book(s, dispatch_mode="manual")
    booking_id = int(booking["id"])
    assert booking["dispatch_mode"] == "manual"
    status, notes = await s.api("GET", f"/notifications?booking_id={booking_id}")
    assert status == 200 and notes == [], "a manual booking sends nothing by itself"
    await asyncio.sleep(0.3)
    assert not any(requests_to(s, CHAT + i) for i in range(4))
    assert (await first_job(s, booking_id))["status"] == "unassigned"

    reply = await command(s, DISPATCHER, f"/request {booking_id} {w.fw(0)} {w.fw(1)} {w.fw(2)}")
    assert "3 request(s) sent" in reply.params["text"], reply.params["text"]
    chats = (CHAT, CHAT + 1, CHAT + 2)
    await s.tg.wait_for(lambda _: all(requests_to(s, c) for c in chats))
    sent = {c: requests_to(s, c)[0] for c in chats}

    for chat in (CHAT, CHAT + 1):
        await s.press(chat, button(sent[chat], 0), chat, sent[chat].result["message_id"])
    for chat in (CHAT, CHAT + 1):
        await wait_text(s, chat, sent[chat].result["message_id"], "Staff will confirm")
    job = await first_job(s, booking_id)
    assert request_of(job, w.fw(0))["status"] == "accepted"
    assert request_of(job, w.fw(1))["status"] == "accepted"
    assert job["status"] in ("unassigned", "offered") and job["fieldworker_id"] is None

    reply = await command(s, DISPATCHER, f"/assign {booking_id} {w.fw(1)}")
    assert "assigned to Ben Cole" in reply.params["text"], reply.params["text"]
    job = await first_job(s, booking_id)
    assert job["status"] == "assigned" and job["fieldworker_id"] == w.fw(1)
    await wait_text(s, CHAT + 1, sent[CHAT + 1].result["message_id"], "assigned a job")
    loser = await wait_text(
        s, CHAT, sent[CHAT].result["message_id"], "Another fieldworker was selected"
    )
    assert not loser.get("reply_markup"), "the acceptor not selected keeps no buttons"
    assert request_of(job, w.fw(0))["status"] == "withdrawn"
    assert request_of(job, w.fw(2))["status"] == "withdrawn"
    await s.sms.wait_for(CUSTOMER)
    # Being given the job is news: Ben gets a new message, since Telegram does not notify
    # anyone of an edit to an older message.
    await wait_sent(s, CHAT + 1, "assigned")


async def test_reassign_moves_the_job_between_fieldworkers(service: Service) -> None:
    s = service
    w = await seed(s)
    booking_id, sent = await book_and_broadcast(s)
    anna, ben = w.fw(0), w.fw(1)
    await s.press(CHAT, button(sent[CHAT], 0), CHAT, sent[CHAT].result["message_id"])
    await wait_text(s, CHAT, sent[CHAT].result["message_id"], "You got this job")
    job_id = (await first_job(s, booking_id))["id"]
    listed = f"Job {job_id} (booking {booking_id})"
    assert listed in (await command(s, CHAT, "/jobs")).params["text"]

    reply = await command(s, DISPATCHER, f"/assign {booking_id} {ben}")
    assert "assigned to Ben Cole" in reply.params["text"], reply.params["text"]
    job = await first_job(s, booking_id)
    assert job["status"] == "assigned" and job["fieldworker_id"] == ben

    await wait_sent(s, CHAT, "no longer yours")
    # Ben is notified: a new message, not only a silent edit of his old, withdrawn request.
    # Awaited before Ben sends /jobs, whose reply is the next message to his chat.
    await wait_sent(s, CHAT + 1, "assigned")
    messages = await s.sms.wait_for(CUSTOMER, count=2)
    assert "Ben" in messages[1]["body"], "the customer hears who comes now"
    assert listed in (await command(s, CHAT + 1, "/jobs")).params["text"]
    mine = (await command(s, CHAT, "/jobs")).params["text"]
    assert listed not in mine and "no assigned jobs" in mine

    rows = [h for h in await history(s, booking_id) if h["action"] == "job_reassigned"]
    assert len(rows) == 1
    assert rows[0]["actor"]["id"] == w.dispatcher["id"] and rows[0]["channel"] == "telegram"
    assert rows[0]["details"]["fieldworker_id"] == ben
    assert rows[0]["details"]["previous_fieldworker_id"] == anna


async def test_ineligible_assignment_needs_assign_anyway(service: Service) -> None:
    s = service
    w = await seed(s)
    booking_id, _ = await book_and_broadcast(s)
    far = w.fw(3)

    reply = await command(s, DISPATCHER, f"/assign {booking_id} {far}")
    text = reply.params["text"]
    assert "not eligible" in text and "outside travel radius" in text, text
    assert "Nothing was changed" in text
    anyway = reply.params["reply_markup"]["inline_keyboard"][0][0]
    assert anyway["text"] == "Assign anyway"
    job = await first_job(s, booking_id)
    assert job["status"] == "offered" and job["fieldworker_id"] is None

    # The viewer pressing it (a forwarded message, say) is refused and changes nothing.
    answers = len(s.tg.calls_of("answerCallbackQuery"))
    message_id = reply.result["message_id"]
    await s.press(VIEWER, anyway["callback_data"], DISPATCHER, message_id)
    await s.tg.wait_for("answerCallbackQuery", count=answers + 1)
    assert "Refused" in s.tg.calls_of("answerCallbackQuery")[answers].params.get("text", "")
    job = await first_job(s, booking_id)
    assert job["status"] == "offered" and job["fieldworker_id"] is None

    await s.press(DISPATCHER, anyway["callback_data"], DISPATCHER, message_id)
    await s.tg.wait_for("answerCallbackQuery", count=answers + 2)
    assert s.tg.calls_of("answerCallbackQuery")[answers + 1].params.get("text") == "Assigned."
    edited = await wait_text(s, DISPATCHER, message_id, "eligibility overridden")
    assert not edited.get("reply_markup")
    job = await first_job(s, booking_id)
    assert job["status"] == "assigned" and job["fieldworker_id"] == far
    await wait_sent(s, CHAT + 3, "You have been assigned a job")
    assigned = [h for h in await history(s, booking_id) if h["action"] == "job_assigned"]
    assert assigned[-1]["details"]["forced"] is True
    assert assigned[-1]["actor"]["id"] == w.dispatcher["id"]


async def test_reassign_all_in_a_date_range(service: Service) -> None:
    s = service
    w = await seed(s)
    anna = w.fw(0)
    days = ("2026-12-01", "2026-12-02", "2026-12-10")
    bookings = [int((await book(s, day, fieldworker_id=anna))["id"]) for day in days]
    for booking_id in bookings:
        job = await first_job(s, booking_id)
        assert job["status"] == "assigned" and job["fieldworker_id"] == anna

    reply = await command(s, DISPATCHER, f"/reassign_all {anna} 2026-12-01 2026-12-02")
    text = reply.params["text"]
    assert "Reassigning 2 job(s)" in text, text
    assert text.count("offered to 2 fieldworker(s)") == 2, text

    for booking_id in bookings[:2]:
        job = await first_job(s, booking_id)
        assert job["fieldworker_id"] is None and job["status"] == "offered"
        asked = {r["fieldworker_id"]: r["status"] for r in job["requests"]}
        assert asked == {w.fw(1): "pending", w.fw(2): "pending"}, asked
        actions = [h["action"] for h in await history(s, booking_id)]
        assert "job_unassigned" in actions and "request_sent" in actions
    kept = await first_job(s, bookings[2])
    assert kept["status"] == "assigned" and kept["fieldworker_id"] == anna
    assert kept["requests"] == []

    # The others get the two requests; Anna is told twice and keeps only the later job.
    await s.tg.wait_for(
        lambda _: len(requests_to(s, CHAT + 1)) == len(requests_to(s, CHAT + 2)) == 2
    )
    await s.tg.wait_for(
        lambda _: sum("no longer assigned" in c.params["text"] for c in sent_to(s, CHAT)) == 2
    )
    assert not requests_to(s, CHAT) and not requests_to(s, CHAT + 3)
    jobs_text = (await command(s, CHAT, "/jobs")).params["text"]
    assert f"(booking {bookings[2]})" in jobs_text
    assert f"(booking {bookings[0]})" not in jobs_text
    assert f"(booking {bookings[1]})" not in jobs_text


async def test_views_available_booking_history_unassigned(service: Service) -> None:
    s = service
    w = await seed(s)
    booking_id, _ = await book_and_broadcast(s)
    job_id = (await first_job(s, booking_id))["id"]

    text = (await command(s, VIEWER, f"/available {booking_id}")).params["text"]
    assert f"Booking {booking_id}, job {job_id}" in text, text
    assert "3 eligible, 1 excluded" in text
    for name in ("Anna Berg", "Ben Cole", "Cara Diaz"):
        assert f"{name} (#" in text
    assert f"Dan Far (#{w.fw(3)}): outside travel radius" in text

    text = (await command(s, VIEWER, f"/booking {booking_id}")).params["text"]
    assert f"Booking {booking_id}:" in text and "auto dispatch" in text, text
    assert "Carla Customer" in text and "Alexanderplatz 1" in text
    assert f"Job {job_id}: Plumbing" in text and "offered" in text
    assert f"Ben Cole (#{w.fw(1)}) pending" in text

    text = (await command(s, VIEWER, f"/history {booking_id}")).params["text"]
    assert f"History of booking {booking_id}" in text, text
    assert "booking_created" in text and text.count("request_sent") == 3

    text = (await command(s, VIEWER, "/unassigned")).params["text"]
    assert "Unassigned jobs: 1" in text, text
    assert f"Job {job_id} (booking {booking_id}): Plumbing" in text

    # Once the job is taken, nothing is left unassigned.
    cara = requests_to(s, CHAT + 2)[0]
    await s.press(CHAT + 2, button(cara, 0), CHAT + 2, cara.result["message_id"])
    await wait_text(s, CHAT + 2, cara.result["message_id"], "You got this job")
    assert (await first_job(s, booking_id))["status"] == "assigned"
    text = (await command(s, VIEWER, "/unassigned")).params["text"]
    assert text == "No unassigned jobs.", text


async def test_rest_respond_needs_respond_on_behalf(service: Service) -> None:
    s = service
    w = await seed(s)
    booking_id, _ = await book_and_broadcast(s)
    cara = w.fw(2)
    body = {"action": "accept", "fieldworker_id": cara}

    status, err = await s.api(
        "POST", f"/bookings/{booking_id}/respond", {**body, "actor_staff_id": w.viewer["id"]}
    )
    assert status == 403 and err["error"]["code"] == "forbidden", err
    job = await first_job(s, booking_id)
    assert job["status"] == "offered" and job["fieldworker_id"] is None
    assert request_of(job, cara)["status"] == "pending"
    refused = [h for h in await history(s, booking_id) if h["action"] == "permission_refused"]
    assert len(refused) == 1 and refused[0]["actor"]["id"] == w.viewer["id"]
    assert not any(h["action"] == "request_accepted" for h in await history(s, booking_id))

    status, out = await s.api(
        "POST", f"/bookings/{booking_id}/respond", {**body, "actor_staff_id": w.dispatcher["id"]}
    )
    assert status == 200, out
    assert out["results"][0]["outcome"] == "assigned" and out["results"][0]["status"] == "accepted"
    job = await first_job(s, booking_id)
    assert job["status"] == "assigned" and job["fieldworker_id"] == cara
    mine = request_of(job, cara)
    assert mine["responded_by"] == {"kind": "staff", "id": w.dispatcher["id"]}
    assert mine["channel"] == "api"

    # A role change applies to the very next call: the viewer may now answer on behalf.
    status, role = await s.api(
        "PUT", "/roles/viewer", {"permissions": ["view", "respond_on_behalf"]}
    )
    assert status == 200 and "respond_on_behalf" in role["permissions"], role
    status, out = await s.api(
        "POST",
        f"/bookings/{booking_id}/respond",
        {"action": "pend", "fieldworker_id": cara, "actor_staff_id": w.viewer["id"]},
    )
    assert status == 200, out
    assert out["results"][0]["outcome"] == "pended"
    job = await first_job(s, booking_id)
    assert request_of(job, cara)["status"] == "pending" and job["fieldworker_id"] is None
