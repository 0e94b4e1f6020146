"""Which fieldworkers may be asked to take a job, and why the others may not.

Pure functions over the views in `dispatch.model`: no I/O, no storage, no clock. Every rule is
checked for every fieldworker so that staff see all the reasons at once, not just the first.

Malformed profile data (an unknown timezone, a shift like `"8am"`, a territory that is not a
polygon) excludes that one fieldworker under the matching reason instead of raising: one bad
profile must not stop a job from being offered to everybody else, and the reason code tells staff
where to look.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from types import MappingProxyType
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from dispatch.hours import within_working_hours
from dispatch.model import (
    EligibilityResult,
    Eligible,
    Excluded,
    ExclusionReason,
    FieldworkerProfile,
    FieldworkerStatus,
    Interval,
    JobSpec,
    Point,
)

#: Mean Earth radius in km; the spherical model is off by at most ~0.5 %, far below what matters
#: for a travel radius.
EARTH_RADIUS_KM = 6371.0

# The enum's declaration order is the contract's order; reasons are reported in it so that the
# output does not depend on the order the checks happen to run in.
_REASON_ORDER: dict[ExclusionReason, int] = {reason: i for i, reason in enumerate(ExclusionReason)}

# Parsed areas of read-only territories, across calls; each entry keeps its mapping alive so that
# the id cannot be reused by another object while the entry exists.
_KEPT_AREAS: dict[int, tuple[Mapping[str, Any], BaseGeometry | None]] = {}
_KEPT_AREAS_MAX = 50_000

# What a territory may be once parsed; anything else (a Point, a LineString...) covers nothing.
_AREA_TYPES = frozenset({"Polygon", "MultiPolygon"})

# Anything that can go wrong turning a user-supplied GeoJSON mapping into a geometry.
_GEOMETRY_ERRORS = (ShapelyError, ValueError, TypeError, KeyError, IndexError, AttributeError)


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance in kilometres between two WGS84 points on a spherical Earth."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    # Rounding can push `h` a hair above 1 for antipodal points, which asin rejects.
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def keeps_busy(
    job_booking_id: int, job_appointment: Interval, other_booking_id: int, other: Interval
) -> bool:
    """Whether another job assigned to a fieldworker makes them busy for this one.

    It does when the two appointments overlap, except for a job of the same visit: the same
    booking at exactly the same appointment (start and end). One fieldworker may do every service
    of one visit (a booking of plumbing and painting is two jobs at one time), so those jobs never
    conflict with one another. Storage adapters call this to fill `FieldworkerProfile.busy`.
    """
    if not other.overlaps(job_appointment):
        return False
    return not (other_booking_id == job_booking_id and other == job_appointment)


def evaluate(
    job: JobSpec,
    fieldworkers: Iterable[FieldworkerProfile],
    *,
    travel_radius_km: float,
    required_services_skills: frozenset[str] = frozenset(),
) -> EligibilityResult:
    """Split `fieldworkers` into those who may be asked to take `job` and those who may not.

    A fieldworker is excluded with every `ExclusionReason` that applies:

    - `inactive` / `restricted`: their status is not `active` (an unknown status counts as
      `inactive`).
    - `outside_radius`: the great-circle distance from `base_location` to the job is greater than
      `travel_radius_km` (exactly on the radius is inside). Without a `base_location` they are
      outside unless they have territories, which then decide alone.
    - `outside_territory`: they have territories and these do not cover the job's location
      (edges count as inside, holes as outside).
    - `missing_service`: `job.service_code` is not one of their services.
    - `missing_skill`: they lack one of `required_services_skills | job.required_skills`.
    - `custom_field_mismatch`: for some key of `job.custom_fields`, the fieldworker's value under
      that key does not match. Values are compared as text ignoring case and surrounding
      whitespace (`str(x).strip().casefold()`), so `"Yes"` matches `" YES "` and `3` matches `"3"`
      (but `3.0` does not). A list, tuple or set is a set of values: on the fieldworker's side it
      matches when it contains the required value; on the job's side it means "any of these". A
      match needs one value in common, so an empty list on the fieldworker's side never matches;
      a requirement with no value (None, "" or an empty list) asks for nothing, and a key the
      fieldworker does not have is a mismatch.
    - `outside_working_hours`: the whole appointment is not inside their shifts, read in their
      own timezone (`working_hours=None` means always available).
    - `time_off` / `schedule_conflict`: a time-off or busy interval overlaps the appointment
      (touching ends do not overlap). `busy` holds only what `keeps_busy` counts: another job of
      the same visit is not a conflict.

    Eligible fieldworkers come nearest first, those without a known distance last, ties by id.
    Excluded ones keep the input order and carry their distance when it is known.

    Raises `ValueError` when the job's appointment has naive datetimes: there is no right answer
    to "which wall clock did you mean", and guessing would silently offer the wrong people.
    """
    context = _JobContext.build(job, required_services_skills)
    # One parsed, prepared geometry per territories object: fieldworkers of the same team usually
    # share one mapping, and parsing GeoJSON is by far the most expensive step here. The mapping
    # itself is kept in the value so its id cannot be reused by another object during the call.
    territory_cache: dict[int, tuple[Mapping[str, Any], BaseGeometry | None]] = {}
    # Working hours are the costliest check left, and a team usually shares one shift table: the
    # verdict depends only on the table and the timezone, so it is computed once per distinct
    # table (by text: `repr` of JSON-like data is exact, equal text means equal data).
    hours_cache = _HoursCache()

    eligible: list[Eligible] = []
    excluded: list[Excluded] = []
    for fieldworker in fieldworkers:
        distance_km = (
            haversine_km(fieldworker.base_location, job.location)
            if fieldworker.base_location is not None
            else None
        )
        reasons = _reasons(
            fieldworker, context, distance_km, travel_radius_km, territory_cache, hours_cache
        )
        if reasons:
            excluded.append(Excluded(fieldworker.id, reasons, distance_km))
        else:
            eligible.append(Eligible(fieldworker.id, distance_km))

    eligible.sort(key=_nearest_first)
    return EligibilityResult(eligible=tuple(eligible), excluded=tuple(excluded))


def eligible_only(
    job: JobSpec,
    fieldworkers: Iterable[FieldworkerProfile],
    *,
    travel_radius_km: float,
    required_services_skills: frozenset[str] = frozenset(),
) -> tuple[Eligible, ...]:
    """`evaluate(...).eligible`, without the reasons of the others: what dispatch needs.

    The same rules through the same checks, but a fieldworker is dropped at the first one they
    fail, the cheapest first (status, service, skills, radius, custom fields, time, then the
    territory test), instead of collecting every reason. Same list in the same order as
    `evaluate` (a property test holds the two together); raises as `evaluate` does.
    """
    context = _JobContext.build(job, required_services_skills)
    territory_cache: dict[int, tuple[Mapping[str, Any], BaseGeometry | None]] = {}
    hours_cache = _HoursCache()
    found: list[Eligible] = []
    for fieldworker in fieldworkers:
        if (
            fieldworker.status != FieldworkerStatus.ACTIVE
            or job.service_code not in fieldworker.services
            or not context.required_skills <= fieldworker.skills
        ):
            continue
        distance_km = (
            haversine_km(fieldworker.base_location, job.location)
            if fieldworker.base_location is not None
            else None
        )
        if distance_km is not None and distance_km > travel_radius_km:
            continue
        if not _custom_fields_match(context.custom_fields, fieldworker.custom_fields):
            continue
        if _time_reasons(fieldworker, context.appointment_utc, hours_cache):
            continue
        if _place_reasons(fieldworker, context, distance_km, travel_radius_km, territory_cache):
            continue
        found.append(Eligible(fieldworker.id, distance_km))
    found.sort(key=_nearest_first)
    return tuple(found)


def _nearest_first(e: Eligible) -> tuple[bool, float, int]:
    """Nearest first, those without a known distance last, ties by id."""
    return (e.distance_km is None, e.distance_km or 0.0, e.fieldworker_id)


@dataclass
class _HoursCache:
    """Working-hours verdicts within one `evaluate` call."""

    by_text: dict[tuple[str, str], bool] = field(default_factory=dict)
    by_id: dict[tuple[int, str], tuple[Mapping[str, Any], bool]] = field(default_factory=dict)


@dataclass(frozen=True)
class _JobContext:
    """What every fieldworker is checked against, computed once per job."""

    job: JobSpec
    point: ShapelyPoint
    required_skills: frozenset[str]
    # key -> normalised set of acceptable values
    custom_fields: tuple[tuple[str, frozenset[str]], ...]
    appointment_utc: Interval

    @classmethod
    def build(cls, job: JobSpec, required_services_skills: frozenset[str]) -> _JobContext:
        start, end = job.appointment.start, job.appointment.end
        if start.utcoffset() is None or end.utcoffset() is None:
            raise ValueError(f"job {job.job_id}: appointment datetimes must be timezone-aware")
        return cls(
            job=job,
            # GeoJSON order is (lon, lat).
            point=ShapelyPoint(job.location.lon, job.location.lat),
            required_skills=frozenset(required_services_skills) | job.required_skills,
            # A requirement with no value (None, "", []) asks for nothing: a booking form that
            # sends an empty multi-select must not exclude every fieldworker.
            custom_fields=tuple(
                (key, values)
                for key, value in job.custom_fields.items()
                if value is not None and (values := _normalised_values(value)) - {""}
            ),
            # Comparisons happen in UTC: Python compares two datetimes that share a tzinfo by
            # wall clock alone, which is wrong across a DST change.
            appointment_utc=Interval(start.astimezone(UTC), end.astimezone(UTC)),
        )


def _reasons(
    fieldworker: FieldworkerProfile,
    context: _JobContext,
    distance_km: float | None,
    travel_radius_km: float,
    territory_cache: dict[int, tuple[Mapping[str, Any], BaseGeometry | None]],
    hours_cache: _HoursCache,
) -> tuple[ExclusionReason, ...]:
    """Every reason `fieldworker` may not take the job, in contract order; empty when eligible."""
    job = context.job
    found: set[ExclusionReason] = set()

    if fieldworker.status != FieldworkerStatus.ACTIVE:
        found.add(
            ExclusionReason.RESTRICTED
            if fieldworker.status == FieldworkerStatus.RESTRICTED
            else ExclusionReason.INACTIVE
        )

    found |= _place_reasons(fieldworker, context, distance_km, travel_radius_km, territory_cache)

    if job.service_code not in fieldworker.services:
        found.add(ExclusionReason.MISSING_SERVICE)

    if not context.required_skills <= fieldworker.skills:
        found.add(ExclusionReason.MISSING_SKILL)

    if not _custom_fields_match(context.custom_fields, fieldworker.custom_fields):
        found.add(ExclusionReason.CUSTOM_FIELD_MISMATCH)

    found |= _time_reasons(fieldworker, context.appointment_utc, hours_cache)
    return tuple(sorted(found, key=_REASON_ORDER.__getitem__))


def _place_reasons(
    fieldworker: FieldworkerProfile,
    context: _JobContext,
    distance_km: float | None,
    travel_radius_km: float,
    territory_cache: dict[int, tuple[Mapping[str, Any], BaseGeometry | None]],
) -> set[ExclusionReason]:
    """Whether they can get there: travel radius from their base, and their territories."""
    found: set[ExclusionReason] = set()
    if distance_km is not None:
        if distance_km > travel_radius_km:
            found.add(ExclusionReason.OUTSIDE_RADIUS)
    elif fieldworker.territories is None:
        # Nowhere to measure from and no area to check against: we cannot say they can get there.
        found.add(ExclusionReason.OUTSIDE_RADIUS)
    if fieldworker.territories is not None:
        area = _territory(fieldworker.territories, territory_cache)
        if area is None or not area.covers(context.point):
            found.add(ExclusionReason.OUTSIDE_TERRITORY)
    return found


def _time_reasons(
    fieldworker: FieldworkerProfile,
    appointment: Interval,
    hours_cache: _HoursCache,
) -> set[ExclusionReason]:
    """Whether they are free then: working hours, time off, their other jobs."""
    found: set[ExclusionReason] = set()
    hours = fieldworker.working_hours
    if hours is not None:
        # By identity first (rows with equal shifts often share one table), then by text.
        hit = hours_cache.by_id.get((id(hours), fieldworker.timezone))
        if hit is not None and hit[0] is hours:
            within = hit[1]
        else:
            key = (repr(hours), fieldworker.timezone)
            known = hours_cache.by_text.get(key)
            if known is None:
                known = within_working_hours(appointment, hours, fieldworker.timezone)
                hours_cache.by_text[key] = known
            within = known
            # The table is kept in the entry so that its id cannot be reused during the call.
            hours_cache.by_id[(id(hours), fieldworker.timezone)] = (hours, within)
        if not within:
            found.add(ExclusionReason.OUTSIDE_WORKING_HOURS)
    if any(off.overlaps(appointment) for off in fieldworker.time_off):
        found.add(ExclusionReason.TIME_OFF)
    if any(busy.overlaps(appointment) for busy in fieldworker.busy):
        found.add(ExclusionReason.SCHEDULE_CONFLICT)
    return found


def _territory(
    territories: Mapping[str, Any],
    cache: dict[int, tuple[Mapping[str, Any], BaseGeometry | None]],
) -> BaseGeometry | None:
    """The prepared area for a GeoJSON mapping, or None when it does not describe an area."""
    hit = cache.get(id(territories)) or _KEPT_AREAS.get(id(territories))
    if hit is not None and hit[0] is territories:
        return hit[1]
    area = parse_territory(territories)
    cache[id(territories)] = (territories, area)
    if isinstance(territories, MappingProxyType):
        # A read-only mapping is a promise that it never changes (storage hands out the same one
        # for an unchanged row), so its parsed area is kept across calls.
        if len(_KEPT_AREAS) >= _KEPT_AREAS_MAX:
            _KEPT_AREAS.clear()
        _KEPT_AREAS[id(territories)] = (territories, area)
    return area


def parse_territory(territories: Mapping[str, Any]) -> BaseGeometry | None:
    """The prepared area a GeoJSON Polygon or MultiPolygon mapping describes, else None."""
    try:
        area = shape(dict(territories))
    except _GEOMETRY_ERRORS:
        return None
    if area.geom_type not in _AREA_TYPES or area.is_empty:
        return None
    # Preparing builds a spatial index once, making each `covers` call cheap.
    shapely.prepare(area)
    return area


def _normalised_values(value: Any) -> frozenset[str]:
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(_normalise(item) for item in value)
    return frozenset((_normalise(value),))


def _normalise(value: Any) -> str:
    return str(value).strip().casefold()


def _custom_fields_match(
    required: tuple[tuple[str, frozenset[str]], ...], actual: Mapping[str, Any]
) -> bool:
    for key, wanted in required:
        if key not in actual:
            return False
        if wanted.isdisjoint(_normalised_values(actual[key])):
            return False
    return True
