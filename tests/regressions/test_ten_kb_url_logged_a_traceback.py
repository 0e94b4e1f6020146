"""Bug: a 10 kB URL left a traceback in the service's log (an ERROR), for the client's error.

aiohttp refuses a request line longer than 8,190 bytes itself, before routing, with 400, and logs
it with the parser's traceback; any client could fill the log with them. The answer stays a 400
(a long URL within the limit reaches the API and is answered in the error shape), and the log
(`dispatchbot run`'s logging) says it in one WARNING line.
"""

from __future__ import annotations

import logging
import sys

from aiohttp.http_exceptions import LineTooLong
from aiohttp.test_utils import TestClient

from bot.cli import _client_error_in_one_line
from tests.integration.test_api import assert_error, call


async def test_long_urls_are_client_errors(api: TestClient) -> None:
    async with api.get("/api/v1/bookings?x=" + "a" * 10_000) as resp:
        assert resp.status == 400
    assert_error(await call(api, "GET", "/bookings?x=" + "a" * 7_000), 422, "unknown_field")
    headers = {"Authorization": "Bearer t"}
    async with api.get("/api/v1/bookings/" + "1" * 7_000, headers=headers) as resp:
        assert resp.status == 404  # thousands of digits: no such booking, not int()'s ValueError


def test_the_log_says_it_in_one_line() -> None:
    try:
        raise LineTooLong("/api/v1/bookings?x=aaaa", "8190")
    except LineTooLong:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        "",
        0,
        "Error handling request from %s",
        ("1.2.3.4",),
        exc_info,
    )
    assert _client_error_in_one_line(record) is True
    assert (record.levelname, record.exc_info) == ("WARNING", None)
    assert record.getMessage().startswith("Error handling request from 1.2.3.4: 400 Got more than")
