"""Prints matching figures for one job over a company of many fieldworkers on a real database.

    python bench/bench_eligibility.py [FIELDWORKERS] [DATABASE_URL]

FIELDWORKERS (default 10000) are spread over 15 German cities (a quarter in Berlin), each doing
one or two of 9 services, a third with territories (a 24-sided polygon around their district),
most with weekday shifts in Europe/Berlin, some busy at the job's time. The job is plumbing in
central Berlin, radius 25 km. DATABASE_URL defaults to a temporary SQLite file; give a
`postgres://` URL (an empty database: the schema is created) to measure PostgreSQL.

Printed, median of repeated runs:
- straightforward: what dispatch did before narrowing: every fieldworker loaded as a model and
  checked one by one, each territory parsed by shapely and tested against the job;
- full: `offering.eligibility`, the explaining path (every fieldworker, with reasons) as it is
  now: stored rows decoded once per process, parsed territories kept;
- narrowed: `offering.eligible_ids`, the SQL narrowing then `evaluate` on what is left, and its
  ratio to the straightforward scan; all three find the same eligible list;
- create + broadcast: an auto-mode booking created in one transaction until its requests and
  outbox rows are committed ("requests queued").

Figures only; no assertion. Compare runs on the same machine.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections

from dispatch import bookings, offering
from dispatch.eligibility import evaluate, keeps_busy
from dispatch.model import Actor, Channel, DispatchMode, EligibilityResult, Interval, Point
from dispatch.ports import NewBooking
from dispatch.steps import job_spec
from models import tables as t
from models.db import close_db, init_db
from models.transactions import Transactions
from models.views import fieldworker_profile
from notifications.render import OutboxRenderer

START = datetime(2026, 12, 1, 9, tzinfo=UTC)  # a Tuesday, 10:00 in Berlin
BERLIN = Point(52.52, 13.40)
DRESDEN = Point(51.05, 13.74)
CITIES = [
    (BERLIN, 25),
    (Point(53.55, 9.99), 10),  # Hamburg
    (Point(48.14, 11.58), 10),  # Munich
    (Point(50.94, 6.96), 8),  # Cologne
    (Point(50.11, 8.68), 7),  # Frankfurt
    (Point(48.78, 9.18), 6),  # Stuttgart
    (Point(51.23, 6.78), 5),  # Düsseldorf
    (Point(51.34, 12.37), 5),  # Leipzig
    (Point(51.51, 7.47), 4),  # Dortmund
    (Point(51.46, 7.01), 4),  # Essen
    (Point(53.08, 8.80), 4),  # Bremen
    (DRESDEN, 4),
    (Point(52.37, 9.73), 3),  # Hanover
    (Point(49.45, 11.08), 3),  # Nuremberg
    (Point(52.40, 13.05), 2),  # Potsdam
]
SERVICES = ["plumb", "paint", "electric", "clean", "garden", "roof", "heat", "lock", "glass"]
SHIFTS = [
    {d: [["07:00", "19:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    {d: [["08:00", "16:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")},
    {"tue": [["12:00", "20:00"]], "thu": [["12:00", "20:00"]]},
    None,
]


def around(rng: random.Random, centre: Point, km: float) -> Point:
    """A point up to `km` from `centre`, uniformly over the disc."""
    r, angle = km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    return Point(
        centre.lat + r * math.cos(angle) / 111.2,
        centre.lon + r * math.sin(angle) / (111.2 * math.cos(math.radians(centre.lat))),
    )


def district(rng: random.Random, centre: Point) -> dict[str, Any]:
    """A 24-sided polygon of 5-15 km radius around a point near `centre`."""
    middle, radius = around(rng, centre, 10), rng.uniform(5, 15)
    ring = []
    for i in range(24):
        a = 2 * math.pi * i / 24
        ring.append(
            [
                middle.lon + radius * math.sin(a) / (111.2 * math.cos(math.radians(middle.lat))),
                middle.lat + radius * math.cos(a) / 111.2,
            ]
        )
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


async def seed(n: int) -> None:
    """The company: services and `n` fieldworkers (bulk-inserted, territory boxes included)."""
    rng = random.Random(10)
    for code in SERVICES:
        await t.Service.create(code=code, name=code.title())
    weights = [w for _, w in CITIES]
    rows = []
    for i in range(n):
        (city,) = rng.choices([c for c, _ in CITIES], weights)
        territories = district(rng, city) if rng.random() < 1 / 3 else None
        base = around(rng, city, 30)
        rows.append(
            t.Fieldworker(
                name=f"W{i}",
                channels=["telegram"],
                telegram_user_id=i + 1,
                telegram_chat_id=i + 1,
                services=rng.sample(SERVICES, rng.choice([1, 1, 2])),
                base_lat=base.lat,
                base_lon=base.lon,
                territories=territories,
                working_hours=rng.choice(SHIFTS),
                timezone="Europe/Berlin",
                status=rng.choice(["active"] * 18 + ["inactive", "restricted"]),
                invite_code=f"c{i}",
                **t.area_columns(territories),
            )
        )
    await t.Fieldworker.bulk_create(rows, batch_size=1000)
    # Some are busy at the job's time: one booking assigned to each of 200 of them.
    tx = Transactions()
    for fw_id in rng.sample(range(1, n + 1), min(200, n)):
        await tx.run(
            lambda uow, fw_id=fw_id: bookings.create_booking(
                uow,
                booking(DispatchMode.MANUAL, BERLIN),
                Actor.system(),
                Channel.API,
                fieldworker_id=fw_id,
            )
        )


def booking(mode: DispatchMode, at: Point) -> NewBooking:
    return NewBooking(
        "Carol",
        "+4915112345678",
        None,
        "Alexanderplatz 1",
        at,
        ("plumb",),
        (Interval(START, START + timedelta(hours=2)),),
        mode,
    )


async def straightforward(uow: Any, job_id: int) -> EligibilityResult:
    """Every fieldworker read as a model and evaluated: matching as it was before narrowing."""
    job = await uow.get_job(job_id)
    booking_view = await uow.get_booking(job.booking_id)
    rows = await t.Fieldworker.all().order_by("id")
    busy: dict[int, list[Interval]] = {}
    for row in await t.Job.filter(status="assigned").values(
        "id", "fieldworker_id", "booking_id", "appointment__start", "appointment__end"
    ):
        other = Interval(row["appointment__start"], row["appointment__end"])
        if row["id"] != job_id and keeps_busy(
            job.booking_id, job.appointment, row["booking_id"], other
        ):
            busy.setdefault(row["fieldworker_id"], []).append(other)
    return evaluate(
        job_spec(job, booking_view),
        [fieldworker_profile(fw, tuple(busy.get(fw.id, ()))) for fw in rows],
        travel_radius_km=(await uow.settings()).travel_radius_km,
    )


async def median_ms(fn: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float, Any]:
    """Median wall time and median CPU time of this process (all its threads, so the SQLite
    driver's too) in ms, and the last result. On a shared machine the CPU figure is the steadier."""
    await fn()  # warm: first-use imports and caches are not what we measure
    walls, cpus, result = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = await fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000, result


async def main(n: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await init_db(url or f"sqlite://{tmp}/bench.sqlite3")
        backend = "PostgreSQL" if (url or "").startswith("postgres") else "SQLite"
        t0 = time.perf_counter()
        await seed(n)
        print(f"{n} fieldworkers seeded on {backend} in {time.perf_counter() - t0:.1f} s")
        # Statistics as a settled database has them (PostgreSQL's autovacuum gathers them; a
        # fresh bulk load has none, and its planner then scans instead of using the indexes).
        # On PostgreSQL autovacuum also sets the visibility map, without which no index-only
        # scan can skip the table: a settled database has that too.
        settle = "VACUUM ANALYZE" if backend == "PostgreSQL" else "ANALYZE"
        await connections.get("default").execute_script(settle)
        tx = Transactions()
        booking_id = await tx.run(
            lambda uow: bookings.create_booking(
                uow, booking(DispatchMode.MANUAL, BERLIN), Actor.system(), Channel.API
            )
        )
        job_id = (await t.Job.get(booking_id=booking_id)).id

        plain_ms, plain_cpu, plain = await median_ms(
            lambda: tx.run(lambda uow: straightforward(uow, job_id)), 5
        )
        full_ms, full_cpu, full = await median_ms(
            lambda: tx.run(lambda uow: offering.eligibility(uow, job_id)), 10
        )
        fast_ms, fast_cpu, fast = await median_ms(
            lambda: tx.run(lambda uow: offering.eligible_ids(uow, job_id)), 100
        )
        same = fast == full.eligible_ids() == plain.eligible_ids()
        print(
            "straightforward (every fieldworker, per-fieldworker shapely): "
            f"{plain_ms:.1f} ms (CPU {plain_cpu:.1f} ms)"
        )
        print(f"full (every fieldworker, with reasons): {full_ms:.1f} ms (CPU {full_cpu:.1f} ms)")
        print(
            f"narrowed (SQL, then evaluate): {fast_ms:.2f} ms (CPU {fast_cpu:.2f} ms), "
            f"{len(fast)} eligible ({'same' if same else 'DIFFERENT'} in all three), "
            f"{plain_ms / fast_ms:.0f}x faster than straightforward"
        )

        # A job in a smaller city: fewer fieldworkers around, so fewer admitted.
        dresden_booking = await tx.run(
            lambda uow: bookings.create_booking(
                uow, booking(DispatchMode.MANUAL, DRESDEN), Actor.system(), Channel.API
            )
        )
        dresden_job = (await t.Job.get(booking_id=dresden_booking)).id
        small_ms, small_cpu, small = await median_ms(
            lambda: tx.run(lambda uow: offering.eligible_ids(uow, dresden_job)), 100
        )
        print(
            f"narrowed, a job in Dresden: {small_ms:.2f} ms (CPU {small_cpu:.2f} ms), "
            f"{len(small)} eligible"
        )

        renderer = OutboxRenderer(telegram_enabled=True, sms_enabled=True, company_timezone="UTC")
        queued = Transactions(renderer, sms_enabled=True)
        times = []
        for _ in range(5):
            before = await t.Notification.all().count()
            t0 = time.perf_counter()
            await queued.run(
                lambda uow: bookings.create_booking(
                    uow, booking(DispatchMode.AUTO, BERLIN), Actor.system(), Channel.API
                )
            )
            times.append(time.perf_counter() - t0)
            rows = await t.Notification.all().count() - before
        print(
            f"create + broadcast: {statistics.median(times) * 1000:.0f} ms to {rows} outbox rows "
            f"committed ({len(fast)} requests)"
        )
        await close_db()


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    asyncio.run(main(size, sys.argv[2] if len(sys.argv) > 2 else None))
