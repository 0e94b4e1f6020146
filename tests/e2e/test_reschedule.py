"""Rescheduling an assigned booking through the real `dispatchbot run`: the fieldworker's Telegram
message names the new time (and the old message loses its button), the customer gets one SMS, the
history records the move."""

from __future__ import annotations

import asyncio

from emulators import Call
from tests.e2e.conftest import Service
from tests.e2e.test_core_loop import CUSTOMER, book, seed

BEN_CHAT = 5001


def to_ben(calls: list[Call], words: str) -> list[Call]:
    return [
        c
        for c in calls
        if c.method == "sendMessage"
        and not c.failed
        and c.params.get("chat_id") == BEN_CHAT
        and words in str(c.params.get("text", ""))
    ]


async def test_rescheduling_an_assigned_booking(service: Service) -> None:
    s = service
    workers = await seed(s)
    ben = workers[1]
    booking = await book(s, fieldworker_id=ben["id"])
    await s.tg.wait_for(lambda calls: bool(to_ben(calls, "You have been assigned")))
    [assigned] = to_ben(s.tg.calls, "You have been assigned")
    await s.sms.wait_for(CUSTOMER)  # "Ben will do your Plumbing ..."
    [appointment] = booking["appointments"]

    status, moved = await s.api(
        "PATCH",
        f"/bookings/{booking['id']}",
        {
            "appointments": [
                {
                    "id": appointment["id"],
                    "start": "2026-12-02T15:00:00+01:00",
                    "end": "2026-12-02T17:00:00+01:00",
                }
            ]
        },
    )

    assert status == 200, moved
    [job] = moved["jobs"]
    assert (job["status"], job["fieldworker_id"]) == ("assigned", ben["id"])
    assert job["appointment"]["id"] == appointment["id"]
    # Ben is told the new time (in his zone, Europe/Berlin) with a working button, ...
    await s.tg.wait_for(lambda calls: bool(to_ben(calls, "moved to a new time")))
    [told] = to_ben(s.tg.calls, "moved to a new time")
    assert "Wed 2 Dec 15:00-17:00" in told.params["text"]
    assert "Tue 1 Dec 10:00-12:00" in told.params["text"]
    [[button]] = told.params["reply_markup"]["inline_keyboard"]
    assert button["text"] == "No longer attending"
    # ... and the older message about the job loses its button.
    await s.tg.wait_for(
        lambda calls: not s.tg.message(BEN_CHAT, assigned.result["message_id"]).get("reply_markup")
    )

    # The customer gets exactly one SMS about it, once the outbox is drained.
    await s.sms.wait_for(CUSTOMER, count=2)

    async def drained() -> bool:
        _, rows = await s.api("GET", f"/notifications?booking_id={booking['id']}")
        return all(r["status"] in ("sent", "delivered", "failed") for r in rows)

    for _ in range(100):
        if await drained():
            break
        await asyncio.sleep(0.1)
    assert await drained()
    moved_sms = [m for m in s.sms.messages if m["to"] == CUSTOMER and "moved" in m["body"]]
    assert [m["body"] for m in moved_sms] == [
        "Hi Carla, your Plumbing has been moved to Wed 2 Dec 14:00-16:00 UTC."
    ]
    assert len([m for m in s.sms.messages if m["to"] == CUSTOMER]) == 2

    status, history = await s.api("GET", f"/bookings/{booking['id']}/history")
    [row] = [h for h in history if h["action"] == "booking_rescheduled"]
    assert row["details"]["appointment_id"] == appointment["id"]
    assert row["details"]["from"]["start"].startswith("2026-12-01T09:00:00")
    assert row["details"]["to"]["start"].startswith("2026-12-02T14:00:00")
    assert row["channel"] == "api"
    assert [h["action"] for h in history].count("customer_notified") == 2
