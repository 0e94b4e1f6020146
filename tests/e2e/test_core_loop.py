"""The spine end to end: booking in -> eligible fieldworkers asked on Telegram -> first accept wins
-> the others' messages lose their buttons -> the customer gets an SMS. Through the real process."""

from __future__ import annotations

import asyncio
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


def requests_sent(calls: list[Call]) -> list[Call]:
    """sendMessage calls that carry a job request."""
    return [
        c
        for c in calls
        if c.method == "sendMessage"
        and not c.failed
        and "New job request" in str(c.params.get("text", ""))
    ]


async def seed(s: Service) -> list[dict[str, Any]]:
    """A service and four fieldworkers, three linked over Telegram with their invite codes."""
    status, _ = await s.api(
        "POST", "/services", {"code": "plumb", "name": "Plumbing", "required_skills": []}
    )
    assert status == 201
    workers = [
        await add_fieldworker(s, name, phone, lat, lon)
        for name, phone, (lat, lon) in [*WORKERS, FAR]
    ]
    for i, fw in enumerate(workers):
        assert await s.message(5000 + i, f"/start {fw['invite_code']}") == 200
    await s.tg.wait_for(
        lambda calls: (
            sum(
                1
                for c in calls
                if c.method == "sendMessage" and "Welcome" in str(c.params.get("text"))
            )
            == 4
        )
    )
    return workers


async def book(s: Service, **extra: Any) -> dict[str, Any]:
    """A booking for one plumbing appointment in Berlin."""
    body = {
        "customer": {"name": "Carla Customer", "phone": CUSTOMER, "email": None},
        "address": "Alexanderplatz 1, Berlin",
        "location": {"lat": 52.5219, "lon": 13.4132},
        "services": ["plumb"],
        "appointments": [
            {"start": "2026-12-01T10:00:00+01:00", "end": "2026-12-01T12:00:00+01:00"}
        ],
        "notes": "Leaking tap",
        **extra,
    }
    status, booking = await s.api("POST", "/bookings", body)
    assert status == 201, booking
    return booking


async def test_first_accept_wins_and_customer_is_told(service: Service) -> None:
    s = service
    workers = await seed(s)
    booking = await book(s)
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 3)
    sent = {c.params["chat_id"]: c for c in requests_sent(s.tg.calls)}
    assert set(sent) == {5000, 5001, 5002}, "the far fieldworker must not be asked"
    for call in sent.values():
        text = call.params["text"]
        assert "Plumbing" in text and "Alexanderplatz" in text and "km away" in text
        assert "Tue 1 Dec 10:00" in text  # local time of the fieldworker (Europe/Berlin)
        buttons = call.params["reply_markup"]["inline_keyboard"][0]
        assert buttons[0]["text"].startswith("Accept")
        assert buttons[1]["text"].startswith("Decline")

    winner = sent[5001]
    accept = winner.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    update_status = await s.press(5001, accept, 5001, winner.result["message_id"])
    assert update_status == 200
    await s.tg.wait_for(lambda calls: any(c.method == "answerCallbackQuery" for c in calls))
    answer = s.tg.calls_of("answerCallbackQuery")[0]
    assert "yours" in answer.params.get("text", "")

    # Every other open request message is edited to say so and loses its buttons.
    await s.tg.wait_for(lambda calls: len([c for c in calls if c.method == "editMessageText"]) >= 3)
    for chat, call in sent.items():
        current = s.tg.message(chat, call.result["message_id"])
        if chat == 5001:
            assert "You got this job" in current["text"]
        else:
            assert "taken by another fieldworker" in current["text"]
            assert not current.get("reply_markup"), "a taken request keeps no buttons"

    # The customer gets an SMS through Twilio with the fieldworker's first name and the time.
    messages = await s.sms.wait_for(CUSTOMER)
    assert "Ben" in messages[0]["body"] and "Plumbing" in messages[0]["body"]
    assert "10:00" not in messages[0]["body"] or "Dec" in messages[0]["body"]

    status, got = await s.api("GET", f"/bookings/{booking['id']}")
    assert status == 200
    job = got["jobs"][0]
    assert job["status"] == "assigned" and job["fieldworker_id"] == workers[1]["id"]
    by_fw = {r["fieldworker_id"]: r for r in job["requests"]}
    assert by_fw[workers[1]["id"]]["status"] == "accepted"
    assert by_fw[workers[1]["id"]]["responded_by"]["kind"] == "fieldworker"
    assert by_fw[workers[0]["id"]]["status"] == "withdrawn"

    # A late press is answered politely and changes nothing.
    late = sent[5000]
    late_data = late.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await s.press(5000, late_data, 5000, late.result["message_id"])
    await s.tg.wait_for("answerCallbackQuery", count=2)
    assert "another fieldworker" in s.tg.calls_of("answerCallbackQuery")[1].params["text"]

    status, history = await s.api("GET", f"/bookings/{booking['id']}/history")
    actions = [h["action"] for h in history]
    assert actions[0] == "booking_created"
    for expected in (
        "request_sent",
        "request_accepted",
        "job_assigned",
        "request_withdrawn",
        "customer_notified",
    ):
        assert expected in actions
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)

    def customer_sms_sent(notes: list[dict[str, Any]]) -> bool:
        return any(
            n["channel"] == "sms" and n["recipient"] == CUSTOMER and n["status"] == "sent"
            for n in notes
        )

    # Twilio has the SMS; the sender records it a moment later.
    for _ in range(100):
        status, notes = await s.api("GET", f"/notifications?booking_id={booking['id']}")
        if customer_sms_sent(notes):
            break
        await asyncio.sleep(0.05)
    assert status == 200 and customer_sms_sent(notes), notes


async def test_webhook_secret_and_redelivery(service: Service) -> None:
    s = service
    workers = await seed(s)
    booking = await book(s)
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 3)
    call = next(c for c in requests_sent(s.tg.calls) if c.params["chat_id"] == 5000)
    data = call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    from emulators import make_callback_update

    update = make_callback_update(
        777001, 5000, data, message_chat_id=5000, message_id=call.result["message_id"]
    )
    assert await s.post_update(update, secret="wrong") == 401
    assert await s.post_update(update, secret=None) == 401
    _, got = await s.api("GET", f"/bookings/{booking['id']}")
    assert got["jobs"][0]["status"] == "offered", "a refused webhook changes nothing"

    assert await s.post_update(update) == 200
    await s.tg.wait_for("answerCallbackQuery")
    assert await s.post_update(update) == 200  # Telegram redelivers the same update_id
    _, got = await s.api("GET", f"/bookings/{booking['id']}")
    assert got["jobs"][0]["fieldworker_id"] == workers[0]["id"]
    _, history = await s.api("GET", f"/bookings/{booking['id']}/history")
    assert [h["action"] for h in history].count("request_accepted") == 1
    assert len(s.tg.calls_of("answerCallbackQuery")) == 1, "a redelivered update is a no-op"

    # A forged callback is answered politely and changes nothing.
    await s.press(5002, "a:999999", 5002, 1)
    await s.press(5002, "x" * 70, 5002, 1)
    await s.tg.wait_for("answerCallbackQuery", count=3)


async def test_decline_asks_for_reason_and_other_takes_typed_text(service: Service) -> None:
    s = service
    workers = await seed(s)
    booking = await book(s)
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 3)
    call = next(c for c in requests_sent(s.tg.calls) if c.params["chat_id"] == 5002)
    message_id = call.result["message_id"]
    decline = call.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    await s.press(5002, decline, 5002, message_id)
    await s.tg.wait_for("editMessageReplyMarkup")
    reasons = s.tg.message(5002, message_id)["reply_markup"]["inline_keyboard"]
    labels = [row[0]["text"] for row in reasons]
    assert labels[:5] == [
        "Too far",
        "Not available",
        "Missing skill or equipment",
        "Personal",
        "Other",
    ]
    status, got = await s.api("GET", f"/bookings/{booking['id']}")
    mine = next(r for r in got["jobs"][0]["requests"] if r["fieldworker_id"] == workers[2]["id"])
    assert mine["status"] == "pending", "no decline is recorded before a reason is given"

    other = reasons[4][0]["callback_data"]
    await s.press(5002, other, 5002, message_id)
    await s.tg.wait_for(
        lambda calls: any(
            c.method == "sendMessage" and "force_reply" in str(c.params.get("reply_markup"))
            for c in calls
        )
    )
    assert await s.message(5002, "My van broke down") == 200
    await s.tg.wait_for(
        lambda calls: any(
            c.method == "editMessageText" and "My van broke down" in str(c.params.get("text"))
            for c in calls
        )
    )
    status, got = await s.api("GET", f"/bookings/{booking['id']}")
    mine = next(r for r in got["jobs"][0]["requests"] if r["fieldworker_id"] == workers[2]["id"])
    assert mine["status"] == "declined" and mine["reason"] == "My van broke down"
    assert mine["channel"] == "telegram"

    # A declined fieldworker leaves the pool: a re-broadcast does not ask them again.
    status, result = await s.api("POST", f"/bookings/{booking['id']}/rebroadcast", {})
    assert status == 200 and result["sent"] == []


async def test_sms_yes_with_code_accepts(service: Service) -> None:
    s = service
    status, _ = await s.api(
        "POST", "/services", {"code": "clean", "name": "Cleaning", "required_skills": []}
    )
    status, fw = await s.api(
        "POST",
        "/fieldworkers",
        {
            "name": "Sam Sms",
            "phone": "+4915120000001",
            "channels": ["sms"],
            "services": ["clean"],
            "base_location": {"lat": 52.52, "lon": 13.40},
            "timezone": "Europe/Berlin",
            "working_hours": None,
            "status": "active",
        },
    )
    assert status == 201, fw
    booking = await book(s, services=["clean"])
    messages = await s.sms.wait_for("+4915120000001")
    body = messages[0]["body"]
    assert "Reply YES" in body
    code = body.split("Reply YES ")[1].split()[0]

    status, text = await s.sms_in("+4915120000001", f"yes {code}", "SM" + "1" * 32, sign=False)
    assert status == 403, "an unsigned SMS webhook is refused"
    status, text = await s.sms_in("+4915120000001", f"yes {code}", "SM" + "1" * 32)
    assert status == 200 and "<Message>" in text and "yours" in text
    status, again = await s.sms_in("+4915120000001", f"yes {code}", "SM" + "1" * 32)
    assert status == 200 and "<Message>" not in again, "a redelivered MessageSid is a no-op"
    _, got = await s.api("GET", f"/bookings/{booking['id']}")
    assert got["jobs"][0]["status"] == "assigned"
    assert got["jobs"][0]["requests"][0]["channel"] == "sms"


async def test_no_longer_attending_asks_reason_rebroadcasts_and_tells_everyone(
    service: Service,
) -> None:
    s = service
    workers = await seed(s)
    booking = await book(s)
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 3)
    sent = {c.params["chat_id"]: c for c in requests_sent(s.tg.calls)}
    winner = sent[5000]
    message_id = winner.result["message_id"]
    accept = winner.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await s.press(5000, accept, 5000, message_id)
    await s.sms.wait_for(CUSTOMER)  # assigned: the customer was told

    # The assigned job's message offers "No longer attending", which asks for the reason.
    await s.tg.wait_for(
        lambda calls: (
            "No longer attending" in str(s.tg.message(5000, message_id).get("reply_markup"))
        )
    )
    button = s.tg.message(5000, message_id)["reply_markup"]["inline_keyboard"][0][0]
    await s.press(5000, button["callback_data"], 5000, message_id)
    await s.tg.wait_for(
        lambda calls: "Personal" in str(s.tg.message(5000, message_id).get("reply_markup"))
    )
    _, got = await s.api("GET", f"/bookings/{booking['id']}")
    assert got["jobs"][0]["fieldworker_id"] == workers[0]["id"], "nothing changes before a reason"
    reasons = s.tg.message(5000, message_id)["reply_markup"]["inline_keyboard"]
    personal = next(row[0] for row in reasons if row[0]["text"] == "Personal")
    await s.press(5000, personal["callback_data"], 5000, message_id)

    # Staff are alerted, the customer is told, and the job goes back out - not to Anna.
    await s.tg.wait_for(
        lambda calls: any(
            c.params.get("chat_id") == 900001 and "no longer attending" in str(c.params.get("text"))
            for c in calls
        )
    )
    messages = await s.sms.wait_for(CUSTOMER, count=2)
    assert "can no longer come" in messages[1]["body"]
    _, got = await s.api("GET", f"/bookings/{booking['id']}")
    job = got["jobs"][0]
    assert job["fieldworker_id"] is None and job["status"] in ("unassigned", "offered")
    mine = next(r for r in job["requests"] if r["fieldworker_id"] == workers[0]["id"])
    assert mine["status"] == "declined" and mine["reason"] == "Personal"
    _, history = await s.api("GET", f"/bookings/{booking['id']}/history")
    actions = [h["action"] for h in history]
    # The job was missed first, then offered again (those who lost it to Anna are asked again).
    missed = actions.index("job_missed")
    assert (history[missed]["from_status"], history[missed]["to_status"]) == ("assigned", "missed")
    assert "request_sent" in actions[missed + 1 :] and "job_unassigned" not in actions
    # Anna's message says what she did, not "Declined", and keeps none of the job's buttons: only
    # Reschedule Assist's, to propose other times (on by default).
    await s.tg.wait_for(lambda _: "No longer attending" in s.tg.message(5000, message_id)["text"])
    assert "Personal" in s.tg.message(5000, message_id)["text"]
    await s.tg.wait_for(lambda _: "Type times" in str(s.tg.message(5000, message_id)))
    markup = s.tg.message(5000, message_id)["reply_markup"]["inline_keyboard"]
    data = [b["callback_data"] for row in markup for b in row]
    assert all(d[:2] in ("o:", "t:", "m:") for d in data), data


async def test_sms_cancel_with_code_and_reason_follow_up(service: Service) -> None:
    s = service
    await s.api("POST", "/services", {"code": "clean", "name": "Cleaning", "required_skills": []})
    phone = "+4915120000002"
    status, fw = await s.api(
        "POST",
        "/fieldworkers",
        {
            "name": "Sia Sms",
            "phone": phone,
            "channels": ["sms"],
            "services": ["clean"],
            "base_location": {"lat": 52.52, "lon": 13.40},
            "working_hours": None,
        },
    )
    assert status == 201, fw
    booking = await book(s, services=["clean"])
    body = (await s.sms.wait_for(phone))[0]["body"]
    code = body.split("Reply YES ")[1].split()[0]
    status, text = await s.sms_in(phone, f"Y {code}", "SM" + "2" * 32)
    assert "yours" in text
    status, text = await s.sms_in(phone, f"CANCEL {code}", "SM" + "3" * 32)
    assert status == 200 and "1 Too far" in text, "a CANCEL without a reason asks for one"
    _, got = await s.api("GET", f"/bookings/{booking['id']}")
    assert got["jobs"][0]["status"] == "assigned", "nothing recorded before the reason"
    status, text = await s.sms_in(phone, "2", "SM" + "4" * 32)
    assert "no longer attending" in text
    _, got = await s.api("GET", f"/bookings/{booking['id']}")
    assert got["jobs"][0]["fieldworker_id"] is None
    assert got["jobs"][0]["requests"][0]["reason"] == "Not available"
