"""Two instances on one PostgreSQL database behind one webhook URL, every fieldworker pressing
Accept on every request at once, through whichever instance the load balancer picks.

`CONTENDED_ACCEPTS` presses (default 1,000 in the suite; `CONTENDED_ACCEPTS=10000` for the full
figure) over bookings of ten fieldworkers each: every job ends with exactly one assignee, exactly
one accepted request and one `job_assigned` history row, and every press got an answer.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from emulators import TelegramEmulator, TwilioEmulator, make_callback_update, running
from notifications.callbacks import Op, RequestPress, pack
from tests.conftest import require_postgres, reset_postgres
from tests.e2e.conftest import AUTH, SID, Service, run_process

ACCEPTS = int(os.environ.get("CONTENDED_ACCEPTS", "1000"))
WORKERS = 10
CONCURRENCY = 32


async def setup(s: Service, bookings: int) -> list[int]:
    """Ten Telegram fieldworkers and `bookings` auto bookings; returns the booking ids."""
    status, _ = await s.api(
        "PUT", "/settings", {"nudge_after_s": 0, "customer_notify": {"no_acceptance_after_s": 0}}
    )
    assert status == 200
    status, _ = await s.api("POST", "/services", {"code": "plumb", "name": "Plumbing"})
    assert status == 201
    for i in range(WORKERS):
        status, body = await s.api(
            "POST",
            "/fieldworkers",
            {
                "name": f"Racer {i}",
                "phone": f"+4915130000{i:03d}",
                "telegram_user_id": 6100 + i,
                "channels": ["telegram"],
                "services": ["plumb"],
                "base_location": {"lat": 52.52, "lon": 13.40},
                "working_hours": None,
            },
        )
        assert status == 201, body
    ids = []
    for n in range(bookings):
        status, booking = await s.api(
            "POST",
            "/bookings",
            {
                "customer": {"name": f"Race {n}", "phone": None, "email": None},
                "address": "Alexanderplatz 1, Berlin",
                "location": {"lat": 52.5219, "lon": 13.4132},
                "services": ["plumb"],
                "appointments": [
                    {
                        "start": f"2030-01-{1 + n % 28:02d}T{8 + n % 10:02d}:00:00+00:00",
                        "end": f"2030-01-{1 + n % 28:02d}T{8 + n % 10:02d}:30:00+00:00",
                    }
                ],
            },
        )
        assert status == 201, booking
        ids.append(booking["id"])
    return ids


async def requests_of(s: Service, booking_ids: list[int]) -> list[tuple[int, int]]:
    """(request id, fieldworker's Telegram id) of every request, from the API."""
    _, fieldworkers = await s.api("GET", "/fieldworkers")
    telegram = {fw["id"]: fw["telegram_user_id"] for fw in fieldworkers}
    found = []
    for booking_id in booking_ids:
        _, booking = await s.api("GET", f"/bookings/{booking_id}")
        for job in booking["jobs"]:
            found += [(r["id"], telegram[r["fieldworker_id"]]) for r in job["requests"]]
    return found


@pytest.mark.postgres
async def test_contended_accepts_through_two_instances_assign_each_job_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    require_postgres()
    url = str(request.getfixturevalue("pg_url"))
    await reset_postgres(url)
    tg, sms = TelegramEmulator(), TwilioEmulator(account_sid=SID, auth_token=AUTH)
    async with running(tg.app) as tg_url, running(sms.app) as sms_url:
        async for a in run_process(tmp_path, url, tg, sms, tg_url, sms_url, name="a"):
            async for b in run_process(tmp_path, url, tg, sms, tg_url, sms_url, name="b"):
                booking_ids = await setup(a, max(1, ACCEPTS // WORKERS))
                presses = await requests_of(b, booking_ids)
                assert len(presses) == len(booking_ids) * WORKERS
                random.Random(7).shuffle(presses)
                statuses = await press_all((a, b), presses)
                assert set(statuses) == {200}
                await check(b, booking_ids, tg)


async def press_all(instances: tuple[Service, ...], presses: list[tuple[int, int]]) -> list[int]:
    """Every press, `CONCURRENCY` at a time, each through an instance picked at random."""
    gate = asyncio.Semaphore(CONCURRENCY)
    pick = random.Random(11)

    async def press(i: int, request_id: int, user: int) -> int:
        data = pack(RequestPress(Op.ACCEPT, request_id))
        update = make_callback_update(2_000_000 + i, user, data, message_chat_id=user, message_id=1)
        async with gate:
            return await pick.choice(instances).post_update(update)

    return list(await asyncio.gather(*(press(i, r, u) for i, (r, u) in enumerate(presses))))


async def check(s: Service, booking_ids: list[int], tg: TelegramEmulator) -> None:
    """One assignee, one accept and one `job_assigned` per job; every press answered."""
    for booking_id in booking_ids:
        _, booking = await s.api("GET", f"/bookings/{booking_id}")
        _, history = await s.api("GET", f"/bookings/{booking_id}/history")
        assigned: Counter[Any] = Counter(
            h["details"].get("job_id") for h in history if h["action"] == "job_assigned"
        )
        for job in booking["jobs"]:
            accepted = [r for r in job["requests"] if r["status"] == "accepted"]
            assert job["status"] == "assigned", job
            assert len(accepted) == 1, f"job {job['id']}: {len(accepted)} accepted requests"
            assert accepted[0]["fieldworker_id"] == job["fieldworker_id"]
            assert sum(assigned.values()) == 1, f"booking {booking_id}: {assigned}"
    answered = Counter(c.params["callback_query_id"] for c in tg.calls_of("answerCallbackQuery"))
    assert len(answered) == len(booking_ids) * WORKERS, "a press went unanswered"
    assert max(answered.values()) == 1, "a press was answered twice"
