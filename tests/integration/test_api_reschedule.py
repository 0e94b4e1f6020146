"""REST: rescheduling a booking (`PATCH /bookings/{id}` with `appointments`), on SQLite and
PostgreSQL, through the real sub-application with the production outbox renderer, so the
messages a reschedule causes are read back from the outbox."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from dispatch.model import Point
from models import tables as t
from tests.factories import add_fieldworker, add_service, add_staff
from tests.integration.api import call

SITE = {"lat": 38.7369, "lon": -9.1427}
HERE = Point(38.7223, -9.1393)
START = "2026-12-01T10:00:00+00:00"
LATER = "2026-12-02T14:00:00+00:00"
LATER_END = "2026-12-02T16:00:00+00:00"


async def book(client: TestClient, *starts: str, **extra: Any) -> dict[str, Any]:
    """A plumbing booking with a two-hour appointment at each start (auto mode by default)."""
    slots = [
        {"start": s, "end": (datetime.fromisoformat(s) + timedelta(hours=2)).isoformat()}
        for s in starts or (START,)
    ]
    body = {
        "customer": {"name": "Rita Sousa", "phone": "+351912000111"},
        "address": "Rua Augusta 1, Lisboa",
        "location": SITE,
        "services": ["plumb"],
        "appointments": slots,
        **extra,
    }
    status, booking = await call(client, "POST", "/bookings", body)
    assert status == 201, booking
    return dict(booking)


def moved(start: str = LATER, end: str = LATER_END, **extra: Any) -> dict[str, Any]:
    return {"appointments": [{"start": start, "end": end, **extra}]}


async def outbox(template: str) -> list[t.Notification]:
    return await t.Notification.filter(template=template).order_by("id")


async def test_booking_lists_its_appointments_and_each_job_names_its_own(
    client: TestClient,
) -> None:
    await add_service()
    booking = await book(client, START, LATER)

    first, second = booking["appointments"]
    assert set(first) == {"id", "start", "end"}
    assert datetime.fromisoformat(second["start"]) == datetime.fromisoformat(LATER)
    assert [j["appointment"]["id"] for j in booking["jobs"]] == [first["id"], second["id"]]
    assert booking["jobs"][0]["appointment"] == first


async def test_reschedule_keeps_a_free_fieldworker_and_tells_them_and_the_customer_once(
    client: TestClient,
) -> None:
    await add_service()
    ann = await add_fieldworker("Ann Lee", telegram=101, at=HERE)
    booking = await book(client, fieldworker_id=ann.id)
    bid = booking["id"]

    status, answer = await call(client, "PATCH", f"/bookings/{bid}", moved())

    assert status == 200, answer
    [appointment] = answer["appointments"]
    assert datetime.fromisoformat(appointment["start"]) == datetime.fromisoformat(LATER)
    [job] = answer["jobs"]
    assert (job["status"], job["fieldworker_id"]) == ("assigned", ann.id)
    assert job["appointment"] == appointment
    [told] = await outbox("job_rescheduled")
    assert told.recipient == "101" and "Wed 2 Dec 14:00-16:00" in told.body
    assert "Tue 1 Dec 10:00-12:00" in told.body, "the old time too"
    [sms] = await outbox("customer_rescheduled_sms")
    assert sms.recipient == "+351912000111"
    assert sms.body == "Hi Rita, your Plumbing has been moved to Wed 2 Dec 14:00-16:00 UTC."
    status, history = await call(client, "GET", f"/bookings/{bid}/history")
    [row] = [h for h in history if h["action"] == "booking_rescheduled"]
    assert row["details"]["from"]["start"].startswith("2026-12-01T10:00:00")
    assert row["details"]["to"]["start"].startswith("2026-12-02T14:00:00")

    # The same times again: nothing changes, nobody is told anything.
    notes = await t.Notification.all().count()
    status, again = await call(client, "PATCH", f"/bookings/{bid}", moved(id=appointment["id"]))
    assert status == 200, again
    assert await t.Notification.all().count() == notes
    _, history_again = await call(client, "GET", f"/bookings/{bid}/history")
    assert len(history_again) == len(history)


async def test_a_fieldworker_away_at_the_new_time_loses_the_job_and_others_are_asked(
    client: TestClient,
) -> None:
    await add_service()
    away = [{"start": "2026-12-02T00:00:00+00:00", "end": "2026-12-03T00:00:00+00:00"}]
    ann = await add_fieldworker("Ann", telegram=101, at=HERE, time_off=away)
    bob = await add_fieldworker("Bob", telegram=102, at=HERE)
    booking = await book(client, fieldworker_id=ann.id)

    status, answer = await call(client, "PATCH", f"/bookings/{booking['id']}", moved())

    assert status == 200, answer
    [job] = answer["jobs"]
    assert (job["status"], job["fieldworker_id"]) == ("offered", None)
    assert [(r["fieldworker_id"], r["status"]) for r in job["requests"]] == [(bob.id, "pending")]
    [lost] = await outbox("job_unassigned_rescheduled")
    assert lost.recipient == "101"
    assert [n.recipient for n in await outbox("job_request")] == ["102"]
    assert len(await outbox("customer_rescheduled_sms")) == 1
    assert not await outbox("customer_fieldworker_cancelled_sms"), "one SMS: the new time"


async def test_pending_requests_are_withdrawn_and_sent_again(client: TestClient) -> None:
    await add_service()
    await add_fieldworker("Ann", telegram=101, at=HERE)
    booking = await book(client)
    [old] = booking["jobs"][0]["requests"]

    status, answer = await call(client, "PATCH", f"/bookings/{booking['id']}", moved())

    assert status == 200, answer
    [request] = answer["jobs"][0]["requests"]
    assert (request["id"], request["status"]) == (old["id"], "pending")
    [closed] = await outbox("request_rescheduled")
    assert (closed.recipient, closed.payload["method"]) == ("101", "edit")
    assert len(await outbox("job_request")) == 2, "asked again for the new time"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (moved(id=999999), 422, "appointment_not_found", "appointments.0.id"),
        (moved(start=LATER, end=LATER), 422, "end_before_start", "appointments.0.end"),
        (moved(end="2026-12-02T13:00:00+00:00"), 422, "end_before_start", "appointments.0.end"),
        (moved(start="2026-12-02T14:00:00"), 422, "timezone_required", "appointments.0.start"),
        (moved(start="9999-12-02T14:00:00Z"), 422, None, "appointments.0.start"),
        ({"appointments": []}, 422, None, "appointments"),
        ({**moved(), "status": "cancelled"}, 422, "reschedule_and_cancel", "appointments"),
    ],
)
async def test_a_bad_reschedule_is_refused_and_changes_nothing(
    client: TestClient, body: dict[str, Any], status: int, code: str | None, field: str
) -> None:
    await add_service()
    await add_fieldworker("Ann", telegram=101, at=HERE)
    booking = await book(client)
    notes = await t.Notification.all().count()

    got, answer = await call(client, "PATCH", f"/bookings/{booking['id']}", body)

    assert (got, answer["error"]["field"]) == (status, field), answer
    if code is not None:
        assert answer["error"]["code"] == code
    _, after = await call(client, "GET", f"/bookings/{booking['id']}")
    assert after == booking
    assert await t.Notification.all().count() == notes


async def test_several_appointments_need_their_ids(client: TestClient) -> None:
    await add_service()
    booking = await book(client, START, LATER, dispatch_mode="manual")
    first, second = booking["appointments"]

    got, answer = await call(client, "PATCH", f"/bookings/{booking['id']}", moved())
    assert (got, answer["error"]["code"], answer["error"]["field"]) == (
        422,
        "appointment_id_required",
        "appointments.0.id",
    )
    new = "2026-12-03T08:00:00+00:00"
    body = moved(new, "2026-12-03T09:00:00+00:00", id=second["id"])
    got, answer = await call(client, "PATCH", f"/bookings/{booking['id']}", body)
    assert got == 200, answer
    assert answer["appointments"][0] == first
    assert datetime.fromisoformat(answer["appointments"][1]["start"]) == datetime.fromisoformat(new)


async def test_a_cancelled_booking_cannot_be_rescheduled(client: TestClient) -> None:
    await add_service()
    booking = await book(client, dispatch_mode="manual")
    assert (await call(client, "PATCH", f"/bookings/{booking['id']}", {"status": "cancelled"}))[
        0
    ] == 200

    got, answer = await call(client, "PATCH", f"/bookings/{booking['id']}", moved())

    assert (got, answer["error"]["code"]) == (409, "booking_not_open")
    _, after = await call(client, "GET", f"/bookings/{booking['id']}")
    assert after["appointments"] == booking["appointments"]


async def test_the_openapi_document_shows_appointment_ids(client: TestClient) -> None:
    status, doc = await call(client, "GET", "/openapi.json")
    assert status == 200
    schemas = doc["components"]["schemas"]
    assert set(schemas["AppointmentOut"]["properties"]) == {"id", "start", "end"}
    assert "appointments" in schemas["BookingOut"]["properties"]
    move = schemas["AppointmentMoveIn"]["properties"]
    assert set(move) == {"id", "start", "end"}


async def test_manual_mode_alerts_staff_and_the_customer_hears_once_for_every_job(
    client: TestClient,
) -> None:
    await add_service()
    await add_service("paint", "Painting")
    await add_staff("Otto", role="owner", telegram=900)
    ann = await add_fieldworker("Ann", telegram=101, at=HERE, services=["plumb", "paint"])
    booking = await book(
        client, START, "2026-12-05T10:00:00+00:00", services=["plumb", "paint"],
        dispatch_mode="manual",
    )  # fmt: skip
    bid = booking["id"]
    status, _ = await call(
        client, "POST", f"/bookings/{bid}/job-requests", {"fieldworker_ids": [ann.id]}
    )
    assert status == 200
    first, second = booking["appointments"]
    body = {
        "appointments": [
            {"id": first["id"], "start": LATER, "end": LATER_END},
            {"id": second["id"], "start": "2026-12-06T10:00:00Z", "end": "2026-12-06T12:00:00Z"},
        ]
    }

    status, answer = await call(client, "PATCH", f"/bookings/{bid}", body)

    assert status == 200, answer
    for job in answer["jobs"]:
        assert job["status"] == "unassigned"
        assert [r["status"] for r in job["requests"]] == ["withdrawn"]
    alerts = await outbox("staff_job_rescheduled")
    assert [a.recipient for a in alerts] == ["900"] * 4
    assert alerts[0].payload["reply_markup"]["inline_keyboard"][0][0]["text"] == "Show available"
    assert len(await outbox("request_rescheduled")) == 4
    [sms] = await outbox("customer_rescheduled_sms")
    assert sms.body == (
        "Hi Rita, your Plumbing and Painting has been moved to Wed 2 Dec 14:00-16:00 UTC and "
        "Sun 6 Dec 10:00-12:00 UTC."
    )
    _, history = await call(client, "GET", f"/bookings/{bid}/history")
    assert [h["action"] for h in history].count("booking_rescheduled") == 2
