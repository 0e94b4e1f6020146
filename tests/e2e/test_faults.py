"""Faults from outside, through the real process: a slow provider, a locked database.

A Twilio answer that takes seconds must not hold up Telegram messages to other people; a database
locked by another process makes `/healthz` say so, and once the lock is gone the service recovers
by itself, on both backends, without a restart.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import require_postgres, reset_postgres
from tests.e2e.conftest import Service, start_service
from tests.e2e.test_core_loop import book, requests_sent, seed

SMS_WORKER = "+4915120000009"


async def health(s: Service) -> int:
    """The status `/healthz` answers now."""
    async with s.http.get(f"{s.base}/healthz", timeout=aiohttp.ClientTimeout(total=10)) as resp:
        return resp.status


async def healthy_within(s: Service, seconds: float) -> None:
    """Poll `/healthz` until it answers 200; fail after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while await health(s) != 200:
        if loop.time() > deadline:
            raise AssertionError(f"healthz not 200 within {seconds}s of the lock's end")
        await asyncio.sleep(0.1)


def service_body(code: str) -> dict[str, Any]:
    """A new service: the smallest REST write."""
    return {"code": code, "name": code.title(), "required_skills": []}


async def test_a_slow_twilio_answer_holds_up_no_telegram_message(service: Service) -> None:
    s = service
    await seed(s)
    status, fw = await s.api(
        "POST",
        "/fieldworkers",
        {
            "name": "Sam Sms",
            "phone": SMS_WORKER,
            "channels": ["sms"],
            "services": ["plumb"],
            "base_location": {"lat": 52.52, "lon": 13.40},
            "timezone": "Europe/Berlin",
            "working_hours": None,
            "status": "active",
        },
    )
    assert status == 201, fw
    # Twilio answers the first SMS only after 6 s: slow, yet inside the sender's 10 s bound.
    s.sms.delay_next(6)
    await book(s)
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 3)
    for _ in range(100):
        if s.sms.held:
            break
        await asyncio.sleep(0.05)
    assert s.sms.held == 1, "the SMS request is under way"

    await book(
        s,
        appointments=[{"start": "2026-12-02T10:00:00+01:00", "end": "2026-12-02T12:00:00+01:00"}],
    )
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 6)
    assert s.sms.held == 1 and s.sms.messages == [], "Telegram went on while Twilio was slow"

    # Both SMS requests then go, in order, each once.
    messages = await s.sms.wait_for(SMS_WORKER, count=2, timeout=20)
    await asyncio.sleep(0.5)  # time for a duplicate to show up
    assert len(s.sms.messages_to(SMS_WORKER)) == 2, [m["body"][:40] for m in messages]


async def test_the_service_recovers_from_a_locked_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    # Writers give up waiting for the lock after 500 ms, so a write fails inside the outage.
    async for s in start_service(tmp_path, f"sqlite://{path}?busy_timeout=500"):
        assert (await s.api("POST", "/services", service_body("before")))[0] == 201
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")  # another process holds the file
            write = asyncio.create_task(s.api("POST", "/services", service_body("during")))
            assert await health(s) == 503, "health means the database can be written"
            await asyncio.sleep(0.5)
            assert not write.done(), "the write waits for the lock (and retries)"
            other.execute("ROLLBACK")
        finally:
            other.close()

        status, body = await asyncio.wait_for(write, 15)
        assert status == 201, body
        await healthy_within(s, 5)
        assert (await s.api("POST", "/services", service_body("after")))[0] == 201
        status, services = await s.api("GET", "/services")
        assert status == 200
        assert {x["code"] for x in services} >= {"before", "during", "after"}


@pytest.mark.postgres
async def test_the_service_recovers_from_a_locked_postgres_table(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    require_postgres()
    url = str(request.getfixturevalue("pg_url"))
    await reset_postgres(url)
    async for s in start_service(tmp_path, url):
        assert (await s.api("POST", "/services", service_body("before")))[0] == 201
        other = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
        try:
            lock = other.transaction()
            await lock.start()
            # Another client holds the tables a write needs: the REST write blocks, and
            # healthz's probe times out (a cancelled statement on a pooled connection).
            await other.execute("LOCK TABLE service, notification IN ACCESS EXCLUSIVE MODE")
            write = asyncio.create_task(s.api("POST", "/services", service_body("during")))
            assert await health(s) == 503, "health means the database can be written"
            assert await health(s) == 503
            assert not write.done(), "the write waits for the lock"
            await lock.rollback()
        finally:
            await other.close()

        status, body = await asyncio.wait_for(write, 15)
        assert status == 201, body
        await healthy_within(s, 5)
        assert (await s.api("POST", "/services", service_body("after")))[0] == 201
