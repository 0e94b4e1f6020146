"""REST: finding bookings (`GET /bookings` filters, `X-Total-Count`), completing jobs, changed
details reaching the fieldworkers who hold the booking's jobs, and re-broadcasting to everyone
after a timeout. On SQLite and PostgreSQL, through the real sub-application, with the outbox
renderer of production so the messages a change causes can be read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from dispatch import offering
from dispatch.model import Point
from models import tables as t
from models.transactions import Transactions
from tests.factories import add_fieldworker, add_service, add_staff
from tests.integration.api import API
from tests.integration.api import call_with_headers as call

LISBON = "Europe/Lisbon"
API_TIMEZONE = LISBON  # the company time zone of `client`
SITE = {"lat": 38.7369, "lon": -9.1427}
HERE = Point(38.7223, -9.1393)  # about 1.7 km from SITE


def error_of(answer: tuple[int, Any, dict[str, str]]) -> tuple[int, str, str | None]:
    status, body, _ = answer
    return status, body["error"]["code"], body["error"]["field"]


async def book(client: TestClient, start: str, **extra: Any) -> dict[str, Any]:
    """A plumbing booking at `start` (two hours), auto mode unless said otherwise."""
    end = (datetime.fromisoformat(start) + timedelta(hours=2)).isoformat()
    body = {
        "customer": {"name": "Rita Sousa", "phone": "+351912000111"},
        "address": "Rua Augusta 1, Lisboa",
        "location": SITE,
        "services": ["plumb"],
        "appointments": [{"start": start, "end": end}],
        **extra,
    }
    status, booking, _ = await call(client, "POST", "/bookings", body)
    assert status == 201, booking
    return dict(booking)


async def ids_of(client: TestClient, query: str) -> tuple[list[int], int]:
    """The ids `GET /bookings?query` lists, and its `X-Total-Count`."""
    status, listed, headers = await call(client, "GET", f"/bookings?{query}")
    assert status == 200, listed
    return [b["id"] for b in listed], int(headers["X-Total-Count"])


# -- GET /bookings --------------------------------------------------------------------------------


async def test_list_filters_and_total_count(client: TestClient) -> None:
    await add_service()
    ann = await add_fieldworker("Ann", telegram=101, at=HERE)
    # Lisbon is UTC+0 in winter: 23:30 UTC on 30 Nov is still 30 Nov there; 00:30 is 1 Dec.
    late = await book(client, "2026-11-30T23:30:00+00:00", dispatch_mode="manual")
    early = await book(
        client,
        "2026-12-01T00:30:00+00:00",
        customer={"name": "JOÃO Pinto", "phone": "+351 913 555 777"},
        fieldworker_id=ann.id,
    )
    other = await book(client, "2026-12-02T10:00:00+00:00", address="Praça do Comércio 5")
    cancelled = await book(client, "2026-12-01T15:00:00+00:00", dispatch_mode="manual")
    assert (await call(client, "PATCH", f"/bookings/{cancelled['id']}", {"status": "cancelled"}))[
        0
    ] == 200
    everyone = [cancelled["id"], other["id"], early["id"], late["id"]]

    assert await ids_of(client, "") == (everyone, 4), "newest first"
    assert await ids_of(client, "limit=2&offset=1") == (everyone[1:3], 4)
    assert await ids_of(client, "date=2026-12-01") == ([cancelled["id"], early["id"]], 2)
    assert await ids_of(client, "date=2026-11-30") == ([late["id"]], 1)
    assert await ids_of(client, "from=2026-12-01T00:00:00Z&to=2026-12-02T10:00:00Z") == (
        [cancelled["id"], early["id"]],
        2,
    )
    # An offset's `+` sent unencoded arrives as a space, and still means `+`.
    assert await ids_of(client, "from=2026-12-02T10:00:00+00:00") == ([other["id"]], 1)
    assert await ids_of(client, "from=2026-12-01T12:00:00Z&date=2026-12-01") == (
        [cancelled["id"]],
        1,
    )
    assert await ids_of(client, "status=cancelled") == ([cancelled["id"]], 1)
    assert await ids_of(client, "job_status=assigned") == ([early["id"]], 1)
    assert await ids_of(client, "job_status=unassigned&date=2026-12-01") == ([], 0)
    assert await ids_of(client, f"fieldworker_id={ann.id}") == ([early["id"]], 1)
    assert await ids_of(client, f"fieldworker_id={ann.id}&job_status=offered") == ([], 0)
    assert await ids_of(client, "q=joão") == ([early["id"]], 1)
    assert await ids_of(client, "q=%2B351%20913-555") == ([early["id"]], 1)
    assert await ids_of(client, "q=913555777") == ([early["id"]], 1)
    assert await ids_of(client, "q=comércio") == ([other["id"]], 1)
    assert await ids_of(client, "q=RUA AUGUSTA&limit=1") == ([cancelled["id"]], 3)
    assert await ids_of(client, "q=%25") == ([], 0), "LIKE wildcards are text"
    assert await ids_of(client, "q=") == (everyone, 4)

    for query, code, field in (
        ("date=2026-02-30", "invalid_value", "date"),
        ("date=1.12.2026", "invalid_value", "date"),
        ("date=9999-12-31", "invalid_value", "date"),
        ("from=2026-12-01T00:00:00", "timezone_required", "from"),
        ("from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "end_before_start", "to"),
        ("job_status=lost", "invalid_value", "job_status"),
        ("fieldworker_id=0", "invalid_value", "fieldworker_id"),
        ("q=a%00b", "invalid_value", "q"),
        (f"q={'x' * 201}", "invalid_value", "q"),
        ("offset=99999999999999999999", "invalid_value", "offset"),
        ("limit=501", "invalid_value", "limit"),
    ):
        assert error_of(await call(client, "GET", f"/bookings?{query}")) == (422, code, field)


# -- POST /bookings/{id}/complete -----------------------------------------------------------------


async def test_complete_marks_assigned_jobs_done_and_then_the_booking(client: TestClient) -> None:
    await add_service()
    await add_service("paint", "Painting")
    ann = await add_fieldworker("Ann", telegram=101, at=HERE, services=["plumb", "paint"])
    await add_role_staff()
    booking = await book(
        client, "2026-12-01T10:00:00+00:00", services=["plumb", "paint"], dispatch_mode="manual"
    )
    plumb, paint = (j["id"] for j in booking["jobs"])
    bid = booking["id"]

    assert error_of(await call(client, "POST", f"/bookings/{bid}/complete")) == (
        409,
        "no_assigned_jobs",
        None,
    )
    assign = {"fieldworker_id": ann.id, "job_ids": [plumb]}
    assert (await call(client, "POST", f"/bookings/{bid}/assign", assign))[0] == 200
    assert error_of(
        await call(client, "POST", f"/bookings/{bid}/complete", {"job_ids": [plumb, paint]})
    ) == (409, "job_not_assigned", "job_ids.1")
    assert error_of(
        await call(client, "POST", f"/bookings/{bid}/complete", {"job_ids": [999]})
    ) == (404, "job_not_found", "job_ids.0")
    viewer = await t.Staff.get(name="Vera")
    assert error_of(
        await call(client, "POST", f"/bookings/{bid}/complete", {"actor_staff_id": viewer.id})
    ) == (403, "forbidden", None)
    assert (await t.Job.get(id=plumb)).status == "assigned"

    status, done, _ = await call(client, "POST", f"/bookings/{bid}/complete")  # no body: all
    assert status == 200, done
    assert [(j["status"], j["fieldworker_id"]) for j in done["jobs"]] == [
        ("completed", ann.id),
        ("unassigned", None),
    ]
    assert done["status"] == "open", "the paint job is still to do"
    # Ann's message about the job loses its "No longer attending" button: a new message here,
    # as she was assigned directly (no request message to edit).
    [note] = await t.Notification.filter(template="job_completed")
    assert (note.recipient, note.payload["method"]) == ("101", "edit")

    await call(client, "POST", f"/bookings/{bid}/assign", {"fieldworker_id": ann.id})
    owner = await t.Staff.get(name="Otto")
    status, done, _ = await call(
        client,
        "POST",
        f"/bookings/{bid}/complete",
        {"job_ids": [paint], "actor_staff_id": owner.id},
    )
    assert status == 200, done
    assert done["status"] == "completed"
    assert [j["status"] for j in done["jobs"]] == ["completed", "completed"]
    _, history, _ = await call(client, "GET", f"/bookings/{bid}/history")
    rows = [h for h in history if h["action"] in ("job_completed", "booking_completed")]
    assert [(h["action"], h["job_id"], h["from_status"], h["to_status"]) for h in rows] == [
        ("job_completed", plumb, "assigned", "completed"),
        ("job_completed", paint, "assigned", "completed"),
        ("booking_completed", None, "open", "completed"),
    ]
    assert rows[-1]["actor"] == {"kind": "staff", "id": owner.id, "name": "Otto"}
    assert error_of(await call(client, "POST", f"/bookings/{bid}/complete")) == (
        409,
        "booking_not_open",
        None,
    )
    assert await ids_of(client, "status=completed") == ([bid], 1)


async def add_role_staff() -> None:
    """Staff: Otto the owner (id 1) and Vera the viewer."""
    await add_staff("Otto", role="owner")
    await add_staff("Vera", role="viewer")


# -- PATCH /bookings/{id}: changed details reach the holders --------------------------------------


async def test_changed_details_reach_whoever_holds_a_request_or_the_job(
    client: TestClient,
) -> None:
    await add_service()
    ann = await add_fieldworker("Ann Silva", telegram=101, at=HERE)
    await add_fieldworker(
        "Bob Costa", at=HERE, phone="+351912345678", channels=["sms"], invite_code="bob"
    )
    cy = await add_fieldworker("Cy Dias", telegram=103, at=HERE)
    booking = await book(client, "2026-12-01T10:00:00+00:00")
    bid = booking["id"]
    decline = {"action": "decline", "fieldworker_id": cy.id, "reason": "Too far"}
    assert (await call(client, "POST", f"/bookings/{bid}/respond", decline))[0] == 200
    ann_request = await t.JobRequest.get(booking_id=bid, fieldworker_id=ann.id)
    before = await t.Notification.all().count()

    status, changed, _ = await call(
        client, "PATCH", f"/bookings/{bid}", {"address": "Rua Nova 9, Lisboa", "notes": "Cat"}
    )

    assert status == 200, changed
    rows = await t.Notification.filter(id__gt=before).order_by("id")
    by = {(r.recipient, r.template): r for r in rows}
    assert sorted(by) == [
        ("+351912345678", "booking_changed_sms"),
        ("101", "booking_changed"),
        ("101", "job_request"),
    ], "Cy declined: not told"
    edit = by["101", "job_request"]
    assert edit.request_id == ann_request.id and edit.payload["method"] == "edit"
    buttons = [b["text"] for b in edit.payload["reply_markup"]["inline_keyboard"][0]]
    assert buttons == ["Accept ✅", "Decline ❌"], "the request keeps working buttons"
    assert "Rua Nova 9, Lisboa" in edit.body and "Cat" in edit.body
    news = by["101", "booking_changed"]
    assert news.payload["method"] == "send", "a new message: Telegram does not notify edits"
    assert news.body.splitlines()[:3] == [
        f"✏️ Booking {bid} was changed.",
        "📍 Address: Rua Nova 9, Lisboa",
        "📝 Notes: Cat",
    ]
    assert "Rua Nova 9, Lisboa" in news.body.splitlines()[3], "the job, as it is now"
    by_sms = by["+351912345678", "booking_changed_sms"].body
    assert by_sms.startswith(f"Booking {bid} was changed. Address: Rua Nova 9, Lisboa. Notes: Cat.")
    assert "✏" not in by_sms, "worded for SMS: no emoji (one would make it UCS-2)"

    # Once Ann has the job, she alone hears of the next change.
    accept = {"action": "accept", "fieldworker_id": ann.id}
    assert (await call(client, "POST", f"/bookings/{bid}/respond", accept))[0] == 200
    before = await t.Notification.all().count()
    await call(client, "PATCH", f"/bookings/{bid}", {"notes": ""})
    rows = await t.Notification.filter(id__gt=before, template="booking_changed")
    assert [(r.recipient, r.body.splitlines()[1]) for r in rows] == [("101", "📝 Notes: (none)")]


# -- POST /bookings/{id}/rebroadcast {"include_expired": true} ------------------------------------


async def test_rebroadcast_to_everyone_after_a_timeout(
    client: TestClient, tx: Transactions
) -> None:
    await add_service()
    await add_fieldworker("Ann", telegram=101, at=HERE)
    await add_fieldworker("Bob", telegram=102, at=HERE)
    bid = (await book(client, "2026-12-01T10:00:00+00:00"))["id"]
    for request in await t.JobRequest.filter(booking_id=bid):
        assert await tx.run(lambda uow, rid=request.id: offering.expire_request(uow, rid))

    status, plain, _ = await call(client, "POST", f"/bookings/{bid}/rebroadcast", {})
    assert (status, plain) == (200, {"sent": []})
    assert error_of(
        await call(client, "POST", f"/bookings/{bid}/rebroadcast", {"include_expired": "yes"})
    ) == (422, "invalid_value", "include_expired")

    status, everyone, _ = await call(
        client, "POST", f"/bookings/{bid}/rebroadcast", {"include_expired": True}
    )

    assert status == 200 and len(everyone["sent"]) == 2, everyone
    requests = await t.JobRequest.filter(booking_id=bid).order_by("id")
    assert [r.id for r in requests] == everyone["sent"] and {r.status for r in requests} == {
        "pending"
    }
    resent = await t.Notification.filter(template="job_request", request_id__in=everyone["sent"])
    assert len(resent) == 4, "each sent once, and once more"
    assert datetime.now(UTC) < requests[0].expires_at


# -- OpenAPI --------------------------------------------------------------------------------------


async def test_openapi_documents_the_filters_the_bodies_and_completion(
    client: TestClient,
) -> None:
    async with client.get(API + "/openapi.json") as resp:
        doc = json.loads(await resp.text())
    listing = doc["paths"]["/bookings"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    for name in ("status", "job_status", "date", "from", "to", "fieldworker_id", "q"):
        assert name in params and params[name]["required"] is False, name
    assert "TIMEZONE" in params["date"]["description"]
    assert "X-Total-Count" in listing["responses"]["200"]["headers"]
    complete = doc["paths"]["/bookings/{id}/complete"]["post"]
    assert complete["requestBody"]["required"] is False
    assert complete["x-permission"] == "assign"
    schemas = doc["components"]["schemas"]
    assert set(schemas["CompleteIn"]["properties"]) == {"job_ids", "actor_staff_id"}
    rebroadcast = doc["paths"]["/bookings/{id}/rebroadcast"]["post"]
    assert rebroadcast["requestBody"]["required"] is False
    assert "include_expired" in schemas["RebroadcastIn"]["properties"]
