"""Reaching fieldworkers through the real process (issue 7): a Telegram user id given through the
API is enough, a refused Telegram message goes by SMS, and every failed delivery is recorded and
alerted to staff once (Twilio's undelivered callback included, redelivery changing nothing)."""

from __future__ import annotations

from typing import Any

from twilio.request_validator import RequestValidator

from emulators import Call
from tests.e2e.conftest import ADMIN_ID, AUTH, Service

ANN, BEN = 7001, 7002  # Telegram user ids staff typed in; neither ever wrote to the bot
BEN_PHONE = "+4915110000702"
CUSTOMER = "+4915199990000"


async def add(s: Service, name: str, **fields: Any) -> dict[str, Any]:
    """A plumbing fieldworker in Berlin, created through the API."""
    body = {
        "name": name,
        "services": ["plumb"],
        "base_location": {"lat": 52.52, "lon": 13.40},
        "timezone": "Europe/Berlin",
        "working_hours": None,
        **fields,
    }
    status, fw = await s.api("POST", "/fieldworkers", body)
    assert status == 201, fw
    return dict(fw)


async def book(s: Service, phone: str | None = CUSTOMER) -> int:
    """A booking for one plumbing appointment in Berlin (every booking made here is at the same
    time); its customer, Carla, has `phone`."""
    status, booking = await s.api(
        "POST",
        "/bookings",
        {
            "customer": {"name": "Carla Customer", "phone": phone, "email": None},
            "address": "Alexanderplatz 1, Berlin",
            "location": {"lat": 52.5219, "lon": 13.4132},
            "services": ["plumb"],
            "appointments": [
                {"start": "2026-12-01T10:00:00+01:00", "end": "2026-12-01T12:00:00+01:00"}
            ],
        },
    )
    assert status == 201, booking
    return int(booking["id"])


def sent_to(calls: list[Call], chat: int, text: str) -> list[Call]:
    """Delivered sendMessage calls to a chat whose text contains `text`."""
    return [
        c
        for c in calls
        if c.method == "sendMessage"
        and not c.failed
        and c.params.get("chat_id") == chat
        and text in str(c.params.get("text"))
    ]


async def delivery_failures(s: Service, booking_id: int) -> list[dict[str, Any]]:
    status, history = await s.api("GET", f"/bookings/{booking_id}/history")
    assert status == 200
    return [h for h in history if h["action"] == "delivery_failed"]


async def staff_alerts(s: Service, booking_id: int) -> list[dict[str, Any]]:
    status, rows = await s.api("GET", f"/notifications?booking_id={booking_id}")
    assert status == 200
    return [n for n in rows if n["message_key"] == "staff_delivery_failed"]


async def sms_status(s: Service, form: dict[str, str]) -> None:
    """Twilio's status callback, signed as Twilio signs it."""
    url = f"{s.base}/sms/status"
    signature = RequestValidator(AUTH).compute_signature(url, form)
    async with s.http.post(url, data=form, headers={"X-Twilio-Signature": signature}) as resp:
        assert resp.status == 200


async def test_telegram_id_is_enough_refusals_go_by_sms_and_staff_are_told_once(
    service: Service,
) -> None:
    s = service
    status, _ = await s.api("POST", "/services", {"code": "plumb", "name": "Plumbing"})
    assert status == 201
    ann = await add(s, "Ann Smith", telegram_user_id=ANN, channels=["telegram"])
    assert ann["telegram_linked"] is False  # no /start, no shared contact

    # Ann gets the request in her private chat (its id is her user id) and takes it.
    first = await book(s)
    await s.tg.wait_for(lambda calls: bool(sent_to(calls, ANN, "New job request")))
    [request] = sent_to(s.tg.calls, ANN, "New job request")
    accept = request.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert await s.press(ANN, accept, ANN, request.result["message_id"]) == 200
    await s.sms.wait_for(CUSTOMER)  # the customer is told: the booking's outbox is drained
    status, booking = await s.api("GET", f"/bookings/{first}")
    assert booking["jobs"][0]["fieldworker_id"] == ann["id"]

    # Ben blocked the bot. Ann is busy at that time, so his is the next message sent on Telegram.
    s.tg.fail_next("sendMessage", status=403)
    ben = await add(
        s, "Ben Cole", telegram_user_id=BEN, phone=BEN_PHONE, channels=["telegram", "sms"]
    )
    second = await book(s)
    [by_sms] = await s.sms.wait_for(BEN_PHONE)
    assert "Reply YES" in by_sms["body"]
    await s.tg.wait_for(lambda calls: bool(sent_to(calls, ADMIN_ID, "could not be delivered")))
    [alert] = sent_to(s.tg.calls, ADMIN_ID, "could not be delivered")
    assert "Ben Cole" in alert.params["text"] and "sent by SMS instead" in alert.params["text"]
    [failed] = await delivery_failures(s, second)
    assert (failed["actor"]["kind"], failed["channel"]) == ("system", "telegram")
    assert failed["details"]["fieldworker_id"] == ben["id"]
    assert len(await staff_alerts(s, second)) == 1

    # The SMS is undelivered too: recorded and alerted once, however often Twilio says so.
    form = {"MessageSid": by_sms["sid"], "MessageStatus": "undelivered", "ErrorCode": "30003"}
    for _ in range(2):
        await sms_status(s, form)
        assert [f["channel"] for f in await delivery_failures(s, second)] == ["telegram", "sms"]
        alerts = await staff_alerts(s, second)
        assert len(alerts) == 2 and "No other channel reaches them" in alerts[1]["body"]
    await s.tg.wait_for(lambda calls: len(sent_to(calls, ADMIN_ID, "could not be delivered")) == 2)
    assert await delivery_failures(s, first) == []
