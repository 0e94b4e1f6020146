"""Bookings with several services, end to end: staff request, confirm and assign job by job, and
the customer hears once per visit. Through the real process, the Bot API and Twilio emulators."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Service
from tests.e2e.test_staff_control import (
    CHAT,
    DISPATCHER,
    button,
    command,
    get_booking,
    requests_to,
    seed,
    wait_text,
)

CUSTOMER_2 = "+4915199990002"


async def book_visit(s: Service, day: str, phone: str) -> tuple[int, int, int]:
    """A manual booking of plumbing and painting at one appointment: (booking, plumb, paint)."""
    body = {
        "customer": {"name": "Carla Customer", "phone": phone, "email": None},
        "address": "Alexanderplatz 1, Berlin",
        "location": {"lat": 52.5219, "lon": 13.4132},
        "services": ["plumb", "paint"],
        "dispatch_mode": "manual",
        "appointments": [{"start": f"{day}T10:00:00+00:00", "end": f"{day}T12:00:00+00:00"}],
    }
    status, booking = await s.api("POST", "/bookings", body)
    assert status == 201, booking
    plumb, paint = (j["id"] for j in booking["jobs"])
    return int(booking["id"]), plumb, paint


def jobs_of(booking: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Job id -> job."""
    return {j["id"]: j for j in booking["jobs"]}


async def test_a_two_service_visit_job_by_job(service: Service) -> None:
    s = service
    w = await seed(s)  # Anna, Ben and Cara plumb near the site; Dan is far away
    status, _ = await s.api("POST", "/services", {"code": "paint", "name": "Painting"})
    assert status == 201
    anna, ben = w.fw(0), w.fw(1)
    status, _ = await s.api("PATCH", f"/fieldworkers/{ben}", {"services": ["plumb", "paint"]})
    assert status == 200

    # /request: each fieldworker is asked only for the jobs they are eligible for.
    booking_id, plumb, paint = await book_visit(s, "2026-12-01", "+4915199990001")
    reply = await command(s, DISPATCHER, f"/request {booking_id} {anna} @worker1")
    text = reply.params["text"]
    assert "3 request(s) sent" in text, text
    assert f"Anna Berg (#{anna}), job {paint}: not eligible (does not do this service)" in text
    await s.tg.wait_for(lambda _: len(requests_to(s, CHAT + 1)) == 2)
    to_anna = requests_to(s, CHAT)
    assert len(to_anna) == 1 and f"job {plumb}" in to_anna[0].params["text"]

    # Both accept the plumbing job; /assign with its id confirms Anna for that job only.
    first_for_ben = requests_to(s, CHAT + 1)[0]
    assert f"job {plumb}" in first_for_ben.params["text"]
    for chat, message in ((CHAT, to_anna[0]), (CHAT + 1, first_for_ben)):
        await s.press(chat, button(message, 0), chat, message.result["message_id"])
        await wait_text(s, chat, message.result["message_id"], "Staff will confirm")
    reply = await command(s, DISPATCHER, f"/assign {booking_id} {anna} {plumb}")
    assert f"job {plumb}: assigned" in reply.params["text"], reply.params["text"]
    assert f"job {paint}" not in reply.params["text"]
    jobs = jobs_of(await get_booking(s, booking_id))
    assert (jobs[plumb]["status"], jobs[plumb]["fieldworker_id"]) == ("assigned", anna)
    assert jobs[paint]["status"] == "offered" and jobs[paint]["fieldworker_id"] is None
    by_fw = {r["fieldworker_id"]: r["status"] for r in jobs[plumb]["requests"]}
    assert by_fw == {anna: "accepted", ben: "withdrawn"}
    assert [r["status"] for r in jobs[paint]["requests"]] == ["pending"]
    await wait_text(s, CHAT + 1, first_for_ben.result["message_id"], "Another fieldworker")

    # REST assign of one fieldworker to both jobs of another visit: no schedule_conflict with
    # itself, and the customer gets exactly one "assigned" SMS naming both services.
    other_id, *_ = await book_visit(s, "2026-12-02", CUSTOMER_2)
    status, done = await s.api("POST", f"/bookings/{other_id}/assign", {"fieldworker_id": ben})
    assert status == 200, done
    assert [(r["fieldworker_id"], r["changed"]) for r in done["results"]] == [(ben, True)] * 2
    status, notes = await s.api("GET", f"/notifications?booking_id={other_id}")
    assert status == 200
    assigned = [n for n in notes if n["recipient"] == CUSTOMER_2]
    assert [(n["template"], n["channel"]) for n in assigned] == [("customer_assigned", "sms")]
    (sms,) = await s.sms.wait_for(CUSTOMER_2)
    assert "Ben will do your Plumbing and Painting" in sms["body"], sms["body"]
