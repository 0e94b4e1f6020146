"""Reschedule Assist end to end, through the real `dispatchbot run`: a fieldworker declines on
Telegram, picks two of their free times with the buttons under the decline and sends them; the
customer answers the SMS with "2" (a signed Twilio post); the booking moves to that time, the
fieldworker gets the job, and each side is told once."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from emulators import make_callback_update
from notifications.callbacks import ProposePress, unpack
from tests.e2e.conftest import Service, add_fieldworker
from tests.e2e.test_core_loop import CUSTOMER, book, requests_sent

BERLIN = ZoneInfo("Europe/Berlin")


def keyboard(s: Service, chat: int, message_id: int) -> list[list[dict[str, Any]]]:
    markup = s.tg.message(chat, message_id).get("reply_markup") or {}
    return list(markup.get("inline_keyboard", []))


async def press(s: Service, chat: int, message_id: int, data: str) -> None:
    """Press a button the way Telegram sends it: with the message's current keyboard."""
    markup = s.tg.message(chat, message_id).get("reply_markup")
    update = make_callback_update(
        s.next_update_id(),
        chat,
        data,
        message_chat_id=chat,
        message_id=message_id,
        reply_markup=markup,
    )
    assert await s.post_update(update) == 200


def answers(s: Service) -> list[str]:
    return [str(c.params.get("text", "")) for c in s.tg.calls if c.method == "answerCallbackQuery"]


async def test_decline_propose_with_buttons_and_the_customer_chooses(service: Service) -> None:
    s = service
    status, _ = await s.api(
        "POST", "/services", {"code": "plumb", "name": "Plumbing", "required_skills": []}
    )
    assert status == 201
    anna = await add_fieldworker(s, "Anna Berg", "+4915110000001", 52.52, 13.40)
    assert await s.message(5000, f"/start {anna['invite_code']}") == 200
    await s.tg.wait_for(lambda calls: any("Welcome" in str(c.params.get("text")) for c in calls))
    booking = await book(s)
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 1)
    (request,) = requests_sent(s.tg.calls)
    message_id = request.result["message_id"]
    decline = request.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"]

    # Decline with a reason: the decline's message then offers her free times as buttons.
    await press(s, 5000, message_id, decline)
    await s.tg.wait_for(lambda _: "Personal" in str(keyboard(s, 5000, message_id)))
    personal = next(r[0] for r in keyboard(s, 5000, message_id) if r[0]["text"] == "Personal")
    await press(s, 5000, message_id, personal["callback_data"])
    await s.tg.wait_for(lambda _: "Send to customer" in str(keyboard(s, 5000, message_id)))
    text = s.tg.message(5000, message_id)["text"]
    assert "Declined: Personal" in text and "Could the customer have another time?" in text
    rows = keyboard(s, 5000, message_id)
    times = [r[0] for r in rows if isinstance(unpack(r[0]["callback_data"]), ProposePress)][:-1]
    assert len(times) == 3, rows  # max_slots suggestions, then Type times / Send

    # Pick the first two (the keyboard ticks them), then send.
    for i, button in enumerate(times[:2], 1):
        await press(s, 5000, message_id, button["callback_data"])
        await s.tg.wait_for(lambda _, i=i: answers(s).count("Picked.") == i)
    await s.tg.wait_for(lambda _: str(keyboard(s, 5000, message_id)).count("✅") == 2)
    send = keyboard(s, 5000, message_id)[-1][1]
    assert send["text"] == "📨 Send to customer"
    await press(s, 5000, message_id, send["callback_data"])
    await s.tg.wait_for(lambda _: "Sent to the customer." in answers(s))

    # The customer gets one SMS listing the two times.
    offer = (await s.sms.wait_for(CUSTOMER))[0]["body"]
    assert "Anna can't come for your Plumbing" in offer and "Reply 1 or 2" in offer
    await s.tg.wait_for(
        lambda calls: any("📨 Sent to the customer" in str(c.params.get("text")) for c in calls)
    )

    # The customer answers "2" by SMS (a signed Twilio webhook).
    status, twiml = await s.sms_in(CUSTOMER, "2", "SM" + "a" * 32)
    assert status == 200 and "<Message>" not in twiml  # confirmed by its own SMS
    messages = await s.sms.wait_for(CUSTOMER, count=2)
    second = unpack(times[1]["callback_data"])
    assert isinstance(second, ProposePress)
    assert messages[1]["body"].startswith("Hi Carla, done: your Plumbing is now on ")
    assert messages[1]["body"].endswith("with Anna.")
    await s.tg.wait_for(
        lambda calls: any(
            c.params.get("chat_id") == 5000 and "The customer chose" in str(c.params.get("text"))
            for c in calls
        )
    )
    chosen = next(c for c in s.tg.calls if "The customer chose" in str(c.params.get("text", "")))
    assert "No longer attending" in str(chosen.params.get("reply_markup"))

    _, got = await s.api("GET", f"/bookings/{booking['id']}")
    job = got["jobs"][0]
    assert job["status"] == "assigned" and job["fieldworker_id"] == anna["id"]
    assert got["appointments"][0]["start"].startswith(second.start.isoformat()[:16])
    _, history = await s.api("GET", f"/bookings/{booking['id']}/history")
    actions = [h["action"] for h in history]
    proposed = actions.index("reschedule_proposed")
    assert actions.index("reschedule_chosen") > proposed
    assert "booking_rescheduled" in actions[proposed:]
    assert len(history[proposed]["details"]["slots"]) == 2
    # Each side heard once: the customer two SMS in all (the offer, the confirmation).
    await s.sms.wait_for(CUSTOMER, count=2)
    assert len(s.sms.messages_to(CUSTOMER)) == 2


async def test_no_longer_attending_then_typed_times(service: Service) -> None:
    s = service
    await s.api("POST", "/services", {"code": "plumb", "name": "Plumbing", "required_skills": []})
    anna = await add_fieldworker(s, "Anna Berg", "+4915110000001", 52.52, 13.40)
    assert await s.message(5000, f"/start {anna['invite_code']}") == 200
    await s.tg.wait_for(lambda calls: any("Welcome" in str(c.params.get("text")) for c in calls))
    booking = await book(s, fieldworker_id=anna["id"])  # given to her directly: no request
    await s.tg.wait_for(
        lambda calls: any("assigned a job" in str(c.params.get("text")) for c in calls)
    )
    job_message = next(c for c in s.tg.calls if "assigned a job" in str(c.params.get("text")))
    message_id = job_message.result["message_id"]
    await press(s, 5000, message_id, keyboard(s, 5000, message_id)[0][0]["callback_data"])
    await s.tg.wait_for(lambda _: "Personal" in str(keyboard(s, 5000, message_id)))
    personal = next(r[0] for r in keyboard(s, 5000, message_id) if r[0]["text"] == "Personal")
    await press(s, 5000, message_id, personal["callback_data"])

    # No request message to edit: a new message invites her, with the same buttons.
    def invitation() -> Any:
        return next(
            (
                c
                for c in s.tg.calls
                if c.method == "sendMessage"
                and "Could the customer have another time?" in str(c.params.get("text"))
            ),
            None,
        )

    await s.tg.wait_for(lambda _: invitation() is not None)
    invite = invitation()
    assert "No longer attending: Personal" in invite.params["text"]
    type_times = invite.params["reply_markup"]["inline_keyboard"][-1][0]
    assert type_times["text"] == "✍️ Type times"
    await press(s, 5000, invite.result["message_id"], type_times["callback_data"])
    await s.tg.wait_for(
        lambda calls: any("force_reply" in str(c.params.get("reply_markup")) for c in calls)
    )
    prompt = next(c for c in s.tg.calls if "force_reply" in str(c.params.get("reply_markup")))
    assert "Type up to 3 times" in prompt.params["text"]

    # What cannot be read is refused by name, and she types again.
    assert await s.message(5000, "Wed 11:00, someday") == 200
    await s.tg.wait_for(lambda calls: any("“someday”" in str(c.params.get("text")) for c in calls))
    assert not any("Reply" in m["body"] for m in s.sms.messages_to(CUSTOMER)), "nothing sent"
    assert await s.message(5000, "Wed 11:00, Thu 14:30") == 200
    await s.tg.wait_for(
        lambda calls: any("📨 Sent to the customer" in str(c.params.get("text")) for c in calls)
    )
    # Telegram and SMS are sent independently: wait for the customer's offer itself.
    await s.sms.wait_for(
        lambda messages: any("Reply 1 or 2" in m["body"] for m in messages if m["to"] == CUSTOMER)
    )
    offer = next(m for m in s.sms.messages_to(CUSTOMER) if "Reply 1 or 2" in m["body"])
    # Read in her zone (Berlin), written in the company's (TIMEZONE=UTC).
    assert "10:00-12:00 UTC, 2) Thu" in offer["body"] and "13:30-15:30 UTC" in offer["body"]

    status, _ = await s.sms_in(CUSTOMER, "#1", "SM" + "b" * 32)
    assert status == 200
    await s.tg.wait_for(
        lambda calls: any("The customer chose" in str(c.params.get("text")) for c in calls)
    )
    _, got = await s.api("GET", f"/bookings/{booking['id']}")
    assert got["jobs"][0]["status"] == "assigned"
    assert got["jobs"][0]["fieldworker_id"] == anna["id"]
    start = datetime.fromisoformat(got["appointments"][0]["start"]).astimezone(BERLIN)
    assert (start.weekday(), start.hour, start.minute) == (2, 11, 0)  # Wednesday 11:00, hers
