"""The REST API (CONTRACT §4) through a real aiohttp server, on SQLite and PostgreSQL.

The sub-application is mounted at `/api/v1` in a plain `web.Application`, exactly as the app
factory does, and driven over HTTP with aiohttp's `TestServer` and `TestClient`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import load_config
from dispatch.eligibility import haversine_km
from dispatch.model import Point
from dispatch.settings import CompanySettings
from models import tables as t
from models.access import ensure_default_roles
from models.transactions import Transactions
from rest.api import ROUTES, ApiContext, create_api

TOKEN = "t"
API = "/api/v1"

# 2030-06-03 is a Monday.
MON_10 = "2030-06-03T10:00:00+00:00"
MON_12 = "2030-06-03T12:00:00+00:00"
MON_14 = "2030-06-03T14:00:00+00:00"
MON_16 = "2030-06-03T16:00:00+00:00"

LISBON = {"lat": 38.7223, "lon": -9.1393}
PORTO = {"lat": 41.1579, "lon": -8.6291}
JOB_SITE = {"lat": 38.7369, "lon": -9.1427}  # about 1.7 km from LISBON
# A square around Porto: does not cover the job site.
PORTO_AREA = {
    "type": "Polygon",
    "coordinates": [[[-8.7, 41.1], [-8.5, 41.1], [-8.5, 41.2], [-8.7, 41.2], [-8.7, 41.1]]],
}
BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


def make_client(token: str | None) -> TestClient:
    """A test client for an app that mounts the API the way the app factory does."""
    config = load_config(API_TOKEN=token or "", _env_file=None)
    ctx = ApiContext(
        tx=Transactions(outbox=None), timezone=config.timezone, api_token=config.api_token
    )
    app = web.Application()
    app.add_subapp(API, create_api(ctx))
    return TestClient(TestServer(app))


@pytest.fixture
async def client(db: str) -> AsyncIterator[TestClient]:
    await ensure_default_roles()
    async with make_client(TOKEN) as c:
        yield c


async def call(
    client: TestClient,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: str | None = None,
    token: str | None = TOKEN,
) -> tuple[int, Any]:
    """One API call; returns (status, decoded JSON)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    if data is not None:
        headers["Content-Type"] = "application/json"
    async with client.request(method, API + path, data=data, headers=headers) as resp:
        return resp.status, await resp.json()


def assert_error(answer: tuple[int, Any], status: int, code: str, field: str | None = None) -> None:
    got, body = answer
    assert got == status, body
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    if field is not None:
        assert body["error"]["field"] == field, body


async def counts() -> dict[str, int]:
    """Rows of every table an API call could write."""
    tables = (
        t.Service,
        t.Fieldworker,
        t.Staff,
        t.Role,
        t.Customer,
        t.Booking,
        t.Appointment,
        t.Job,
        t.JobRequest,
        t.History,
        t.Notification,
        t.CompanySettingsRow,
    )
    return {m.__name__: await m.all().count() for m in tables}


def fieldworker(name: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "channels": ["telegram"],
        "services": ["plumb"],
        "skills": ["gas-cert"],
        "base_location": LISBON,
        "working_hours": {"mon": [["08:00", "18:00"]]},
    }
    body.update(extra)
    return body


async def seed(client: TestClient) -> dict[str, int]:
    """Services, fieldworkers (one per exclusion reason) and staff; returns their ids by name."""
    ids: dict[str, int] = {}
    for code, skills in (("plumb", ["gas-cert"]), ("clean", [])):
        status, body = await call(
            client,
            "POST",
            "/services",
            {"code": code, "name": code.title(), "required_skills": skills},
        )
        assert status == 201, body
    people = {
        "ana": fieldworker("Ana Silva", phone="+351912345678", telegram_user_id=101),
        "bruno": fieldworker("Bruno Costa"),  # eligible but not linked: unreachable
        "carla": fieldworker("Carla Dias", base_location=PORTO),
        "duarte": fieldworker("Duarte Reis", services=["clean"], skills=[]),
        "eva": fieldworker("Eva Lopes", status="inactive", telegram_user_id=105),
        "filipa": fieldworker("Filipa Melo", territories=PORTO_AREA),
        "gil": fieldworker("Gil Nunes", time_off=[{"start": MON_10, "end": MON_16}]),
    }
    for key, body in people.items():
        status, answer = await call(client, "POST", "/fieldworkers", body)
        assert status == 201, answer
        ids[key] = answer["id"]
    # Linking happens over Telegram; here the chat id is set directly.
    for key in ("ana", "carla", "duarte", "eva", "filipa", "gil"):
        await t.Fieldworker.filter(id=ids[key]).update(telegram_chat_id=9000 + ids[key])
    for key, role in (("vera", "viewer"), ("dora", "dispatcher"), ("otto", "owner")):
        status, answer = await call(client, "POST", "/staff", {"name": key.title(), "role": role})
        assert status == 201, answer
        ids[key] = answer["id"]
    return ids


def booking_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer": {
            "name": "Rita Sousa",
            "phone": "+351 912 000 111",
            "email": "rita@example.com",
        },
        "address": "Rua Augusta 1, Lisboa",
        "location": JOB_SITE,
        "services": ["plumb"],
        "appointments": [{"start": MON_10, "end": MON_12}],
        "requirements": {"skills": [], "custom_fields": {}},
        "notes": "Ring twice",
    }
    body.update(extra)
    return body


async def create_booking(client: TestClient, **extra: Any) -> dict[str, Any]:
    status, body = await call(client, "POST", "/bookings", booking_body(**extra))
    assert status == 201, body
    return body


def requests_by_fieldworker(job: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r["fieldworker_id"]: r for r in job["requests"]}


# -- auth and routing -----------------------------------------------------------------------------


async def test_auth_and_routing_errors(client: TestClient) -> None:
    assert_error(await call(client, "GET", "/settings", token=None), 401, "unauthorized")
    assert_error(await call(client, "GET", "/settings", token="wrong"), 401, "unauthorized")
    async with client.get(API + "/settings", headers={"Authorization": f"Basic {TOKEN}"}) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"
    # An unknown route does not reveal itself without a token.
    assert_error(await call(client, "GET", "/nope", token=None), 401, "unauthorized")
    assert_error(await call(client, "GET", "/nope"), 404, "not_found")
    assert_error(await call(client, "DELETE", "/settings"), 405, "method_not_allowed")
    assert_error(await call(client, "GET", "/bookings/99999999999"), 404, "not_found")
    assert_error(await call(client, "GET", "/bookings/7"), 404, "booking_not_found")
    status, _ = await call(client, "GET", "/openapi.json", token=None)
    assert status == 200

    async with make_client(None) as disabled:
        assert_error(await call(disabled, "GET", "/settings"), 401, "api_disabled")
        assert_error(await call(disabled, "GET", "/settings", token=""), 401, "api_disabled")
        status, _ = await call(disabled, "GET", "/openapi.json", token=None)
        assert status == 200


async def test_unexpected_error_is_500_without_internals(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("rest.settings.load_settings", broken)
    answer = await call(client, "GET", "/settings")
    assert_error(answer, 500, "internal_error")
    assert "secret" not in json.dumps(answer[1])
    assert any(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in caplog.records)


# -- bad input ------------------------------------------------------------------------------------


async def test_bad_input_is_refused_and_writes_nothing(client: TestClient) -> None:
    await call(client, "POST", "/services", {"code": "plumb", "name": "Plumbing"})
    before = await counts()
    fw = fieldworker("Zed")
    cases: list[tuple[str, str, Any, str | None, int, str, str | None]] = [
        ("POST", "/fieldworkers", None, "{not json", 400, "invalid_json", None),
        ("POST", "/fieldworkers", None, "[1, 2]", 400, "invalid_json", None),
        ("POST", "/fieldworkers", None, "", 400, "invalid_json", None),
        ("POST", "/fieldworkers", None, '{"name": NaN}', 400, "invalid_json", None),
        ("POST", "/fieldworkers", {**fw, "nickname": "z"}, None, 422, "unknown_field", "nickname"),
        ("POST", "/fieldworkers", {**fw, "phone": "12345"}, None, 422, "invalid_phone", "phone"),
        (
            "POST",
            "/fieldworkers",
            {**fw, "phone": "+1 555 555 5555"},
            None,
            422,
            "invalid_phone",
            "phone",
        ),
        (
            "POST",
            "/fieldworkers",
            {**fw, "territories": BOWTIE},
            None,
            422,
            "invalid_geometry",
            "territories",
        ),
        (
            "POST",
            "/fieldworkers",
            {**fw, "territories": {"type": "Point", "coordinates": [0, 0]}},
            None,
            422,
            "invalid_geometry",
            "territories",
        ),
        (
            "POST",
            "/fieldworkers",
            {**fw, "services": ["plumb", "nope"]},
            None,
            422,
            "unknown_service",
            "services.1",
        ),
        (
            "POST",
            "/fieldworkers",
            {**fw, "timezone": "Mars/Base"},
            None,
            422,
            "invalid_timezone",
            "timezone",
        ),
        (
            "POST",
            "/fieldworkers",
            {**fw, "working_hours": {"mon": [["08:00", "25:00"]]}},
            None,
            422,
            "invalid_value",
            "working_hours.mon.0.1",
        ),
        (
            "POST",
            "/fieldworkers",
            {**fw, "working_hours": {"monday": [["08:00", "17:00"]]}},
            None,
            422,
            "invalid_value",
            "working_hours.monday",
        ),
        (
            "POST",
            "/fieldworkers",
            {**fw, "base_location": {"lat": 91, "lon": 0}},
            None,
            422,
            "invalid_value",
            "base_location.lat",
        ),
        (
            "POST",
            "/fieldworkers",
            {**fw, "time_off": [{"start": "2030-06-03T10:00:00", "end": MON_12}]},
            None,
            422,
            "timezone_required",
            "time_off.0.start",
        ),
        (
            "POST",
            "/fieldworkers",
            {**fw, "channels": ["fax"]},
            None,
            422,
            "invalid_value",
            "channels.0",
        ),
        (
            "POST",
            "/fieldworkers",
            {**fw, "status": "retired"},
            None,
            422,
            "invalid_value",
            "status",
        ),
        ("POST", "/fieldworkers", {**fw, "name": 5}, None, 422, "invalid_value", "name"),
        ("POST", "/fieldworkers", {"phone": "+351912345678"}, None, 422, "missing_field", "name"),
        (
            "POST",
            "/bookings",
            booking_body(appointments=[{"start": MON_12, "end": MON_10}]),
            None,
            422,
            "end_before_start",
            "appointments.0.end",
        ),
        (
            "POST",
            "/bookings",
            booking_body(appointments=[{"start": "2030-06-03T10:00:00", "end": MON_12}]),
            None,
            422,
            "timezone_required",
            "appointments.0.start",
        ),
        (
            "POST",
            "/bookings",
            booking_body(services=["nope"]),
            None,
            422,
            "unknown_service",
            "services",
        ),
        (
            "POST",
            "/bookings",
            booking_body(fieldworker_id=999),
            None,
            422,
            "fieldworker_not_found",
            "fieldworker_id",
        ),
        (
            "POST",
            "/bookings",
            booking_body(customer={"name": "R", "phone": "0"}),
            None,
            422,
            "invalid_phone",
            "customer.phone",
        ),
        (
            "POST",
            "/bookings",
            booking_body(location={"lat": 0, "lon": 181}),
            None,
            422,
            "invalid_value",
            "location.lon",
        ),
        (
            "POST",
            "/bookings",
            booking_body(actor_staff_id=999),
            None,
            422,
            "unknown_staff",
            "actor_staff_id",
        ),
        ("POST", "/staff", {"name": "S", "role": "wizard"}, None, 422, "unknown_role", "role"),
        (
            "PUT",
            "/settings",
            {"travel_radius_km": -1},
            None,
            422,
            "invalid_value",
            "travel_radius_km",
        ),
        (
            "PUT",
            "/settings",
            {"customer_notify": {"sms": True}},
            None,
            422,
            "unknown_field",
            "customer_notify.sms",
        ),
        (
            "PUT",
            "/roles/tech",
            {"permissions": ["fly"]},
            None,
            422,
            "invalid_value",
            "permissions.0",
        ),
        ("GET", "/bookings?limit=0", None, None, 422, "invalid_value", "limit"),
        ("GET", "/bookings?colour=red", None, None, 422, "unknown_field", "colour"),
    ]
    for method, path, body, raw, status, code, field in cases:
        answer = await call(client, method, path, body, raw=raw)
        assert_error(answer, status, code, field)
    bowtie = await call(client, "POST", "/fieldworkers", {**fw, "territories": BOWTIE})
    assert "Self-intersection" in bowtie[1]["error"]["message"]
    assert await counts() == before


# -- settings and CRUD ----------------------------------------------------------------------------


async def test_settings_merge_and_permission(client: TestClient) -> None:
    status, body = await call(client, "GET", "/settings")
    assert status == 200
    assert body == CompanySettings().model_dump(mode="json")

    status, body = await call(
        client, "PUT", "/settings", {"travel_radius_km": 40, "customer_notify": {"assigned": False}}
    )
    assert status == 200, body
    assert body["travel_radius_km"] == 40
    assert body["customer_notify"] == {
        "assigned": False,
        "no_acceptance_after_s": 1800,
        "unassigned_before_start": True,
        "fieldworker_cancelled": True,
        "fieldworker_changed": True,
        "rescheduled": True,
        "cancelled": True,
    }
    status, body = await call(client, "PUT", "/settings", {"dispatch_mode": "manual"})
    assert status == 200
    assert (body["dispatch_mode"], body["travel_radius_km"]) == ("manual", 40)
    assert body["customer_notify"]["assigned"] is False
    assert (await call(client, "GET", "/settings"))[1] == body

    staff = {}
    for name, role in (("vera", "viewer"), ("dora", "dispatcher"), ("otto", "owner")):
        staff[name] = (await call(client, "POST", "/staff", {"name": name, "role": role}))[1]["id"]
    for name in ("vera", "dora"):
        answer = await call(
            client, "PUT", "/settings", {"travel_radius_km": 5, "actor_staff_id": staff[name]}
        )
        assert_error(answer, 403, "forbidden")
        assert "manage_settings" in answer[1]["error"]["message"]
    status, body = await call(
        client, "PUT", f"/settings?actor_staff_id={staff['otto']}", {"travel_radius_km": 5}
    )
    assert (status, body["travel_radius_km"]) == (200, 5)
    # A viewer may read.
    status, _ = await call(client, "GET", f"/settings?actor_staff_id={staff['vera']}")
    assert status == 200


async def test_services_fieldworkers_staff_roles_crud(client: TestClient) -> None:
    # services
    status, plumb = await call(
        client,
        "POST",
        "/services",
        {"code": "plumb", "name": "Plumbing", "required_skills": ["gas-cert"]},
    )
    assert status == 201
    assert plumb == {
        "id": plumb["id"],
        "code": "plumb",
        "name": "Plumbing",
        "required_skills": ["gas-cert"],
    }
    assert_error(
        await call(client, "POST", "/services", {"code": "plumb", "name": "X"}),
        409,
        "duplicate",
        "code",
    )
    status, clean = await call(client, "POST", "/services", {"code": "clean", "name": "Cleaning"})
    assert status == 201
    status, body = await call(
        client, "PATCH", f"/services/{clean['id']}", {"name": "Deep cleaning"}
    )
    assert (status, body["name"], body["code"]) == (200, "Deep cleaning", "clean")
    assert_error(
        await call(client, "PATCH", f"/services/{clean['id']}", {"code": "plumb"}), 409, "duplicate"
    )
    assert_error(await call(client, "GET", "/services/999"), 404, "service_not_found")
    status, body = await call(client, "GET", "/services")
    assert [s["code"] for s in body] == ["plumb", "clean"]
    assert (await call(client, "GET", f"/services/{plumb['id']}"))[1] == plumb

    # fieldworkers
    full = {
        "name": "Ana Silva",
        "phone": "+351 912 345 678",
        "email": "ana@example.com",
        "telegram_user_id": 101,
        "channels": ["telegram", "sms"],
        "services": ["plumb"],
        "skills": ["gas-cert"],
        "custom_fields": {"language": ["pt", "es"]},
        "base_location": LISBON,
        "territories": PORTO_AREA,
        "working_hours": {"mon": [["08:00", "17:00"]], "sat": [["22:00", "06:00"]], "sun": []},
        "time_off": [{"start": "2030-07-01T00:00:00+01:00", "end": "2030-07-15T00:00:00+01:00"}],
        "status": "active",
        "timezone": "Europe/Lisbon",
    }
    status, ana = await call(client, "POST", "/fieldworkers", full)
    assert status == 201, ana
    assert ana["phone"] == "+351912345678"
    assert isinstance(ana["invite_code"], str) and len(ana["invite_code"]) >= 6
    assert ana["telegram_linked"] is False
    for key in (
        "name",
        "email",
        "telegram_user_id",
        "channels",
        "services",
        "skills",
        "custom_fields",
        "base_location",
        "working_hours",
        "status",
        "timezone",
    ):
        assert ana[key] == full[key], key
    assert ana["territories"]["type"] == "Polygon"
    assert [datetime.fromisoformat(o["start"]) for o in ana["time_off"]] == [
        datetime(2030, 6, 30, 23, tzinfo=UTC)
    ]
    assert_error(
        await call(client, "POST", "/fieldworkers", {"name": "B", "phone": "+351912345678"}),
        409,
        "duplicate",
        "phone",
    )
    assert_error(
        await call(client, "POST", "/fieldworkers", {"name": "B", "telegram_user_id": 101}),
        409,
        "duplicate",
        "telegram_user_id",
    )
    status, bruno = await call(client, "POST", "/fieldworkers", {"name": "Bruno"})
    assert status == 201
    assert (bruno["timezone"], bruno["channels"], bruno["working_hours"]) == (
        "UTC",
        ["telegram", "sms"],
        None,
    )
    assert bruno["invite_code"] != ana["invite_code"]
    assert_error(
        await call(client, "PATCH", f"/fieldworkers/{bruno['id']}", {"phone": "+351912345678"}),
        409,
        "duplicate",
        "phone",
    )
    assert_error(
        await call(client, "PATCH", f"/fieldworkers/{bruno['id']}", {"name": None}),
        422,
        "invalid_value",
        "name",
    )
    # The service `plumb` is in use now: its code cannot change.
    assert_error(
        await call(client, "PATCH", f"/services/{plumb['id']}", {"code": "plumbing"}),
        409,
        "service_in_use",
    )

    await t.Fieldworker.filter(id=ana["id"]).update(telegram_chat_id=555)
    status, body = await call(
        client,
        "PATCH",
        f"/fieldworkers/{ana['id']}",
        {"status": "restricted", "base_location": None, "territories": None, "working_hours": None},
    )
    assert status == 200, body
    assert (body["status"], body["base_location"], body["territories"], body["working_hours"]) == (
        "restricted",
        None,
        None,
        None,
    )
    assert body["telegram_linked"] is True
    assert body["invite_code"] == ana["invite_code"]
    status, body = await call(
        client, "PATCH", f"/fieldworkers/{ana['id']}", {"telegram_user_id": 202}
    )
    assert body["telegram_linked"] is False  # a new Telegram account must link again
    assert_error(await call(client, "GET", "/fieldworkers/999"), 404, "fieldworker_not_found")
    status, body = await call(client, "GET", "/fieldworkers?limit=1&offset=1")
    assert [f["id"] for f in body] == [bruno["id"]]

    # staff
    status, dora = await call(
        client,
        "POST",
        "/staff",
        {"name": "Dora", "role": "dispatcher", "telegram_user_id": 7, "phone": "+14155552671"},
    )
    assert status == 201, dora
    assert dora == {
        "id": dora["id"],
        "name": "Dora",
        "telegram_user_id": 7,
        "telegram_username": None,
        "phone": "+14155552671",
        "role": "dispatcher",
    }
    assert_error(
        await call(
            client, "POST", "/staff", {"name": "D2", "role": "viewer", "telegram_user_id": 7}
        ),
        409,
        "duplicate",
        "telegram_user_id",
    )
    status, body = await call(client, "PATCH", f"/staff/{dora['id']}", {"role": "viewer"})
    assert (status, body["role"]) == (200, "viewer")
    assert_error(
        await call(client, "PATCH", f"/staff/{dora['id']}", {"role": "ghost"}),
        422,
        "unknown_role",
        "role",
    )
    assert_error(
        await call(client, "PATCH", "/staff/999", {"role": "viewer"}), 404, "staff_not_found"
    )
    status, body = await call(client, "GET", "/staff")
    assert [s["name"] for s in body] == ["Dora"]

    # roles
    status, body = await call(client, "GET", "/roles/dispatcher")
    assert body == {
        "name": "dispatcher",
        "permissions": ["respond_on_behalf", "assign", "send_requests", "view"],
        "receives_alerts": True,
    }
    assert (await call(client, "GET", "/roles/owner"))[1]["permissions"] == [
        "respond_on_behalf",
        "assign",
        "send_requests",
        "manage_settings",
        "view",
    ]
    assert_error(await call(client, "GET", "/roles/ghost"), 404, "role_not_found")
    status, body = await call(
        client, "PUT", "/roles/tech-lead", {"permissions": ["view", "assign"]}
    )
    assert (status, body["permissions"], body["receives_alerts"]) == (
        201,
        ["assign", "view"],
        False,
    )
    status, body = await call(
        client, "PUT", "/roles/tech-lead", {"permissions": ["view"], "receives_alerts": True}
    )
    assert (status, body["permissions"], body["receives_alerts"]) == (200, ["view"], True)
    assert_error(
        await call(client, "PUT", "/roles/owner", {"permissions": ["view"]}),
        409,
        "owner_has_all_permissions",
    )
    status, _ = await call(
        client,
        "PUT",
        "/roles/owner",
        {
            "permissions": [
                "view",
                "assign",
                "send_requests",
                "respond_on_behalf",
                "manage_settings",
            ]
        },
    )
    assert status == 200
    await ensure_default_roles()  # idempotent, keeps custom roles
    status, body = await call(client, "GET", "/roles")
    assert [r["name"] for r in body] == ["dispatcher", "owner", "tech-lead", "viewer"]


# -- bookings -------------------------------------------------------------------------------------


async def test_auto_booking_asks_eligible_linked_fieldworkers(client: TestClient) -> None:
    ids = await seed(client)
    booking = await create_booking(client)
    assert set(booking) == {
        "id",
        "status",
        "dispatch_mode",
        "customer",
        "address",
        "location",
        "notes",
        "requirements",
        "created_at",
        "appointments",
        "jobs",
    }
    assert (booking["status"], booking["dispatch_mode"]) == ("open", "auto")
    assert booking["customer"] == {
        "name": "Rita Sousa",
        "phone": "+351912000111",
        "email": "rita@example.com",
    }
    assert booking["location"] == JOB_SITE
    assert booking["notes"] == "Ring twice"
    [job] = booking["jobs"]
    assert set(job) == {"id", "appointment", "service", "status", "fieldworker_id", "requests"}
    assert datetime.fromisoformat(job["appointment"]["start"]) == datetime.fromisoformat(MON_10)
    assert datetime.fromisoformat(job["appointment"]["end"]).utcoffset() is not None
    assert (job["service"], job["status"], job["fieldworker_id"]) == ("plumb", "offered", None)
    # Ana is eligible and linked; Bruno is eligible but cannot be reached; the others are excluded.
    [request] = job["requests"]
    assert request == {
        "id": request["id"],
        "fieldworker_id": ids["ana"],
        "status": "pending",
        "reason": None,
        "responded_by": None,
        "responded_at": None,
        "channel": None,
    }
    status, fetched = await call(client, "GET", f"/bookings/{booking['id']}")
    assert (status, fetched) == (200, booking)

    manual = await create_booking(client, dispatch_mode="manual", services=["plumb", "clean"])
    assert manual["dispatch_mode"] == "manual"
    assert [(j["service"], j["status"], j["requests"]) for j in manual["jobs"]] == [
        ("plumb", "unassigned", []),
        ("clean", "unassigned", []),
    ]
    status, listed = await call(client, "GET", "/bookings")
    assert [b["id"] for b in listed] == [manual["id"], booking["id"]]
    assert [b["id"] for b in (await call(client, "GET", "/bookings?limit=1&offset=1"))[1]] == [
        booking["id"]
    ]
    assert (await call(client, "GET", "/bookings?status=cancelled"))[1] == []

    # With fieldworker_id every job is assigned at creation.
    direct = await create_booking(client, fieldworker_id=ids["carla"])
    assert [(j["status"], j["fieldworker_id"]) for j in direct["jobs"]] == [
        ("assigned", ids["carla"])
    ]

    # The settings decide the mode when the booking does not.
    await call(client, "PUT", "/settings", {"dispatch_mode": "manual"})
    assert (await create_booking(client))["dispatch_mode"] == "manual"


async def test_manual_dispatch_flow(client: TestClient) -> None:
    ids = await seed(client)
    booking = await create_booking(
        client,
        dispatch_mode="manual",
        appointments=[{"start": MON_10, "end": MON_12}, {"start": MON_14, "end": MON_16}],
    )
    bid = booking["id"]
    job_a, job_b = (j["id"] for j in booking["jobs"])

    status, available = await call(client, "GET", f"/bookings/{bid}/available-fieldworkers")
    assert status == 200, available
    assert available["job_id"] == job_a
    assert {e["fieldworker_id"] for e in available["eligible"]} == {ids["ana"], ids["bruno"]}
    ana = next(e for e in available["eligible"] if e["fieldworker_id"] == ids["ana"])
    assert ana["name"] == "Ana Silva"
    assert ana["distance_km"] == round(haversine_km(Point(**LISBON), Point(**JOB_SITE)), 1)
    reasons = {e["fieldworker_id"]: e["reasons"] for e in available["excluded"]}
    assert reasons == {
        ids["carla"]: ["outside_radius"],
        ids["duarte"]: ["missing_service", "missing_skill"],
        ids["eva"]: ["inactive"],
        ids["filipa"]: ["outside_territory"],
        ids["gil"]: ["time_off"],
    }
    status, narrowed = await call(
        client, "GET", f"/bookings/{bid}/available-fieldworkers?job_id={job_b}"
    )
    assert narrowed["job_id"] == job_b
    other = await create_booking(client, dispatch_mode="manual")
    assert_error(
        await call(
            client, "GET", f"/bookings/{bid}/available-fieldworkers?job_id={other['jobs'][0]['id']}"
        ),
        404,
        "job_not_found",
        "job_id",
    )

    # Requests: Ana for both jobs; Bruno cannot be reached.
    status, sent = await call(
        client,
        "POST",
        f"/bookings/{bid}/job-requests",
        {"fieldworker_ids": [ids["ana"], ids["bruno"]]},
    )
    assert status == 200, sent
    assert len(sent["sent"]) == 2
    assert sent["skipped"] == {str(ids["bruno"]): "unreachable"}
    status, again = await call(
        client,
        "POST",
        f"/bookings/{bid}/job-requests",
        {"fieldworker_ids": [ids["ana"]], "job_ids": [job_a]},
    )
    assert again == {"sent": [], "skipped": {str(ids["ana"]): "already_pending"}}
    assert_error(
        await call(client, "POST", f"/bookings/{bid}/job-requests", {"fieldworker_ids": [999]}),
        404,
        "fieldworker_not_found",
    )

    # Accept job A on Ana's behalf (manual mode: collected, not yet assigned).
    status, answer = await call(
        client,
        "POST",
        f"/bookings/{bid}/respond",
        {"action": "accept", "fieldworker_id": ids["ana"], "job_ids": [job_a]},
    )
    assert status == 200, answer
    [result] = answer["results"]
    assert (result["job_id"], result["outcome"], result["status"]) == (
        job_a,
        "accepted",
        "accepted",
    )

    # A decline without a reason is refused and changes nothing.
    before = await counts()
    assert_error(
        await call(
            client,
            "POST",
            f"/bookings/{bid}/respond",
            {"action": "decline", "fieldworker_id": ids["ana"]},
        ),
        422,
        "reason_required",
        "reason",
    )
    assert await counts() == before
    status, answer = await call(
        client,
        "POST",
        f"/bookings/{bid}/respond",
        {
            "action": "decline",
            "fieldworker_id": ids["ana"],
            "job_ids": [job_b],
            "reason": "Too far",
        },
    )
    assert [(r["outcome"], r["status"]) for r in answer["results"]] == [("declined", "declined")]
    status, answer = await call(
        client,
        "POST",
        f"/bookings/{bid}/respond",
        {"action": "pend", "fieldworker_id": ids["ana"], "job_ids": [job_b]},
    )
    assert [(r["outcome"], r["status"]) for r in answer["results"]] == [("pended", "pending")]
    assert_error(
        await call(
            client,
            "POST",
            f"/bookings/{bid}/respond",
            {"action": "accept", "fieldworker_id": ids["carla"]},
        ),
        404,
        "request_not_found",
    )

    # Carla is outside the radius: refused unless forced; a refusal changes nothing.
    before = await counts()
    answer = await call(
        client,
        "POST",
        f"/bookings/{bid}/assign",
        {"fieldworker_id": ids["carla"], "job_ids": [job_a]},
    )
    assert_error(answer, 409, "not_eligible", "fieldworker_id")
    assert "outside_radius" in answer[1]["error"]["message"]
    assert await counts() == before
    status, answer = await call(
        client,
        "POST",
        f"/bookings/{bid}/assign",
        {"fieldworker_id": ids["carla"], "job_ids": [job_a], "force": True},
    )
    assert (status, answer) == (
        200,
        {"results": [{"job_id": job_a, "fieldworker_id": ids["carla"], "changed": True}]},
    )
    # Confirm Ana for job B: her pending request becomes accepted.
    status, answer = await call(
        client,
        "POST",
        f"/bookings/{bid}/assign",
        {"fieldworker_id": ids["ana"], "job_ids": [job_b]},
    )
    assert status == 200, answer

    status, booking = await call(client, "GET", f"/bookings/{bid}")
    a, b = booking["jobs"]
    assert (a["status"], a["fieldworker_id"]) == ("assigned", ids["carla"])
    assert requests_by_fieldworker(a)[ids["ana"]]["status"] == "withdrawn"
    assert (b["status"], b["fieldworker_id"]) == ("assigned", ids["ana"])
    ana_b = requests_by_fieldworker(b)[ids["ana"]]
    assert ana_b["status"] == "accepted"
    assert ana_b["responded_by"] == {"kind": "system", "id": None}
    assert ana_b["channel"] == "api"
    assert datetime.fromisoformat(ana_b["responded_at"]).utcoffset() is not None


async def test_job_requests_skip_jobs_a_fieldworker_is_not_eligible_for(
    client: TestClient,
) -> None:
    ids = await seed(client)
    booking = await create_booking(client, dispatch_mode="manual", services=["plumb", "clean"])
    bid = booking["id"]
    plumb, clean = (j["id"] for j in booking["jobs"])

    # Ana only plumbs, Duarte only cleans: each is asked for their own service's job only.
    status, sent = await call(
        client,
        "POST",
        f"/bookings/{bid}/job-requests",
        {"fieldworker_ids": [ids["ana"], ids["duarte"]]},
    )
    assert status == 200, sent
    assert sent["skipped"] == {str(ids["ana"]): "not_eligible", str(ids["duarte"]): "not_eligible"}
    status, got = await call(client, "GET", f"/bookings/{bid}")
    asked = {j["id"]: sorted(requests_by_fieldworker(j)) for j in got["jobs"]}
    assert asked == {plumb: [ids["ana"]], clean: [ids["duarte"]]}

    # Carla is outside the radius: skipped, unless staff force it.
    body = {"fieldworker_ids": [ids["carla"]], "job_ids": [plumb]}
    status, sent = await call(client, "POST", f"/bookings/{bid}/job-requests", body)
    assert (status, sent) == (200, {"sent": [], "skipped": {str(ids["carla"]): "not_eligible"}})
    status, sent = await call(
        client, "POST", f"/bookings/{bid}/job-requests", {**body, "force": True}
    )
    assert status == 200 and len(sent["sent"]) == 1 and sent["skipped"] == {}, sent


async def test_auto_accept_rebroadcast_and_cancel(client: TestClient) -> None:
    ids = await seed(client)
    booking = await create_booking(client)
    bid = booking["id"]
    assert [r["fieldworker_id"] for r in booking["jobs"][0]["requests"]] == [ids["ana"]]

    # Bruno links Telegram later: a rebroadcast asks him, and only him.
    await t.Fieldworker.filter(id=ids["bruno"]).update(telegram_chat_id=4242)
    status, answer = await call(client, "POST", f"/bookings/{bid}/rebroadcast")
    assert status == 200, answer
    assert len(answer["sent"]) == 1
    assert (await call(client, "POST", f"/bookings/{bid}/rebroadcast"))[1] == {"sent": []}

    status, answer = await call(
        client,
        "POST",
        f"/bookings/{bid}/respond",
        {"action": "accept", "fieldworker_id": ids["ana"]},
    )
    assert [(r["outcome"], r["status"]) for r in answer["results"]] == [("assigned", "accepted")]
    # Too late for Bruno: his request was withdrawn when Ana won.
    assert_error(
        await call(
            client,
            "POST",
            f"/bookings/{bid}/respond",
            {"action": "accept", "fieldworker_id": ids["bruno"]},
        ),
        409,
        "taken",
    )
    status, booking = await call(client, "GET", f"/bookings/{bid}")
    [job] = booking["jobs"]
    assert (job["status"], job["fieldworker_id"]) == ("assigned", ids["ana"])
    assert requests_by_fieldworker(job)[ids["bruno"]]["status"] == "withdrawn"

    assert_error(
        await call(
            client,
            "PATCH",
            f"/bookings/{bid}",
            {"appointments": [{"id": 999999, "start": MON_14, "end": MON_16}]},
        ),
        422,
        "appointment_not_found",
        "appointments.0.id",
    )
    status, booking = await call(
        client,
        "PATCH",
        f"/bookings/{bid}",
        {"notes": "Gate code 1234", "address": "Rua Augusta 2, Lisboa"},
    )
    assert (status, booking["notes"], booking["address"]) == (
        200,
        "Gate code 1234",
        "Rua Augusta 2, Lisboa",
    )
    status, booking = await call(client, "PATCH", f"/bookings/{bid}", {"status": "cancelled"})
    assert status == 200, booking
    assert booking["status"] == "cancelled"
    assert [j["status"] for j in booking["jobs"]] == ["cancelled"]
    assert requests_by_fieldworker(booking["jobs"][0])[ids["ana"]]["status"] == "withdrawn"
    assert (await call(client, "GET", "/bookings?status=cancelled"))[1][0]["id"] == bid
    # Cancelling again changes nothing; a cancelled booking cannot be changed or re-broadcast.
    assert (await call(client, "PATCH", f"/bookings/{bid}", {"status": "cancelled"}))[0] == 200
    assert_error(
        await call(client, "PATCH", f"/bookings/{bid}", {"notes": "x"}), 409, "booking_not_open"
    )
    assert_error(
        await call(client, "POST", f"/bookings/{bid}/rebroadcast"), 409, "booking_not_open"
    )
    assert_error(
        await call(client, "POST", f"/bookings/{bid}/assign", {"fieldworker_id": ids["ana"]}),
        409,
        "booking_not_open",
    )

    history = (await call(client, "GET", f"/bookings/{bid}/history"))[1]
    assert [h["action"] for h in history] == [
        "booking_created",
        "request_sent",
        "request_sent",
        "request_accepted",
        "job_assigned",
        "request_withdrawn",
        "booking_changed",
        "request_withdrawn",
        "booking_cancelled",
    ]
    changed = history[6]
    assert changed["details"]["changes"]["notes"] == {"from": "Ring twice", "to": "Gate code 1234"}


async def test_permission_refused_is_recorded_and_changes_nothing(client: TestClient) -> None:
    ids = await seed(client)
    booking = await create_booking(client)
    bid = booking["id"]
    before = await counts()

    answer = await call(
        client,
        "POST",
        f"/bookings/{bid}/assign",
        {"fieldworker_id": ids["ana"], "actor_staff_id": ids["vera"]},
    )
    assert_error(answer, 403, "forbidden")
    assert "assign" in answer[1]["error"]["message"]
    answer = await call(
        client,
        "POST",
        f"/bookings/{bid}/respond",
        {"action": "accept", "fieldworker_id": ids["ana"], "actor_staff_id": ids["vera"]},
    )
    assert_error(answer, 403, "forbidden")
    assert "respond_on_behalf" in answer[1]["error"]["message"]
    assert_error(
        await call(client, "POST", f"/bookings/{bid}/rebroadcast?actor_staff_id={ids['vera']}"),
        403,
        "forbidden",
    )
    after = await counts()
    assert after == {**before, "History": before["History"] + 3}
    assert (await call(client, "GET", f"/bookings/{bid}"))[1] == booking

    history = (await call(client, "GET", f"/bookings/{bid}/history"))[1]
    refused = [h for h in history if h["action"] == "permission_refused"]
    assert len(refused) == 3
    assert refused[0]["actor"] == {"kind": "staff", "id": ids["vera"], "name": "Vera"}
    assert refused[0]["details"]["permission"] == "assign"
    assert refused[1]["on_behalf_of"] == ids["ana"]
    assert refused[2]["details"]["permission"] == "send_requests"

    # Unknown staff is a bad input, not a refusal.
    assert_error(
        await call(client, "POST", f"/bookings/{bid}/rebroadcast?actor_staff_id=999"),
        422,
        "unknown_staff",
    )
    # A role change applies to the next call.
    status, _ = await call(
        client, "PUT", "/roles/viewer", {"permissions": ["view", "respond_on_behalf"]}
    )
    assert status == 200
    status, answer = await call(
        client,
        "POST",
        f"/bookings/{bid}/respond",
        {"action": "accept", "fieldworker_id": ids["ana"], "actor_staff_id": ids["vera"]},
    )
    assert status == 200, answer
    # The dispatcher reassigns; history names her.
    status, answer = await call(
        client,
        "POST",
        f"/bookings/{bid}/assign",
        {"fieldworker_id": ids["bruno"], "actor_staff_id": ids["dora"]},
    )
    assert status == 200, answer
    history = (await call(client, "GET", f"/bookings/{bid}/history"))[1]
    accepted = next(h for h in history if h["action"] == "request_accepted")
    assert accepted["actor"] == {"kind": "staff", "id": ids["vera"], "name": "Vera"}
    assert accepted["on_behalf_of"] == ids["ana"]
    reassigned = history[-2] if history[-1]["action"] == "request_withdrawn" else history[-1]
    assert reassigned["action"] == "job_reassigned"
    assert reassigned["actor"] == {"kind": "staff", "id": ids["dora"], "name": "Dora"}
    # Viewers may read.
    assert (await call(client, "GET", f"/bookings/{bid}/history?actor_staff_id={ids['vera']}"))[
        0
    ] == 200


async def test_history_and_notifications(client: TestClient) -> None:
    ids = await seed(client)
    booking = await create_booking(client)
    bid = booking["id"]
    request_id = booking["jobs"][0]["requests"][0]["id"]
    job_id = booking["jobs"][0]["id"]

    status, history = await call(client, "GET", f"/bookings/{bid}/history")
    assert status == 200
    assert [h["action"] for h in history] == ["booking_created", "request_sent"]
    created, sent = history
    assert set(created) == {
        "id",
        "at",
        "actor",
        "action",
        "on_behalf_of",
        "from_status",
        "to_status",
        "channel",
        "details",
        "job_id",
        "request_id",
    }
    assert created["actor"] == {"kind": "system", "id": None, "name": "api"}
    assert (created["to_status"], created["channel"], created["job_id"]) == ("open", "api", None)
    assert datetime.fromisoformat(created["at"]).utcoffset() is not None
    assert (sent["job_id"], sent["request_id"], sent["to_status"]) == (
        job_id,
        request_id,
        "pending",
    )
    assert sent["details"] == {"fieldworker_id": ids["ana"]}
    assert created["id"] < sent["id"]

    now = datetime.now(UTC)
    for recipient in ("9001", "9002"):
        await t.Notification.create(
            booking_id=bid,
            channel="telegram",
            recipient=recipient,
            template="job_request",
            body="New job",
            next_attempt_at=now,
        )
    await t.Notification.create(
        booking_id=bid,
        channel="sms",
        recipient="+351912000111",
        template="customer_assigned_sms",
        body="Ana will do your Plumbing",
        next_attempt_at=now,
    )
    await t.Notification.create(
        booking_id=None,
        channel="sms",
        recipient="+351912345678",
        template="help",
        body="Hi",
        next_attempt_at=now,
        status="failed",
        attempts=3,
        error="bounced",
    )
    status, notes = await call(client, "GET", f"/notifications?booking_id={bid}")
    assert status == 200
    assert [n["recipient"] for n in notes] == ["9001", "9002", "+351912000111"]
    # `template` is the event whose template wrote it (`/templates/{template}/{channel}`).
    assert [(n["template"], n["channel"], n["message_key"]) for n in notes] == [
        ("job_request", "telegram", "job_request"),
        ("job_request", "telegram", "job_request"),
        ("customer_assigned", "sms", "customer_assigned_sms"),
    ]
    assert set(notes[0]) == {
        "id",
        "booking_id",
        "channel",
        "recipient",
        "template",
        "message_key",
        "body",
        "status",
        "attempts",
        "error",
        "created_at",
    }
    assert (notes[0]["status"], notes[0]["attempts"], notes[0]["error"]) == ("queued", 0, None)
    everything = (await call(client, "GET", "/notifications"))[1]
    assert [(n["status"], n["error"]) for n in everything][-1] == ("failed", "bounced")
    assert_error(
        await call(client, "GET", f"/bookings/{bid + 100}/history"), 404, "booking_not_found"
    )


async def test_openapi_document(client: TestClient) -> None:
    async with client.get(API + "/openapi.json") as resp:
        assert resp.status == 200
        doc = json.loads(await resp.text())
    assert doc["openapi"].startswith("3.1")
    for route in ROUTES:
        assert route.method.lower() in doc["paths"][route.path], (route.method, route.path)
    schemas = doc["components"]["schemas"]
    for name in ("BookingIn", "BookingOut", "FieldworkerIn", "CompanySettings", "ErrorResponse"):
        assert name in schemas
    # Every reference resolves.
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref
    create = doc["paths"]["/bookings"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BookingIn"
    }
    assert "201" in create["responses"]
    assert schemas["BookingIn"]["additionalProperties"] is False


# -- bulk reassignment (a worker off sick) ---------------------------------------------------------


async def test_reassign_a_fieldworkers_jobs_in_a_range(client: TestClient) -> None:
    ids = await seed(client)
    status, hugo = await call(client, "POST", "/fieldworkers", fieldworker("Hugo Alves"))
    assert status == 201, hugo
    await t.Fieldworker.filter(id=hugo["id"]).update(telegram_chat_id=9999)
    in_range = await create_booking(client, fieldworker_id=ids["ana"])
    later = await create_booking(
        client,
        fieldworker_id=ids["ana"],
        appointments=[{"start": "2030-06-10T10:00:00+00:00", "end": "2030-06-10T12:00:00+00:00"}],
    )
    path = f"/fieldworkers/{ids['ana']}/reassign"
    span = {"from": "2030-06-03T00:00:00+00:00", "to": "2030-06-04T00:00:00+00:00"}

    before = await counts()
    assert_error(
        await call(client, "POST", path, {**span, "actor_staff_id": ids["vera"]}), 403, "forbidden"
    )
    assert_error(
        await call(client, "POST", path, {"from": span["to"], "to": span["from"]}),
        422,
        "end_before_start",
    )
    assert await counts() == before, "a refused reassign writes nothing"

    status, body = await call(client, "POST", path, {**span, "actor_staff_id": ids["dora"]})
    assert status == 200, body
    (result,) = body["results"]
    assert result["job_id"] == in_range["jobs"][0]["id"] and result["reassigned"] is True
    assert len(result["sent"]) == 1, "offered to the other eligible, reachable fieldworker"

    status, got = await call(client, "GET", f"/bookings/{in_range['id']}")
    job = got["jobs"][0]
    assert job["status"] == "offered" and job["fieldworker_id"] is None
    assert set(requests_by_fieldworker(job)) == {hugo["id"]}, "never back to Ana"
    status, got = await call(client, "GET", f"/bookings/{later['id']}")
    assert got["jobs"][0]["fieldworker_id"] == ids["ana"], "a job outside the range stays"

    status, history = await call(client, "GET", f"/bookings/{in_range['id']}/history")
    unassigned = [h for h in history if h["action"] == "job_unassigned"]
    assert len(unassigned) == 1
    assert unassigned[0]["actor"] == {"kind": "staff", "id": ids["dora"], "name": "Dora"}
    assert unassigned[0]["on_behalf_of"] == ids["ana"]

    status, body = await call(client, "POST", path, span)
    assert status == 200 and body["results"] == [], "nothing left to reassign"
