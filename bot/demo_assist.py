"""The demo's afternoon (`bot/demo_day.py`): a customer's reschedule, and Reschedule Assist.

A customer moves booking 1 through the REST API: its fieldworker is still free and keeps it. Then a
fieldworker who declines an electrical job proposes two of their free times with the buttons under
their decline; the customer answers the SMS with "2", the booking moves, and the job is theirs.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from emulators import Call, make_callback_update
from notifications.templates import format_when

if TYPE_CHECKING:
    from bot.demo import Demo


def _keyboard(demo: Demo, user: int, message_id: int) -> list[list[dict[str, Any]]]:
    markup = demo.tg.message(user, message_id).get("reply_markup") or {}
    return list(markup.get("inline_keyboard", []))


def _press(demo: Demo, user: int, message_id: int, data: str) -> None:
    """A press as Telegram sends it: with the keyboard the message shows."""
    markup = demo.tg.message(user, message_id).get("reply_markup")
    demo.tg.push_update(
        make_callback_update(
            demo.tg.next_update_id(),
            user,
            data,
            message_chat_id=user,
            message_id=message_id,
            reply_markup=markup,
        )
    )


def _when(booking: dict[str, Any]) -> str:
    """The booking's first appointment in the demo company's zone."""
    appointment = booking["appointments"][0]
    start, end = (datetime.fromisoformat(appointment[k]) for k in ("start", "end"))
    return format_when(start, end, "Europe/Berlin")


def _answers(calls: list[Call]) -> list[str]:
    return [str(c.params.get("text", "")) for c in calls if c.method == "answerCallbackQuery"]


async def reschedule(demo: Demo, booking_id: int) -> None:
    """Staff move booking 1 to the afternoon; its fieldworker is free then and keeps it."""
    say = demo.say
    say()
    say(f"== 11:30 Maria asks to move booking {booking_id} to the afternoon ==")
    got = await demo.booking(booking_id)
    appointment = got["appointments"][0]
    await demo.api(
        "PATCH",
        f"/bookings/{booking_id}",
        {
            "appointments": [
                {
                    "id": appointment["id"],
                    "start": "2026-12-01T15:00:00+01:00",
                    "end": "2026-12-01T17:00:00+01:00",
                }
            ]
        },
    )
    await demo.wait(lambda calls: any("moved to a new time" in str(c.params) for c in calls))
    got = await demo.booking(booking_id)
    job = got["jobs"][0]
    say(
        f"  ✓ moved to {_when(got)}; {demo.names[job['fieldworker_id']]} is free then and "
        "keeps the job (told on Telegram)"
    )
    phone = got["customer"]["phone"]
    for _ in range(100):
        if any("moved" in m["body"] for m in demo.sms.messages_to(phone)):
            break
        await asyncio.sleep(0.1)
    moved = [m["body"] for m in demo.sms.messages_to(phone) if "moved" in m["body"]]
    say(f"  ✉ SMS to customer {got['customer']['name']}: “{moved[-1]}”")


async def reschedule_assist(demo: Demo) -> None:
    """Hugo cannot make the time: he proposes two others, the customer picks one by SMS."""
    say = demo.say
    say()
    say("== 12:10 Booking 4: electrical; the only electrician cannot come (Reschedule Assist) ==")
    phone = "+4917699988877"
    customer = {"name": "Paul Richter", "phone": phone, "email": None}
    booking = await demo.api(
        "POST",
        "/bookings",
        {
            "customer": customer,
            "address": "Oranienstraße 40, Berlin",
            "location": {"lat": 52.5010, "lon": 13.4190},
            "services": ["elec"],
            "appointments": [
                {"start": "2026-12-03T09:00:00+01:00", "end": "2026-12-03T11:00:00+01:00"}
            ],
        },
    )
    asked = await demo.asked(booking["id"], 1)
    ((user, call),) = asked.items()
    message_id = call.result["message_id"]
    await demo.decline(user, call, 2)  # Not available
    await demo.wait(lambda _: "Send to customer" in str(_keyboard(demo, user, message_id)))
    name = demo.names[next(fw for fw, u in demo.user_of.items() if u == user)]
    times = [
        row[0] for row in _keyboard(demo, user, message_id) if row[0]["callback_data"][:2] == "o:"
    ]
    say(f"  ✗ {name} declined: Not available. Under his decline, his free times this week:")
    for button in times:
        say(f"      [{button['text']}]")
    for n, button in enumerate(times[:2], 1):
        _press(demo, user, message_id, button["callback_data"])

        def picked(calls: list[Call], n: int = n) -> bool:
            return _answers(calls).count("Picked.") >= n

        await demo.wait(picked)
    await demo.wait(lambda _: str(_keyboard(demo, user, message_id)).count("✅") == 2)
    send = _keyboard(demo, user, message_id)[-1][-1]["callback_data"]
    _press(demo, user, message_id, send)
    await demo.wait(lambda calls: "Sent to the customer." in _answers(calls))
    say(f"  {name} picks the first two and presses “Send to customer”")
    for _ in range(100):
        if demo.sms.messages_to(phone):
            break
        await asyncio.sleep(0.1)
    say(f"  ✉ SMS to customer {customer['name']}: “{demo.sms.messages_to(phone)[0]['body']}”")
    say(f"  ✉ SMS from customer {customer['name']}: “2”")
    await demo.sms_in(phone, "2")
    for _ in range(100):
        if len(demo.sms.messages_to(phone)) >= 2:
            break
        await asyncio.sleep(0.1)
    say(f"  ✉ SMS to customer {customer['name']}: “{demo.sms.messages_to(phone)[1]['body']}”")
    await demo.wait(
        lambda calls: any(
            c.params.get("chat_id") == user and "The customer chose" in str(c.params.get("text"))
            for c in calls
        )
    )
    got = await demo.booking(booking["id"])
    job = got["jobs"][0]
    say(
        f"  ✓ booking {booking['id']} moved to {_when(got)}, job {job['id']} {job['status']} to "
        f"{demo.names[job['fieldworker_id']]} (told on Telegram: “The customer chose …: the job "
        "is yours.”)"
    )
