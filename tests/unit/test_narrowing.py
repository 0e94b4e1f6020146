"""Narrowing never loses an eligible fieldworker: evaluating the narrowed fleet (and
`eligible_only`, what dispatch runs on it) gives the same eligible list, in the same order, as
evaluating the whole fleet (property tests over random fleets, poles and the antimeridian
included); and dispatch through the fake asks exactly those."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from dispatch import offering
from dispatch.eligibility import EARTH_RADIUS_KM, eligible_only, evaluate, haversine_km
from dispatch.model import (
    Actor,
    Channel,
    DispatchMode,
    FieldworkerProfile,
    FieldworkerStatus,
    Interval,
    JobSpec,
    Point,
)
from dispatch.narrowing import admits, narrowing, reach_boxes, territory_box
from tests.unit.fakes import SITE, FakeUnitOfWork, book, near

START = datetime(2026, 12, 1, 9, tzinfo=UTC)  # a Tuesday


def destination(origin: Point, bearing_deg: float, distance_km: float) -> Point:
    """The point `distance_km` from `origin` along `bearing_deg` on the sphere eligibility uses."""
    lat1, lon1 = math.radians(origin.lat), math.radians(origin.lon)
    bearing, angle = math.radians(bearing_deg), distance_km / EARTH_RADIUS_KM
    lat2 = math.asin(
        math.sin(lat1) * math.cos(angle) + math.cos(lat1) * math.sin(angle) * math.cos(bearing)
    )
    lon2 = lon1 + math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(lat1),
        math.cos(angle) - math.sin(lat1) * math.sin(lat2),
    )
    lon = (math.degrees(lon2) + 540.0) % 360.0 - 180.0
    return Point(max(-90.0, min(90.0, math.degrees(lat2))), lon)


lats = st.one_of(
    st.floats(-90, 90),
    st.sampled_from([-90.0, -89.99, 89.99, 90.0, 0.0, 52.52, -33.9]),
)
lons = st.one_of(
    st.floats(-180, 180),
    st.sampled_from([-180.0, -179.99, 179.99, 180.0, 0.0, 13.4]),
)
points = st.builds(Point, lats, lons)
radii = st.one_of(st.floats(0, 300), st.sampled_from([0.0, 25.0, 5000.0, 20015.0, 30000.0, -1.0]))


@settings(max_examples=200, deadline=None)
@given(centre=points, radius=radii, bearing=st.floats(0, 360), fraction=st.floats(0, 1))
def test_every_point_within_the_radius_is_within_reach(
    centre: Point, radius: float, bearing: float, fraction: float
) -> None:
    rule_boxes = reach_boxes(centre, radius)
    for distance in (radius * fraction, radius, radius * (1 - 1e-12)):
        p = destination(centre, bearing, max(0.0, distance))
        if haversine_km(centre, p) <= radius:
            assert any(box.holds(p) for box in rule_boxes), (centre, radius, p)


def test_reach_is_split_at_the_antimeridian() -> None:
    boxes = reach_boxes(Point(-17.7, 179.9), 50)
    assert len(boxes) == 2
    assert any(b.holds(Point(-17.7, -179.9)) for b in boxes)
    assert not any(b.holds(Point(-17.7, 170.0)) for b in boxes)


def test_reach_around_a_pole_is_every_longitude() -> None:
    (box,) = reach_boxes(Point(89.9, 10), 50)
    assert (box.min_lon, box.max_lon, box.max_lat) == (-180.0, 180.0, 90.0)


def test_a_negative_radius_reaches_nobody() -> None:
    assert reach_boxes(Point(0, 0), -1) == ()


def square_around(centre: Point, half_deg: float) -> dict[str, Any]:
    x0, y0, x1, y1 = (
        centre.lon - half_deg,
        centre.lat - half_deg,
        centre.lon + half_deg,
        centre.lat + half_deg,
    )
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


@st.composite
def fleets(draw: st.DrawFn, job_at: Point) -> list[FieldworkerProfile]:
    """Fieldworkers around (and far from) the job: bases near the radius, territories that do
    or do not cover it, malformed ones, statuses, services, shifts, time off."""
    people = []
    for i in range(draw(st.integers(0, 25))):
        base = draw(
            st.one_of(
                st.none(),
                points,
                st.builds(
                    lambda b, d: destination(job_at, b, d), st.floats(0, 360), st.floats(0, 60)
                ),
            )
        )
        territories = draw(
            st.one_of(
                st.none(),
                st.builds(lambda h: square_around(job_at, h), st.floats(0.001, 2)),
                st.builds(square_around, points, st.floats(0.001, 5)),
                st.just({"type": "Point", "coordinates": [job_at.lon, job_at.lat]}),
                st.just({"type": "Polygon", "coordinates": "nonsense"}),
            )
        )
        people.append(
            FieldworkerProfile(
                id=i + 1,
                # Mostly people who could take the job, so that the places decide.
                status=draw(
                    st.sampled_from([FieldworkerStatus.ACTIVE] * 4 + list(FieldworkerStatus))
                ),
                services=draw(
                    st.sampled_from(
                        [frozenset({"plumb"})] * 3 + [frozenset({"paint", "Plumb"}), frozenset()]
                    )
                ),
                skills=frozenset(draw(st.sets(st.sampled_from(["gas"])))),
                custom_fields=draw(st.sampled_from([{}, {"van": "Yes "}, {"van": ["no", "yes"]}])),
                base_location=base,
                territories=territories,
                working_hours=draw(
                    st.sampled_from([None, None, {"tue": [("08:00", "17:00")]}, {"mon": []}])
                ),
                time_off=draw(
                    st.sampled_from([(), (), (), (Interval(START, START + timedelta(hours=1)),)])
                ),
                busy=draw(
                    st.sampled_from([(), (), (Interval(START, START + timedelta(hours=3)),)])
                ),
            )
        )
    return people


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), job_at=points, radius=radii)
def test_narrowed_fleet_gives_the_same_eligible_list(
    data: st.DataObject, job_at: Point, radius: float
) -> None:
    fleet = data.draw(fleets(job_at))
    job = JobSpec(
        1,
        "plumb",
        job_at,
        Interval(START, START + timedelta(hours=2)),
        custom_fields=data.draw(st.sampled_from([{}, {"van": "yes"}, {"van": ["no"]}])),
    )
    skills = data.draw(st.sampled_from([frozenset(), frozenset({"gas"})]))
    rule = narrowing(job, radius)
    narrowed = [fw for fw in fleet if admits(rule, fw, territory_box(fw.territories))]

    full = evaluate(job, fleet, travel_radius_km=radius, required_services_skills=skills)
    fast = evaluate(job, narrowed, travel_radius_km=radius, required_services_skills=skills)
    # What dispatch runs: the narrowed fleet, first failing rule drops a fieldworker.
    dispatched = eligible_only(
        job, narrowed, travel_radius_km=radius, required_services_skills=skills
    )

    assert fast.eligible == full.eligible == dispatched
    note(f"{len(full.eligible)} eligible of {len(fleet)}, {len(narrowed)} admitted")
    assert {e.fieldworker_id for e in full.eligible} <= {fw.id for fw in narrowed}


async def test_dispatch_asks_the_same_people_as_a_full_evaluation() -> None:
    uow = FakeUnitOfWork()
    uow.add_service("plumb")
    uow.add_service("paint")
    plumber = frozenset({"plumb"})
    uow.add_fieldworker(services=plumber, base_location=near(SITE, 3))
    uow.add_fieldworker(services=plumber, base_location=Point(48.14, 11.58))  # Munich
    uow.add_fieldworker(services=plumber, base_location=None, territories=square_around(SITE, 0.1))
    uow.add_fieldworker(services=frozenset({"paint"}), base_location=SITE)
    uow.add_fieldworker(services=plumber, base_location=near(SITE, 1))
    booked = await book(uow, "plumb", mode=DispatchMode.MANUAL)

    fast = await offering.eligible_ids(uow, booked.job_id)

    assert fast == (await offering.eligibility(uow, booked.job_id)).eligible_ids() == [5, 1, 3]
    await offering.dispatch_job(uow, booked.job_id, Actor.system(), Channel.SYSTEM)
    asked = [r.fieldworker_id for r in await uow.requests_of_job(booked.job_id)]
    assert asked == [5, 1, 3]
