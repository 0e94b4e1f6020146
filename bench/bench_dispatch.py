"""Prints dispatch figures on this machine: eligibility over many fieldworkers, and the time to
create-and-broadcast a booking and to decide a 50-way accept race on a real SQLite file.

    python bench/bench_dispatch.py [FIELDWORKERS]

Figures only; no assertion. Compare runs on the same machine.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from dispatch import bookings, responding
from dispatch.commands import Action
from dispatch.eligibility import evaluate
from dispatch.model import (
    Actor,
    ActorKind,
    Channel,
    DispatchMode,
    FieldworkerProfile,
    Interval,
    JobSpec,
    Point,
)
from dispatch.ports import NewBooking
from models import tables as t
from models.db import close_db, init_db
from models.transactions import Transactions

START = datetime(2026, 12, 1, 9, tzinfo=UTC)
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[13.0, 52.3], [13.8, 52.3], [13.8, 52.7], [13.0, 52.7], [13.0, 52.3]]],
}


def bench_eligibility(n: int) -> None:
    job = JobSpec(1, "plumb", Point(52.52, 13.40), Interval(START, START + timedelta(hours=2)))
    people = [
        FieldworkerProfile(
            id=i,
            services=frozenset({"plumb"}),
            base_location=Point(52.3 + (i % 50) / 100, 13.4),
            territories=SQUARE if i % 2 else None,
            timezone="Europe/Berlin",
            working_hours={"tue": [("07:00", "19:00")]},
            busy=(Interval(START - timedelta(hours=3), START - timedelta(hours=1)),),
        )
        for i in range(n)
    ]
    runs = []
    tracemalloc.start()
    for _ in range(20):
        t0 = time.perf_counter()
        result = evaluate(job, people, travel_radius_km=25)
        runs.append(time.perf_counter() - t0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"eligibility: {n} fieldworkers, median {statistics.median(runs) * 1000:.1f} ms, "
        f"{len(result.eligible)} eligible, peak {peak / 1024:.0f} KiB"
    )


async def bench_database(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await init_db(f"sqlite://{tmp}/bench.sqlite3")
        await t.Service.create(code="plumb", name="Plumbing")
        for i in range(n):
            await t.Fieldworker.create(
                name=f"W{i}",
                channels=["telegram"],
                telegram_chat_id=i + 1,
                services=["plumb"],
                base_lat=52.5,
                base_lon=13.4,
                invite_code=f"c{i}",
            )
        tx = Transactions()
        new = NewBooking(
            "C",
            None,
            None,
            "S",
            Point(52.5, 13.4),
            ("plumb",),
            (Interval(START, START + timedelta(hours=2)),),
            DispatchMode.AUTO,
        )
        t0 = time.perf_counter()
        await tx.run(lambda uow: bookings.create_booking(uow, new, Actor.system(), Channel.API))
        created = time.perf_counter() - t0
        ids = await t.JobRequest.all().values_list("id", "fieldworker_id")
        race = ids[:50]
        t0 = time.perf_counter()
        outcomes = await asyncio.gather(
            *(
                tx.run(
                    lambda uow, r=r, f=f: responding.respond(
                        uow, r, Action.ACCEPT, Actor(ActorKind.FIELDWORKER, f), Channel.TELEGRAM
                    )
                )
                for r, f in race
            )
        )
        decided = time.perf_counter() - t0
        await close_db()
    winners = sum(o.outcome.value == "assigned" for o in outcomes)
    print(f"create + broadcast to {len(ids)} fieldworkers (SQLite): {created * 1000:.0f} ms")
    print(
        f"{len(race)} simultaneous accepts decided in {decided * 1000:.0f} ms "
        f"({len(race) / decided:.0f}/s), winners: {winners}"
    )


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    bench_eligibility(size)
    asyncio.run(bench_database(size))
