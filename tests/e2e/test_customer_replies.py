"""A customer's SMS through the real process (issue 9): forwarded to the staff who receive
alerts with the booking it most likely concerns, recorded as `customer_replied`, and answered
with one acknowledgement per conversation, not per SMS."""

from __future__ import annotations

from tests.e2e.conftest import ADMIN_ID, Service
from tests.e2e.test_reaching_fieldworkers import CUSTOMER, book


async def test_a_customer_sms_reaches_staff_and_is_acknowledged_once(service: Service) -> None:
    s = service
    status, _ = await s.api("POST", "/services", {"code": "plumb", "name": "Plumbing"})
    assert status == 201
    booking_id = await book(s)

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
    assert f"about booking {booking_id}" in texts[0] and "Gate code 4321" in texts[0]
    assert "Plumbing" in texts[0] and "dog is friendly" in texts[1]
    status, history = await s.api("GET", f"/bookings/{booking_id}/history")
    replied = [h for h in history if h["action"] == "customer_replied"]
    assert [h["details"]["text"] for h in replied] == [
        "Can you come before 11? Gate code 4321",
        "Also, the dog is friendly",
    ]
