"""Matching on the real database (SQLite and PostgreSQL): the fleet narrowed in SQL gives the same
eligible fieldworkers, in the same order, as evaluating every fieldworker; the SQL narrowing admits
exactly whom `dispatch.narrowing.admits` admits; territories' bounding boxes follow every write."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dispatch import offering
from dispatch.model import DispatchMode, Point
from dispatch.narrowing import admits, narrowing, territory_box
from dispatch.steps import job_spec
from models import tables as t
from models.migrations import __name__ as migrations_package
from rest.importer import import_file
from tests.factories import (
    START,
    add_fieldworker,
    add_service,
    create_booking,
    save_settings,
    transactions,
)

SITES = [
    Point(52.52, 13.40),  # Berlin
    Point(52.40, 13.05),  # Potsdam, 30 km away
    Point(-17.71, 179.95),  # Fiji, beside the antimeridian
    Point(89.95, 0.0),  # by the North Pole
    Point(0.0, 0.0),
]


def square(centre: Point, half_deg: float) -> dict[str, Any]:
    x0, x1 = centre.lon - half_deg, centre.lon + half_deg
    y0, y1 = centre.lat - half_deg, centre.lat + half_deg
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def around(rng: random.Random, site: Point, km: float) -> Point:
    """A point up to about `km` from `site` (wrapped at the antimeridian, clamped at the poles)."""
    lat = max(-90.0, min(90.0, site.lat + rng.uniform(-km, km) / 111.2))
    lon = (site.lon + rng.uniform(-km, km) / 70.0 + 540.0) % 360.0 - 180.0
    return Point(lat, lon)


async def random_fleet(rng: random.Random, n: int) -> None:
    """`n` fieldworkers around the sites: every combination of base, territories, status,
    services, shifts and time off that matching distinguishes."""
    for i in range(n):
        site = rng.choice(SITES)
        base = rng.choice([None, around(rng, site, 40), around(rng, site, 400)])
        territories = rng.choice(
            [
                None,
                None,
                square(around(rng, site, 20), rng.uniform(0.05, 1.0)),
                {
                    "type": "MultiPolygon",
                    "coordinates": [
                        square(around(rng, site, 300), 0.5)["coordinates"],
                        square(around(rng, site, 10), 0.3)["coordinates"],
                    ],
                },
                {"type": "Point", "coordinates": [site.lon, site.lat]},  # not an area
            ]
        )
        off = START + timedelta(hours=rng.choice([-30, 0, 30]))
        await add_fieldworker(
            f"W{i}",
            at=base,
            services=rng.choice([["plumb"], ["plumb", "paint"], ["paint"], ["Plumb"], []]),
            territories=territories,
            status=rng.choice(["active", "active", "active", "inactive", "restricted"]),
            working_hours=rng.choice([None, None, {"tue": [["08:00", "17:00"]]}, {"mon": []}]),
            time_off=[{"start": off.isoformat(), "end": (off + timedelta(hours=1)).isoformat()}],
        )


async def both_ways(uow: Any, job_id: int) -> tuple[list[int], list[int]]:
    """(fast path, full evaluation) eligible ids; asserts SQL admits whom `admits` admits."""
    fast = await offering.eligible_ids(uow, job_id)
    full = (await offering.eligibility(uow, job_id)).eligible_ids()
    job = await uow.get_job(job_id)
    radius = (await uow.settings()).travel_radius_km
    rule = narrowing(job_spec(job, await uow.get_booking(job.booking_id)), radius)
    in_sql = [p.id for p in await uow.candidates(job, narrowing=rule)]
    everyone = await uow.candidates(job)
    reference = [p.id for p in everyone if admits(rule, p, territory_box(p.territories))]
    assert in_sql == reference
    return fast, full


async def test_narrowed_matching_equals_full_evaluation(db: str) -> None:
    rng = random.Random(10)
    await add_service("plumb")
    await add_service("paint")
    await random_fleet(rng, 240)
    tx = transactions()
    found = 0
    for site in SITES:
        for radius in (0.01, 25, 300, 20000):
            await save_settings(travel_radius_km=radius)
            booking = await create_booking(tx, DispatchMode.MANUAL, at=around(rng, site, 5))
            job = await t.Job.get(booking_id=booking)

            fast, full = await tx.run(lambda uow, job_id=job.id: both_ways(uow, job_id))

            assert fast == full, (site, radius)
            found += len(full)
    assert found > 50  # the fleet is not one nobody could take


async def test_busy_fieldworker_is_left_out_by_both_paths(db: str) -> None:
    await add_service("plumb")
    busy = await add_fieldworker("Busy")
    free = await add_fieldworker("Free", at=Point(52.53, 13.40))
    tx = transactions()
    await create_booking(tx, DispatchMode.MANUAL, address="Elsewhere 1", fieldworker_id=busy.id)
    booking = await create_booking(tx, DispatchMode.MANUAL)
    job = await t.Job.get(booking_id=booking)

    fast = await tx.run(lambda uow: offering.eligible_ids(uow, job.id))
    full = await tx.run(lambda uow: offering.eligibility(uow, job.id))

    assert fast == full.eligible_ids() == [free.id]
    assert [e.reasons for e in full.excluded] == [("schedule_conflict",)]


async def test_territory_box_follows_every_write(db: str, tmp_path: Path) -> None:
    here = Point(52.52, 13.40)
    fw = await add_fieldworker(
        "Tess", at=None, territories=square(here, 0.1), phone="+4915100000001"
    )
    stored = await t.Fieldworker.get(id=fw.id)
    assert (stored.area_min_lat, stored.area_max_lon) == (52.42, 13.5)

    fw.territories = None
    await fw.save(update_fields=["territories"])
    assert (await t.Fieldworker.get(id=fw.id)).area_min_lat is None

    far = square(Point(48.14, 11.58), 0.2)
    path = tmp_path / "areas.geojson"
    feature = {"type": "Feature", "geometry": far, "properties": {"fieldworker_id": fw.id}}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    assert (await import_file("territories", path)).errors == []
    stored = await t.Fieldworker.get(id=fw.id)
    assert (stored.area_min_lat, stored.area_max_lat) == (48.14 - 0.2, 48.14 + 0.2)


async def test_migration_fills_the_boxes_of_existing_territories(db: str) -> None:
    from importlib import import_module

    migration = import_module(f"{migrations_package}.0005_fieldworker_search")
    fw = await add_fieldworker("Old", at=None, territories=square(Point(1.0, 2.0), 0.5))
    await t.Fieldworker.filter(id=fw.id).update(area_min_lat=None, area_max_lat=None)
    conn = t.Fieldworker._meta.db

    await migration.forward(None, SimpleNamespace(client=conn))

    stored = await t.Fieldworker.get(id=fw.id)
    assert (stored.area_min_lat, stored.area_max_lat, stored.area_min_lon) == (0.5, 1.5, 1.5)


async def test_any_write_of_services_or_status_reaches_the_narrowing(db: str) -> None:
    # The search rows are kept by triggers, so even a bulk UPDATE that bypasses the models counts.
    await add_service("plumb")
    await add_service("paint")
    ann = await add_fieldworker("Ann", services=["paint"])
    bob = await add_fieldworker("Bob", status="inactive")
    tx = transactions()
    booking = await create_booking(tx, DispatchMode.MANUAL)
    job = await t.Job.get(booking_id=booking)

    async def eligible() -> list[int]:
        return await tx.run(lambda uow: offering.eligible_ids(uow, job.id))

    assert await eligible() == []
    await t.Fieldworker.filter(id=ann.id).update(services=["paint", "plumb", "plumb"])
    await t.Fieldworker.filter(id=bob.id).update(status="active")
    assert await eligible() == [ann.id, bob.id]
    await t.Fieldworker.filter(id=ann.id).update(base_lat=48.14, base_lon=11.58)  # Munich
    await t.Fieldworker.filter(id=bob.id).delete()
    assert await eligible() == []
