"""Bug: a GeoJSON Polygon whose ring was not closed was accepted (201/200).

RFC 7946 wants each ring closed (the last position equal to the first) with at least four
positions; shapely closes an open ring silently, so the API stored a territory other than the
one sent. Now such a ring is 422 `invalid_geometry`, in a Polygon and in a MultiPolygon.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.factories import add_fieldworker
from tests.integration.test_api import assert_error, call

OPEN = [[0, 0], [1, 0], [1, 1], [0, 1]]
CLOSED = [*OPEN, [0, 0]]


async def test_a_ring_must_be_closed(api: TestClient) -> None:
    fw = await add_fieldworker("Ana")
    path = f"/fieldworkers/{fw.id}"
    for territory in [
        {"type": "Polygon", "coordinates": [OPEN]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},  # closed, too short
        {"type": "MultiPolygon", "coordinates": [[CLOSED], [OPEN]]},
    ]:
        answer = await call(api, "PATCH", path, {"territories": territory})
        assert_error(answer, 422, "invalid_geometry", "territories")
    status, body = await call(
        api, "PATCH", path, {"territories": {"type": "Polygon", "coordinates": [CLOSED]}}
    )
    assert status == 200 and body["territories"]["coordinates"] == [CLOSED]
