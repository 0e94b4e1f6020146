"""Eligibility: each filter with its boundaries, reason collection and ranking."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import dispatch.eligibility as eligibility
from dispatch.eligibility import evaluate, haversine_km
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

R = ExclusionReason

JOB_POINT = Point(lat=51.5, lon=-0.12)
# 2024-06-03 is a Monday; in June New York is on EDT (UTC-4).
MON_10 = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, tz: Any = UTC, month: int = 6) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=tz)


def job(
    *,
    start: datetime = MON_10,
    hours: float = 1,
    location: Point = JOB_POINT,
    required_skills: Iterable[str] = (),
    custom_fields: dict[str, Any] | None = None,
    service_code: str = "repair",
) -> JobSpec:
    return JobSpec(
        job_id=1,
        service_code=service_code,
        location=location,
        appointment=Interval(start, start + timedelta(hours=hours)),
        required_skills=frozenset(required_skills),
        custom_fields=custom_fields or {},
    )


def worker(fw_id: int = 1, **kwargs: Any) -> FieldworkerProfile:
    kwargs.setdefault("services", frozenset({"repair"}))
    kwargs.setdefault("base_location", JOB_POINT)
    return FieldworkerProfile(id=fw_id, **kwargs)


def run(
    fieldworkers: Iterable[FieldworkerProfile],
    spec: JobSpec | None = None,
    *,
    radius: float = 50.0,
    service_skills: Iterable[str] = (),
) -> EligibilityResult:
    return evaluate(
        spec or job(),
        fieldworkers,
        travel_radius_km=radius,
        required_services_skills=frozenset(service_skills),
    )


def reasons_of(fw: FieldworkerProfile, spec: JobSpec | None = None, **kw: Any) -> tuple[R, ...]:
    """The reasons one fieldworker is excluded; () when eligible."""
    result = run([fw], spec, **kw)
    if result.eligible:
        return ()
    return result.excluded[0].reasons


def square(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    """A closed GeoJSON ring, [lon, lat] pairs."""
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


# --- haversine -------------------------------------------------------------------------------


def test_haversine_known_distances() -> None:
    assert haversine_km(JOB_POINT, JOB_POINT) == 0.0
    # One degree of latitude on a 6371 km sphere.
    assert haversine_km(Point(0, 0), Point(1, 0)) == pytest.approx(111.195, abs=1e-3)
    london, paris = Point(51.5074, -0.1278), Point(48.8566, 2.3522)
    assert haversine_km(london, paris) == pytest.approx(343.5, abs=1.0)
    assert haversine_km(london, paris) == pytest.approx(haversine_km(paris, london))


def test_haversine_antipodes_do_not_fail() -> None:
    assert haversine_km(Point(0, 0), Point(0, 180)) == pytest.approx(math.pi * 6371.0)


# --- radius ----------------------------------------------------------------------------------


def test_exactly_on_radius_is_inside_and_just_beyond_is_outside() -> None:
    base = Point(51.6, -0.3)
    distance = haversine_km(base, JOB_POINT)
    fw = worker(base_location=base)

    on = run([fw], radius=distance)
    assert on.eligible == (Eligible(1, distance),)

    beyond = run([fw], radius=math.nextafter(distance, 0.0))
    assert beyond.eligible == ()
    assert beyond.excluded == (Excluded(1, (R.OUTSIDE_RADIUS,), distance),)


def test_no_base_location_and_no_territory_is_outside_radius() -> None:
    result = run([worker(base_location=None)])
    assert result.excluded == (Excluded(1, (R.OUTSIDE_RADIUS,), None),)


def test_no_base_location_with_territory_lets_the_territory_decide() -> None:
    around_job = {"type": "Polygon", "coordinates": [square(-1, 51, 1, 52)]}
    elsewhere = {"type": "Polygon", "coordinates": [square(10, 10, 11, 11)]}
    result = run(
        [
            worker(1, base_location=None, territories=around_job),
            worker(2, base_location=None, territories=elsewhere),
        ]
    )
    assert result.eligible == (Eligible(1, None),)
    assert result.excluded == (Excluded(2, (R.OUTSIDE_TERRITORY,), None),)


def test_base_location_and_territory_both_apply() -> None:
    elsewhere = {"type": "Polygon", "coordinates": [square(10, 10, 11, 11)]}
    far = Point(40.0, -3.7)
    fw = worker(base_location=far, territories=elsewhere)
    assert reasons_of(fw) == (R.OUTSIDE_RADIUS, R.OUTSIDE_TERRITORY)


# --- territory -------------------------------------------------------------------------------

# Outer square lon/lat 0..10 with a hole at 4..6.
HOLED = {"type": "Polygon", "coordinates": [square(0, 0, 10, 10), square(4, 4, 6, 6)]}


def territory_reasons(territories: Any, lat: float, lon: float) -> tuple[R, ...]:
    fw = worker(base_location=None, territories=territories)
    return reasons_of(fw, job(location=Point(lat=lat, lon=lon)))


def test_point_inside_polygon_is_covered() -> None:
    assert territory_reasons(HOLED, lat=2, lon=8) == ()


def test_point_on_polygon_edge_is_covered() -> None:
    assert territory_reasons(HOLED, lat=0, lon=5) == ()  # on the outer bottom edge
    assert territory_reasons(HOLED, lat=10, lon=10) == ()  # on a corner


def test_point_in_hole_is_outside() -> None:
    assert territory_reasons(HOLED, lat=5, lon=5) == (R.OUTSIDE_TERRITORY,)


def test_point_on_hole_edge_is_covered() -> None:
    assert territory_reasons(HOLED, lat=4, lon=5) == ()


def test_point_outside_polygon_is_outside() -> None:
    assert territory_reasons(HOLED, lat=11, lon=5) == (R.OUTSIDE_TERRITORY,)


def test_coordinates_are_lon_lat() -> None:
    # A tall thin strip: lon 0..1, lat 0..10. (lat=5, lon=0.5) is in it; swapped it would not be.
    strip = {"type": "Polygon", "coordinates": [square(0, 0, 1, 10)]}
    assert territory_reasons(strip, lat=5, lon=0.5) == ()
    assert territory_reasons(strip, lat=0.5, lon=5) == (R.OUTSIDE_TERRITORY,)


def test_point_in_second_polygon_of_multipolygon_is_covered() -> None:
    multi = {
        "type": "MultiPolygon",
        "coordinates": [[square(0, 0, 1, 1)], [square(20, 20, 21, 21)]],
    }
    assert territory_reasons(multi, lat=20.5, lon=20.5) == ()
    assert territory_reasons(multi, lat=10, lon=10) == (R.OUTSIDE_TERRITORY,)


def test_territory_that_is_not_an_area_excludes() -> None:
    point = {"type": "Point", "coordinates": [5, 5]}
    broken = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}
    assert territory_reasons(point, lat=5, lon=5) == (R.OUTSIDE_TERRITORY,)
    assert territory_reasons(broken, lat=0.5, lon=0.5) == (R.OUTSIDE_TERRITORY,)


def test_self_intersecting_territory_covers_both_lobes() -> None:
    # A bow tie crossing at (5, 5) is invalid GeoJSON but still a usable point-in-area test.
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]}
    assert territory_reasons(bow_tie, lat=5, lon=1) == ()
    assert territory_reasons(bow_tie, lat=5, lon=9) == ()
    assert territory_reasons(bow_tie, lat=1, lon=5) == (R.OUTSIDE_TERRITORY,)


def test_shared_territory_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real_shape = eligibility.shape

    def counting_shape(context: Any) -> Any:
        calls.append(context)
        return real_shape(context)

    monkeypatch.setattr(eligibility, "shape", counting_shape)
    shared = {"type": "Polygon", "coordinates": [square(-1, 51, 1, 52)]}
    other = {"type": "Polygon", "coordinates": [square(-1, 51, 1, 52)]}  # equal, not the same
    fieldworkers = [worker(i, territories=shared) for i in range(300)]
    fieldworkers.append(worker(300, territories=other))

    result = run(fieldworkers)

    assert len(result.eligible) == 301
    assert len(calls) == 2


# --- status, services, skills ----------------------------------------------------------------


def test_status() -> None:
    assert reasons_of(worker(status=FieldworkerStatus.ACTIVE)) == ()
    assert reasons_of(worker(status=FieldworkerStatus.INACTIVE)) == (R.INACTIVE,)
    assert reasons_of(worker(status=FieldworkerStatus.RESTRICTED)) == (R.RESTRICTED,)


def test_missing_service() -> None:
    assert reasons_of(worker(services=frozenset({"install"}))) == (R.MISSING_SERVICE,)
    assert reasons_of(worker(services=frozenset({"install", "repair"}))) == ()


def test_skills_from_service_and_booking_are_both_required() -> None:
    spec = job(required_skills={"ladder"})
    both = worker(skills=frozenset({"gas", "ladder", "extra"}))
    no_service_skill = worker(skills=frozenset({"ladder"}))
    no_booking_skill = worker(skills=frozenset({"gas"}))

    assert reasons_of(both, spec, service_skills={"gas"}) == ()
    assert reasons_of(no_service_skill, spec, service_skills={"gas"}) == (R.MISSING_SKILL,)
    assert reasons_of(no_booking_skill, spec, service_skills={"gas"}) == (R.MISSING_SKILL,)


# --- custom fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("required", "actual", "matches"),
    [
        ("Yes", " yes ", True),
        ("STRASSE", "straße", True),  # casefold, not lower
        (3, "3", True),
        ("3", 3.0, False),
        (True, "true", True),
        ("van", ["Car", "VAN"], True),  # fieldworker list contains the value
        ("truck", ["car", "van"], False),
        (["de", "fr"], "FR", True),  # requirement list is any-of
        (["de", "fr"], "en", False),
        (["de", "fr"], ["en", "fr"], True),
        (["de"], [], False),
        ([], "de", True),  # an empty requirement asks for nothing
        (None, "de", True),
        ("", "de", True),
        ("no", "yes", False),
    ],
)
def test_custom_field_matching(required: Any, actual: Any, matches: bool) -> None:
    spec = job(custom_fields={"field": required})
    fw = worker(custom_fields={"field": actual})
    assert reasons_of(fw, spec) == (() if matches else (R.CUSTOM_FIELD_MISMATCH,))


def test_custom_field_missing_key_is_a_mismatch() -> None:
    spec = job(custom_fields={"language": "de", "vehicle": "van"})
    assert reasons_of(worker(custom_fields={"language": "de"}), spec) == (R.CUSTOM_FIELD_MISMATCH,)
    assert reasons_of(worker(custom_fields={"language": "DE", "vehicle": "Van"}), spec) == ()


def test_no_custom_fields_on_job_matches_anyone() -> None:
    assert reasons_of(worker(custom_fields={"anything": "x"})) == ()


# --- working hours ---------------------------------------------------------------------------

NINE_TO_FIVE = {"mon": [("09:00", "17:00")]}


def hours_reasons(
    working_hours: Any, start: datetime, hours: float = 1, timezone: str = "UTC"
) -> tuple[R, ...]:
    fw = worker(working_hours=working_hours, timezone=timezone)
    return reasons_of(fw, job(start=start, hours=hours))


def test_no_working_hours_means_always_available() -> None:
    assert hours_reasons(None, at(2, 3)) == ()  # a Sunday at 03:00


def test_appointment_inside_shift() -> None:
    assert hours_reasons(NINE_TO_FIVE, at(3, 9)) == ()  # starts exactly at shift start
    assert hours_reasons(NINE_TO_FIVE, at(3, 12)) == ()


def test_appointment_ending_exactly_at_shift_end_is_inside() -> None:
    assert hours_reasons(NINE_TO_FIVE, at(3, 16)) == ()


def test_appointment_starting_when_shift_ends_is_outside() -> None:
    assert hours_reasons(NINE_TO_FIVE, at(3, 17)) == (R.OUTSIDE_WORKING_HOURS,)


def test_instant_appointment_at_shift_end_is_outside() -> None:
    assert hours_reasons(NINE_TO_FIVE, at(3, 17), hours=0) == (R.OUTSIDE_WORKING_HOURS,)
    assert hours_reasons(NINE_TO_FIVE, at(3, 16, 59), hours=0) == ()


def test_appointment_partly_outside_shift_is_outside() -> None:
    assert hours_reasons(NINE_TO_FIVE, at(3, 8, 30)) == (R.OUTSIDE_WORKING_HOURS,)
    assert hours_reasons(NINE_TO_FIVE, at(3, 16, 30)) == (R.OUTSIDE_WORKING_HOURS,)


def test_day_without_shifts_is_outside() -> None:
    assert hours_reasons(NINE_TO_FIVE, at(4, 10)) == (R.OUTSIDE_WORKING_HOURS,)  # Tuesday
    assert hours_reasons({"mon": []}, at(3, 10)) == (R.OUTSIDE_WORKING_HOURS,)


def test_shifts_may_be_lists_or_tuples_and_several_per_day() -> None:
    split = {"mon": [["08:00", "12:00"], ("13:00", "17:00")]}
    assert hours_reasons(split, at(3, 8)) == ()
    assert hours_reasons(split, at(3, 13)) == ()
    # Spanning the lunch gap is not inside either shift.
    assert hours_reasons(split, at(3, 11), hours=3) == (R.OUTSIDE_WORKING_HOURS,)


def test_overnight_shift_covers_appointment_after_midnight() -> None:
    nights = {"mon": [("22:00", "06:00")]}
    assert hours_reasons(nights, at(4, 1)) == ()  # Tuesday 01:00, from Monday's shift
    assert hours_reasons(nights, at(3, 23), hours=2) == ()  # across midnight
    assert hours_reasons(nights, at(4, 5)) == ()  # ends exactly at 06:00
    assert hours_reasons(nights, at(4, 6)) == (R.OUTSIDE_WORKING_HOURS,)
    assert hours_reasons(nights, at(3, 1)) == (R.OUTSIDE_WORKING_HOURS,)  # Monday 01:00


def test_end_of_day_shift_joins_next_morning() -> None:
    joined = {"mon": [("22:00", "24:00")], "tue": [("00:00", "06:00")]}
    assert hours_reasons(joined, at(3, 23), hours=2) == ()
    assert hours_reasons(joined, at(3, 22), hours=8) == ()

    gap = {"mon": [("22:00", "23:59")], "tue": [("00:00", "06:00")]}
    assert hours_reasons(gap, at(3, 23), hours=2) == (R.OUTSIDE_WORKING_HOURS,)


def test_shift_ending_at_24_00_ends_at_midnight() -> None:
    evening = {"mon": [("18:00", "24:00")]}
    assert hours_reasons(evening, at(3, 23)) == ()
    assert hours_reasons(evening, at(3, 23, 30)) == (R.OUTSIDE_WORKING_HOURS,)


def test_whole_day_shifts() -> None:
    full = {"mon": [("00:00", "24:00")]}
    assert hours_reasons(full, at(3, 0)) == ()
    assert hours_reasons(full, at(3, 23)) == ()
    assert hours_reasons(full, at(4, 0)) == (R.OUTSIDE_WORKING_HOURS,)


def test_shift_hours_are_read_in_the_fieldworker_timezone() -> None:
    # 09:00-17:00 in New York on a June Monday is 13:00-21:00 UTC.
    ny = "America/New_York"
    assert hours_reasons(NINE_TO_FIVE, at(3, 13), timezone=ny) == ()
    assert hours_reasons(NINE_TO_FIVE, at(3, 20), timezone=ny) == ()
    assert hours_reasons(NINE_TO_FIVE, at(3, 9), timezone=ny) == (R.OUTSIDE_WORKING_HOURS,)
    assert hours_reasons(NINE_TO_FIVE, at(3, 21), timezone=ny) == (R.OUTSIDE_WORKING_HOURS,)


def test_timezone_shift_crossing_into_another_utc_day() -> None:
    # Monday 20:00-23:00 in New York is Tuesday 00:00-03:00 UTC.
    evening = {"mon": [("20:00", "23:00")]}
    ny = "America/New_York"
    assert hours_reasons(evening, at(4, 1), timezone=ny) == ()
    assert hours_reasons(evening, at(3, 1), timezone=ny) == (R.OUTSIDE_WORKING_HOURS,)


def test_appointment_given_in_another_timezone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 15:00 in Berlin (CEST) is 09:00 in New York (EDT).
    assert hours_reasons(NINE_TO_FIVE, at(3, 15, tz=berlin), timezone="America/New_York") == ()


def test_dst_change_uses_the_offset_of_that_day() -> None:
    ny = "America/New_York"
    weekend = {"sat": [("08:00", "17:00")], "sun": [("08:00", "17:00")]}
    # Saturday 2024-03-09 is EST (UTC-5): 08:00 local is 13:00 UTC.
    assert hours_reasons(weekend, at(9, 13, month=3), timezone=ny) == ()
    assert hours_reasons(weekend, at(9, 12, month=3), timezone=ny) == (R.OUTSIDE_WORKING_HOURS,)
    # Sunday 2024-03-10 is EDT (UTC-4) from 02:00: 08:00 local is 12:00 UTC.
    assert hours_reasons(weekend, at(10, 12, month=3), timezone=ny) == ()
    assert hours_reasons(weekend, at(10, 11, month=3), timezone=ny) == (R.OUTSIDE_WORKING_HOURS,)


def test_overnight_shift_across_dst_change_has_its_true_length() -> None:
    # Saturday 22:00 EST (03:00 UTC Sun) to Sunday 06:00 EDT (10:00 UTC Sun): 7 real hours.
    nights = {"sat": [("22:00", "06:00")]}
    ny = "America/New_York"
    assert hours_reasons(nights, at(10, 3, month=3), hours=7, timezone=ny) == ()
    assert hours_reasons(nights, at(10, 3, month=3), hours=7.5, timezone=ny) == (
        R.OUTSIDE_WORKING_HOURS,
    )


def test_day_keys_are_case_insensitive() -> None:
    assert hours_reasons({"Mon": [("09:00", "17:00")]}, at(3, 10)) == ()


@pytest.mark.parametrize(
    "working_hours",
    [
        {"mon": [("9am", "5pm")]},
        {"mon": [("09:00", "17:00", "x")]},
        {"mon": [("24:00", "06:00")]},
        {"mon": [("09:60", "17:00")]},
        {"mon": [("09:00", "24:01")]},
        {"mon": 9},
    ],
)
def test_malformed_working_hours_exclude(working_hours: Any) -> None:
    assert hours_reasons(working_hours, at(3, 10)) == (R.OUTSIDE_WORKING_HOURS,)


def test_unknown_timezone_excludes() -> None:
    assert hours_reasons(NINE_TO_FIVE, at(3, 10), timezone="Mars/Olympus") == (
        R.OUTSIDE_WORKING_HOURS,
    )


def test_naive_appointment_is_refused() -> None:
    naive = datetime(2024, 6, 3, 10, 0)
    spec = JobSpec(1, "repair", JOB_POINT, Interval(naive, naive + timedelta(hours=1)))
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(spec, [worker()], travel_radius_km=10)


# --- time off and busy -----------------------------------------------------------------------


def test_time_off_touching_the_appointment_does_not_exclude() -> None:
    before = Interval(at(3, 8), at(3, 10))  # ends as the appointment starts
    after = Interval(at(3, 11), at(3, 12))  # starts as the appointment ends
    assert reasons_of(worker(time_off=(before, after))) == ()


def test_time_off_overlapping_the_appointment_excludes() -> None:
    overlapping = Interval(at(3, 10, 59), at(3, 12))
    assert reasons_of(worker(time_off=(overlapping,))) == (R.TIME_OFF,)
    around = Interval(at(1, 0), at(10, 0))
    assert reasons_of(worker(time_off=(around,))) == (R.TIME_OFF,)


def test_busy_overlap_is_a_schedule_conflict() -> None:
    touching = Interval(at(3, 9), at(3, 10))
    assert reasons_of(worker(busy=(touching,))) == ()
    overlapping = Interval(at(3, 9, 30), at(3, 10, 30))
    assert reasons_of(worker(busy=(touching, overlapping))) == (R.SCHEDULE_CONFLICT,)


def test_another_job_of_the_same_visit_does_not_keep_a_fieldworker_busy() -> None:
    visit = Interval(at(3, 10), at(3, 11))
    # The same booking at the same appointment (also when written in another zone): one visit.
    assert not eligibility.keeps_busy(7, visit, 7, visit)
    ny = ZoneInfo("America/New_York")
    assert not eligibility.keeps_busy(7, visit, 7, Interval(at(3, 6, tz=ny), at(3, 7, tz=ny)))
    # Another booking at that time, or another overlapping appointment of the same booking, is.
    assert eligibility.keeps_busy(7, visit, 8, visit)
    assert eligibility.keeps_busy(7, visit, 7, Interval(at(3, 10, 30), at(3, 11, 30)))
    # Nothing that does not overlap is.
    assert not eligibility.keeps_busy(8, visit, 7, Interval(at(3, 11), at(3, 12)))


def test_intervals_in_other_timezones_compare_by_instant() -> None:
    ny = ZoneInfo("America/New_York")
    # 06:00 New York is 10:00 UTC: exactly touching the end of this interval.
    touching = Interval(at(3, 5, tz=ny), at(3, 6, tz=ny))
    assert reasons_of(worker(busy=(touching,))) == ()
    overlapping = Interval(at(3, 5, tz=ny), at(3, 6, 30, tz=ny))
    assert reasons_of(worker(busy=(overlapping,))) == (R.SCHEDULE_CONFLICT,)


# --- collection and ranking ------------------------------------------------------------------


def test_every_reason_is_collected() -> None:
    spec = job(required_skills={"ladder"}, custom_fields={"vehicle": "van"})
    far = Point(40.0, -3.7)
    elsewhere = {"type": "Polygon", "coordinates": [square(10, 10, 11, 11)]}
    appointment = spec.appointment
    fw = worker(
        status=FieldworkerStatus.INACTIVE,
        services=frozenset({"install"}),
        skills=frozenset(),
        custom_fields={"vehicle": "bike"},
        base_location=far,
        territories=elsewhere,
        working_hours={"sun": [("09:00", "17:00")]},
        time_off=(appointment,),
        busy=(appointment,),
    )

    result = run([fw], spec)

    assert result.eligible == ()
    assert result.excluded == (
        Excluded(
            1,
            (
                R.OUTSIDE_RADIUS,
                R.OUTSIDE_TERRITORY,
                R.MISSING_SERVICE,
                R.MISSING_SKILL,
                R.CUSTOM_FIELD_MISMATCH,
                R.OUTSIDE_WORKING_HOURS,
                R.TIME_OFF,
                R.SCHEDULE_CONFLICT,
                R.INACTIVE,
            ),
            haversine_km(far, JOB_POINT),
        ),
    )


def test_eligible_ranked_by_distance_then_id_with_unknown_last() -> None:
    near = Point(51.51, -0.12)
    mid = Point(51.55, -0.12)
    around_job = {"type": "Polygon", "coordinates": [square(-1, 51, 1, 52)]}
    fieldworkers = [
        worker(5, base_location=mid),
        worker(9, base_location=None, territories=around_job),
        worker(4, base_location=None, territories=around_job),
        worker(3, base_location=near),
        worker(2, base_location=mid),
        worker(1, base_location=JOB_POINT),
    ]

    result = run(fieldworkers)

    assert result.eligible_ids() == [1, 3, 2, 5, 4, 9]
    assert result.eligible[0].distance_km == 0.0
    assert result.eligible[1].distance_km == pytest.approx(haversine_km(near, JOB_POINT))
    assert result.eligible[-1].distance_km is None
    assert result.excluded == ()


def test_excluded_keep_input_order_and_carry_distance() -> None:
    far = Point(40.0, -3.7)
    fieldworkers = [
        worker(7, base_location=far),
        worker(2, status=FieldworkerStatus.INACTIVE),
        worker(5, base_location=None),
        worker(1),
    ]

    result = run(iter(fieldworkers))  # any iterable, not just a list

    assert result.eligible_ids() == [1]
    assert result.excluded == (
        Excluded(7, (R.OUTSIDE_RADIUS,), haversine_km(far, JOB_POINT)),
        Excluded(2, (R.INACTIVE,), 0.0),
        Excluded(5, (R.OUTSIDE_RADIUS,), None),
    )


def test_no_fieldworkers() -> None:
    assert run([]) == EligibilityResult(eligible=(), excluded=())
