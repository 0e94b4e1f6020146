"""Timers through the real process, with deadlines a few seconds away: a booking nobody accepts
tells its customer once that we are still looking, then staff get one alert with working buttons
(Re-broadcast, Show available, Assign <name>) and, per `customer_notify.unassigned_before_start`,
the customer one "not confirmed yet" SMS. The helpers here serve the restart and two-instance
tests too (`test_timers_restart.py`, `test_timers_two_instances.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from emulators import Call
from tests.e2e.conftest import ADMIN_ID, Service
from tests.e2e.test_core_loop import requests_sent, seed

STILL_FINDING = "still finding your technician"
NOT_CONFIRMED = "is not confirmed yet"
STARTS_SOON = "starts soon and is still"
LEAD_S = 60  # unassigned_alert_lead_s: the alert is due LEAD_S before the start
EVE_CHAT = 5004


def customer(i: int) -> str:
    """The phone of booking i's customer (one customer per booking, so SMS count per booking)."""
    return f"+49151777{i:05d}"


def start_in(seconds: float) -> datetime:
    """An appointment start `seconds` from now (UTC, whole milliseconds)."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


async def book_at(s: Service, i: int, start: datetime, **extra: Any) -> dict[str, Any]:
    """A one-hour plumbing appointment in Berlin at `start` for customer i (auto: broadcast)."""
    body = {
        "customer": {"name": f"Cust{i} Omer", "phone": customer(i), "email": None},
        "address": f"Alexanderplatz {i}, Berlin",
        "location": {"lat": 52.5219, "lon": 13.4132},
        "services": ["plumb"],
        "appointments": [
            {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
        ],
        **extra,
    }
    status, booking = await s.api("POST", "/bookings", body)
    assert status == 201, booking
    return dict(booking)


async def put_settings(s: Service, **changes: Any) -> None:
    """PUT /settings with these changes."""
    status, body = await s.api("PUT", "/settings", changes)
    assert status == 200, body


def sms_with(s: Service, phone: str, text: str) -> list[dict[str, Any]]:
    """SMS created at the Twilio emulator for `phone` whose body holds `text`."""
    return [m for m in s.sms.messages_to(phone) if text in m["body"]]


def staff_alerts(calls: list[Call], text: str = STARTS_SOON) -> list[Call]:
    """Successful sendMessage calls to the owner's chat holding `text`."""
    return [
        c
        for c in calls
        if c.method == "sendMessage"
        and not c.failed
        and c.params.get("chat_id") == ADMIN_ID
        and text in str(c.params.get("text", ""))
    ]


def alert_of(calls: list[Call], booking_id: int) -> list[Call]:
    """The owner's "starts soon" alerts about one booking."""
    return [c for c in staff_alerts(calls) if f"Booking {booking_id}," in c.params["text"]]


def buttons(params: dict[str, Any]) -> dict[str, str]:
    """Button text -> callback data of a message's inline keyboard."""
    rows = (params.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def press(s: Service, data: str, message_id: int) -> str:
    """The owner presses a button under a message in their chat; returns the press's answer."""
    before = len(s.tg.calls_of("answerCallbackQuery"))
    assert await s.press(ADMIN_ID, data, ADMIN_ID, message_id) == 200
    await s.tg.wait_for("answerCallbackQuery", count=before + 1)
    return str(s.tg.calls_of("answerCallbackQuery")[before].params.get("text", ""))


async def history_actions(s: Service, booking_id: int) -> list[str]:
    """The actions of a booking's history, oldest first."""
    status, history = await s.api("GET", f"/bookings/{booking_id}/history")
    assert status == 200, history
    return [h["action"] for h in history]


async def test_nobody_accepts_customer_told_once_staff_alerted_with_working_buttons(
    service: Service,
) -> None:
    s = service
    await seed(s)  # Anna, Ben, Cara near (chats 5000-5002), Dan far away
    status, eve = await s.api(
        "POST",
        "/fieldworkers",
        {
            "name": "Eve Extra",
            "phone": "+4915110000005",
            "telegram_user_id": EVE_CHAT,
            "channels": ["telegram"],
            "services": ["plumb"],
            "base_location": {"lat": 52.521, "lon": 13.412},  # the nearest of all
            "working_hours": None,
            "status": "inactive",  # joins after the broadcast: nobody has asked her yet
        },
    )
    assert status == 201, eve
    await put_settings(
        s, customer_notify={"no_acceptance_after_s": 2}, unassigned_alert_lead_s=LEAD_S
    )

    booking = await book_at(s, 1, start_in(LEAD_S + 3))
    bid = int(booking["id"])
    job_id = int(booking["jobs"][0]["id"])
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 3)
    status, _ = await s.api("PATCH", f"/fieldworkers/{eve['id']}", {"status": "active"})
    assert status == 200

    # Nobody answers. After 2 s the customer hears we are still looking...
    await s.sms.wait_for(lambda _: bool(sms_with(s, customer(1), STILL_FINDING)))
    (waiting,) = sms_with(s, customer(1), STILL_FINDING)
    assert "Plumbing" in waiting["body"]
    # ...and LEAD_S before the start staff are alerted, with the customer told it is not confirmed.
    await s.tg.wait_for(lambda calls: bool(alert_of(calls, bid)), timeout=15)
    await s.sms.wait_for(lambda _: bool(sms_with(s, customer(1), NOT_CONFIRMED)))
    (alert,) = alert_of(s.tg.calls, bid)
    assert f"job {job_id}" in alert.params["text"] and "still offered" in alert.params["text"]
    assert "or assign Eve Extra" in alert.params["text"]
    assert buttons(alert.params) == {
        "Re-broadcast to everyone (incl. expired)": f"e:{bid}",
        "Show available": f"v:{job_id}",
        "Assign Eve Extra": f"j:{bid}:{eve['id']}:{job_id}",
    }
    alert_id = alert.result["message_id"]

    # Show available: a new message listing who could do the job (Eve too, now active).
    assert await press(s, f"v:{job_id}", alert_id) == ""
    await s.tg.wait_for(lambda _: bool(staff_alerts(s.tg.calls, "4 eligible, 1 excluded")))

    # Re-broadcast: asks whoever is eligible and not asked yet - Eve.
    answer = await press(s, f"e:{bid}", alert_id)
    assert answer == "Asked 1 fieldworker(s).", answer
    await s.tg.wait_for(
        lambda calls: any(c.params.get("chat_id") == EVE_CHAT for c in requests_sent(calls))
    )

    # Assign Eve Extra: the job is hers, and the customer hears who comes.
    assert await press(s, f"j:{bid}:{eve['id']}:{job_id}", alert_id) == "Assigned."
    got = (await s.api("GET", f"/bookings/{bid}"))[1]["jobs"][0]
    assert (got["status"], got["fieldworker_id"]) == ("assigned", eve["id"])
    await s.sms.wait_for(lambda _: bool(sms_with(s, customer(1), "Eve will do")))

    # Each follow-up happened once (more than a sweep has passed since they fired).
    assert [m["body"] for m in s.sms.messages_to(customer(1))] == [
        waiting["body"],
        sms_with(s, customer(1), NOT_CONFIRMED)[0]["body"],
        sms_with(s, customer(1), "Eve will do")[0]["body"],
    ]
    assert len(alert_of(s.tg.calls, bid)) == 1
    actions = await history_actions(s, bid)
    assert actions.count("customer_notified") == 3, actions
    assert actions.count("unassigned_alerted") == 1, actions

    # With `unassigned_before_start` off, staff are still alerted but the customer hears only
    # that we are still looking.
    await put_settings(s, customer_notify={"unassigned_before_start": False})
    quiet = int((await book_at(s, 2, start_in(LEAD_S + 3)))["id"])
    await s.tg.wait_for(lambda calls: bool(alert_of(calls, quiet)), timeout=15)
    status, notes = await s.api("GET", f"/notifications?booking_id={quiet}")
    assert status == 200
    to_customer = [n["message_key"] for n in notes if n["recipient"] == customer(2)]
    assert to_customer == ["customer_no_acceptance_sms"], to_customer
    await s.sms.wait_for(customer(2))
    assert [m["body"] for m in s.sms.messages_to(customer(2))] == [
        n["body"] for n in notes if n["recipient"] == customer(2)
    ]
