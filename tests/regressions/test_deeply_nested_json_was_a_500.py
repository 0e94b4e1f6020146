"""Bug: a JSON body nested deeper than about 1,000 levels was a 500 on every write endpoint.

`json.loads` recurses once per level and raises `RecursionError`, which is not a `ValueError`, so
it escaped the "not valid JSON" answer (the Telegram webhook caught it only by luck). Now a body is
measured before it is parsed: deeper than 64 levels is 400 `invalid_json` on every write
endpoint, and a 400 on the Telegram webhook; nothing is written.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from models import tables as t
from rest.api import ROUTES
from tests.integration.test_api import assert_error, call, counts
from tests.regressions.conftest import Webhooks

DEEP = "[" * 5000 + "]" * 5000
JUST_TOO_DEEP = '{"a":' * 65 + "1" + "}" * 65


def write_paths() -> list[tuple[str, str]]:
    """Every route with a body, path ids filled in."""
    return [
        (
            r.method,
            r.path.replace("{id}", "1")
            .replace("{name}", "crew")
            .replace("{event}", "job_request")
            .replace("{channel}", "telegram"),
        )
        for r in ROUTES
        if r.request is not None
    ]


async def test_every_write_endpoint_refuses_deep_json(api: TestClient) -> None:
    paths = write_paths()
    assert len(paths) >= 14, "the 14 write endpoints of the issue, and any added since"
    before = await counts()
    for method, path in paths:
        for body in (DEEP, JUST_TOO_DEEP):
            assert_error(await call(api, method, path, raw=body), 400, "invalid_json")
    assert await counts() == before


async def test_the_telegram_webhook_refuses_deep_json(webhooks: Webhooks) -> None:
    body = '{"update_id": 1, "message": ' + DEEP[:4000] + "}"
    assert await webhooks.update(body) == 400
    assert await t.InboundEvent.all().count() == 0
