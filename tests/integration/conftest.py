"""Fixtures of the REST integration tests: transactions that write the outbox as production does,
and the API sub-application served over HTTP in the time zone the test module names
(`API_TIMEZONE`, default UTC)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from models.access import ensure_default_roles
from models.transactions import Transactions
from rest.api import ApiContext, create_api
from tests.factories import transactions
from tests.integration.api import API, TOKEN


@pytest.fixture
def tx(db: str) -> Transactions:
    """Transactions that write the outbox rows of every event, as in production."""
    return transactions(outbox=True)


@pytest.fixture
async def client(tx: Transactions, request: pytest.FixtureRequest) -> AsyncIterator[TestClient]:
    """The REST API over HTTP, in the company time zone of the module's `API_TIMEZONE`."""
    await ensure_default_roles()
    timezone = getattr(request.module, "API_TIMEZONE", "UTC")
    app = web.Application()
    app.add_subapp(API, create_api(ApiContext(tx=tx, timezone=timezone, api_token=TOKEN)))
    async with TestClient(TestServer(app)) as c:
        yield c
