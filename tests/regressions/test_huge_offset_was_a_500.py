"""Bug: `offset` of 2^63 or more on a list endpoint was a 500.

SQL's OFFSET is a signed 64-bit integer on SQLite and PostgreSQL; a larger one failed in the
driver. Now `offset` is bounded like every other number from outside: 422 beyond 2^63 - 1, and the
largest allowed one is an empty page. On both backends: the failure was each driver's.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

# Both backends (the root conftest's), over this folder's SQLite-only `db_url`.
from tests.conftest import db_url  # noqa: F401
from tests.integration.test_api import assert_error, call

LISTS = ("/bookings", "/services", "/fieldworkers", "/staff", "/notifications")


async def test_an_offset_beyond_64_bits_is_refused(api: TestClient) -> None:
    for path in LISTS:
        for offset in (2**63, 2**64, 10**30):
            assert_error(
                await call(api, "GET", f"{path}?offset={offset}"), 422, "invalid_value", "offset"
            )
        assert await call(api, "GET", f"{path}?offset={2**63 - 1}") == (200, [])
