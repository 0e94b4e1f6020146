"""Bug: an appointment in year 9999 or 0001 was a 500.

`9999-12-31T23:00:00-05:00` is year 10000 in UTC, and deadlines computed from an appointment
(`start - lead`) left what `datetime` can hold. Now every date-time from outside is within the years
the product can schedule (2000 to 2100, UTC): 422 beyond, and nothing is written.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.factories import add_service
from tests.integration.test_api import assert_error, call, counts


def booking(start: str, end: str) -> dict[str, object]:
    return {
        "customer": {"name": "C", "phone": None, "email": None},
        "address": "A",
        "location": {"lat": 52.5, "lon": 13.4},
        "services": ["plumb"],
        "appointments": [{"start": start, "end": end}],
    }


async def test_dates_beyond_the_schedulable_years_are_refused(api: TestClient) -> None:
    await add_service()
    before = await counts()
    for start, end in [
        ("9999-12-31T23:00:00-05:00", "9999-12-31T23:30:00-05:00"),
        ("0001-01-01T00:00:00+05:00", "0001-01-01T01:00:00+05:00"),
        ("2100-12-31T23:00:00-05:00", "2100-12-31T23:30:00-05:00"),  # 2101 in UTC
        ("1999-12-31T10:00:00+00:00", "1999-12-31T11:00:00+00:00"),
    ]:
        answer = await call(api, "POST", "/bookings", booking(start, end))
        assert_error(answer, 422, "invalid_value", "appointments.0.start")
    assert await counts() == before
    ok = await call(
        api, "POST", "/bookings", booking("2100-12-31T10:00:00Z", "2100-12-31T11:00:00Z")
    )
    assert ok[0] == 201, ok
