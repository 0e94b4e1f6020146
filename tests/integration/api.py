"""Calls to the REST sub-application for integration tests (the `client` fixture of
`tests/integration/conftest.py` serves it)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

TOKEN = "t"
API = "/api/v1"


async def call_with_headers(
    client: TestClient, method: str, path: str, body: Any = None
) -> tuple[int, Any, dict[str, str]]:
    """One API call as an integrator makes it; returns (status, decoded JSON, headers)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    async with client.request(method, API + path, data=data, headers=headers) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def call(client: TestClient, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One API call; returns (status, decoded JSON)."""
    status, answer, _ = await call_with_headers(client, method, path, body)
    return status, answer
