"""Who can possibly be eligible for a job, in terms a database answers from indexed columns.

`evaluate` (in `dispatch.eligibility`) checks every rule for every fieldworker it is given, which
is what staff need to see why somebody was left out, but it is too slow to run over a whole fleet
for each job sent out. Dispatching only needs the eligible ones, so storage first narrows the
fleet with `Narrowing` (status, service, a bounding box of the travel radius, the bounding box of
each fieldworker's territories) and `evaluate` ranks what is left.

The narrowing never drops anybody `evaluate` would find eligible: `admits` is its reference
definition (the fake unit of work applies it as written, storage in SQL), and a property test
holds both to "every eligible fieldworker is admitted". It may admit people who turn out not to be
eligible (skills, working hours, time off, a conflict, a base in the corner of the box): `evaluate`
decides those.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dispatch.eligibility import EARTH_RADIUS_KM, parse_territory
from dispatch.model import FieldworkerProfile, FieldworkerStatus, JobSpec, Point

# Boxes are widened by this much (relative, plus a few centimetres) so that floating-point
# rounding in the box arithmetic can never cut off a base `haversine_km` puts exactly on the radius.
_SLACK = 1e-6
_SLACK_DEG = 1e-7


@dataclass(frozen=True)
class Box:
    """Latitudes and longitudes in degrees, ranges inclusive, never across the antimeridian."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    def holds(self, point: Point) -> bool:
        """Whether the point lies in the box (edges included)."""
        return (
            self.min_lat <= point.lat <= self.max_lat and self.min_lon <= point.lon <= self.max_lon
        )


@dataclass(frozen=True)
class Narrowing:
    """A superset of the fieldworkers who may be eligible for one job.

    Admitted are the `active` fieldworkers offering `service_code` who either have no territories
    and a base inside one of the `reach` boxes, or have territories whose bounding box holds
    `location` and a base that is missing or inside one of the `reach` boxes.
    """

    service_code: str
    location: Point
    #: Every point within the travel radius of `location` lies in one of these (empty: none does).
    reach: tuple[Box, ...]

    def within_reach(self, point: Point) -> bool:
        """Whether the point lies in one of the `reach` boxes."""
        return any(box.holds(point) for box in self.reach)


def narrowing(job: JobSpec, travel_radius_km: float) -> Narrowing:
    """The narrowing for a job and the company's travel radius."""
    return Narrowing(job.service_code, job.location, reach_boxes(job.location, travel_radius_km))


def reach_boxes(centre: Point, radius_km: float) -> tuple[Box, ...]:
    """Boxes holding every point whose great-circle distance from `centre` is at most `radius_km`.

    The latitude band is exact (a degree of latitude is the same length everywhere); the longitude
    half-width is that of the meridians tangent to the circle, `asin(sin(d) / cos(lat))`, or the
    whole circle of longitudes when the radius reaches a pole. A range crossing the antimeridian
    is split in two boxes.
    """
    if not radius_km >= 0:  # negative or NaN: nobody is within it
        return ()
    angle = radius_km / EARTH_RADIUS_KM * (1 + _SLACK)  # radians
    reach_deg = math.degrees(angle) + _SLACK_DEG
    min_lat = max(-90.0, centre.lat - reach_deg)
    max_lat = min(90.0, centre.lat + reach_deg)
    if angle >= math.pi / 2 or abs(centre.lat) + reach_deg >= 90.0:
        return (Box(min_lat, max_lat, -180.0, 180.0),)
    half = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(centre.lat)))))
    half = half * (1 + _SLACK) + _SLACK_DEG
    west, east = centre.lon - half, centre.lon + half
    if half >= 180.0:
        return (Box(min_lat, max_lat, -180.0, 180.0),)
    if west < -180.0:
        return (Box(min_lat, max_lat, west + 360.0, 180.0), Box(min_lat, max_lat, -180.0, east))
    if east > 180.0:
        return (Box(min_lat, max_lat, west, 180.0), Box(min_lat, max_lat, -180.0, east - 360.0))
    return (Box(min_lat, max_lat, west, east),)


def territory_box(territories: Mapping[str, Any] | None) -> Box | None:
    """The bounding box of a fieldworker's territories; None when there are none or they are not
    an area (then they cover nothing: `evaluate` excludes that fieldworker as outside)."""
    if territories is None:
        return None
    area = parse_territory(territories)
    if area is None:
        return None
    # shapely's bounds are (min x, min y, max x, max y), GeoJSON x being the longitude. `covers`
    # is planar over the same coordinates, so whatever it covers lies within these bounds.
    min_lon, min_lat, max_lon, max_lat = area.bounds
    return Box(min_lat, max_lat, min_lon, max_lon)


def admits(rule: Narrowing, fieldworker: FieldworkerProfile, area: Box | None) -> bool:
    """The narrowing as a predicate; `area` is `territory_box(fieldworker.territories)`.

    Storage implements exactly this in SQL; the fake unit of work calls it.
    """
    if fieldworker.status != FieldworkerStatus.ACTIVE:
        return False
    if rule.service_code not in fieldworker.services:
        return False
    base = fieldworker.base_location
    if fieldworker.territories is None:
        return base is not None and rule.within_reach(base)
    return (
        area is not None and area.holds(rule.location) and (base is None or rule.within_reach(base))
    )
