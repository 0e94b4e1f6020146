"""A customer's SMS through the real process (issue 9): forwarded to the staff who receive
alerts with the booking it most likely concerns, recorded as `customer_replied`, and answered
with one acknowledgement per conversation, not per SMS."""

from __future__ import annotations

from tests.e2e.conftest import ADMIN_ID, Service

CUSTOMER = "+4915199990001"


async def test_a_customer_sms_reaches_staff_and_is_acknowledged_once(service: Service) -> None:
    s = service
    status, _ = await s.api("POST", "/services", {"code": "plumb", "name": "Plumbing"})
    assert status == 201
    status, booking = await s.api(
        "POST",
        "/bookings",
        {
            "customer": {"name": "Carla Customer", "phone": CUSTOMER, "email": None},
            "address": "Alexanderplatz 1, Berlin",
            "location": {"lat": 52.5219, "lon": 13.4132},
            "services": ["plumb"],
            "appointments": [
                {"start": "2026-12-01T10:00:00+01:00", "end": "2026-12-01T12:00:00+01:00"}
            ],
        },
    )
    assert status == 201, booking

    status, first = await s.sms_in(CUSTOMER, "Can you come before 11? Gate code 4321", "SMc1")
    assert status == 200 and "passed it to our team" in first
    status, second = await s.sms_in(CUSTOMER, "Also, the dog is friendly", "SMc2")
    assert status == 200 and "<Message>" not in second  # one acknowledgement per conversation
    status, repeat = await s.sms_in(CUSTOMER, "Also, the dog is friendly", "SMc2")
    assert "<Message>" not in repeat  # a redelivery changes nothing

    def forwarded(calls: list) -> list:  # type: ignore[type-arg]
        return [
            c
            for c in calls
            if c.method == "sendMessage"
            and not c.failed
            and c.params.get("chat_id") == ADMIN_ID
            and "SMS from customer Carla Customer" in str(c.params.get("text"))
        ]

    calls = await s.tg.wait_for(lambda calls: len(forwarded(calls)) == 2)
    texts = [str(c.params["text"]) for c in forwarded(calls)]
    assert f"about booking {booking['id']}" in texts[0] and "Gate code 4321" in texts[0]
    assert "Plumbing" in texts[0] and "dog is friendly" in texts[1]
    status, history = await s.api("GET", f"/bookings/{booking['id']}/history")
    replied = [h for h in history if h["action"] == "customer_replied"]
    assert [h["details"]["text"] for h in replied] == [
        "Can you come before 11? Gate code 4321",
        "Also, the dog is friendly",
    ]
