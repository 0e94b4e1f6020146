"""Bug: `PUT /settings` saved `assignment_timeout_s` 10^12, and every later booking was a 500.

Durations had no upper bound, so a request's deadline (`now + timeout`) overflowed `datetime` in
every booking after that. Now every duration is whole seconds from 0 to 2,592,000 (30 days,
CONTRACT §4): 422 beyond, nothing saved; and a value saved before the bound existed reads as its
default instead of failing every command that reads the settings.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from dispatch.settings import MAX_DURATION_S
from models import tables as t
from tests.factories import add_fieldworker, add_service
from tests.integration.test_api import assert_error, call


def booking() -> dict[str, object]:
    return {
        "customer": {"name": "C", "phone": None, "email": None},
        "address": "A",
        "location": {"lat": 52.52, "lon": 13.40},
        "services": ["plumb"],
        "appointments": [{"start": "2030-06-03T10:00:00Z", "end": "2030-06-03T12:00:00Z"}],
    }


async def test_durations_are_bounded_and_a_stored_huge_one_is_harmless(api: TestClient) -> None:
    for body, field in [
        ({"assignment_timeout_s": 10**12}, "assignment_timeout_s"),
        ({"unassigned_alert_lead_s": MAX_DURATION_S + 1}, "unassigned_alert_lead_s"),
        (
            {"customer_notify": {"no_acceptance_after_s": 10**12}},
            "customer_notify.no_acceptance_after_s",
        ),
    ]:
        assert_error(await call(api, "PUT", "/settings", body), 422, "invalid_value", field)
    assert await t.CompanySettingsRow.all().count() == 0
    status, saved = await call(api, "PUT", "/settings", {"assignment_timeout_s": MAX_DURATION_S})
    assert status == 200 and saved["assignment_timeout_s"] == MAX_DURATION_S

    # A value stored before the bound existed: it reads as the default, and bookings work.
    await t.CompanySettingsRow.filter(id=1).update(data={**saved, "assignment_timeout_s": 10**12})
    assert (await call(api, "GET", "/settings"))[1]["assignment_timeout_s"] == 900
    await add_service()
    await add_fieldworker("Ana", telegram=601)
    status, created = await call(api, "POST", "/bookings", booking())
    assert status == 201, created
    assert created["jobs"][0]["status"] == "offered"
