"""Eligibility profiles for a job (`UnitOfWork.candidates`): the whole fleet, the listed
fieldworkers, or the ones a `dispatch.narrowing.Narrowing` admits, found in SQL.

The narrowing query is `dispatch.narrowing.admits` written in SQL over indexed columns:
`status`, membership in the `services` JSON list (`json_each` on SQLite, `@>` answered by a GIN
index on PostgreSQL), the base location against the travel-radius boxes (index on
`base_lat, base_lon`) and the job's point against the territories' bounding box (`area_*`,
kept by `tables.Fieldworker.save`). Schedule conflicts are read in one query per call.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from dispatch.eligibility import keeps_busy
from dispatch.model import FieldworkerProfile, FieldworkerStatus, Interval, JobStatus
from dispatch.narrowing import Box, Narrowing
from dispatch.ports import JobView
from models import tables as t
from models.rows import query as rows_of
from models.views import profile_of

# Ids per `IN (...)`: well under SQLite's and asyncpg's limits on parameters (32,766 / 32,767).
_CHUNK = 5000
# Up to this many fieldworkers, their conflicts are read by id; beyond, every overlapping job.
_BUSY_BY_ID = 500

# The columns a profile is made of, in `views.profile_of`'s order; the JSON ones among them.
_COLUMNS = (
    "id",
    "name",
    "status",
    "services",
    "skills",
    "custom_fields",
    "base_lat",
    "base_lon",
    "territories",
    "working_hours",
    "time_off",
    "timezone",
)
_JSON = frozenset(
    {"services", "skills", "custom_fields", "territories", "working_hours", "time_off"}
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM fieldworker"  # noqa: S608

# Profiles by their stored columns, exactly as read: decoding the JSON (a territory polygon costs
# as much to decode as to parse) is done once per distinct row content, in this process. The key
# is the row itself, so a changed row is simply a new entry: nothing can go stale.
_PROFILES: dict[tuple[Any, ...], FieldworkerProfile] = {}
# Equal shift tables (by stored text) share one object, so `evaluate` checks each table once.
_SHIFTS: dict[Any, Mapping[str, Any] | None] = {}
_MEMO_MAX = 50_000


class CandidateStore:
    """`candidates` for `TortoiseUnitOfWork`."""

    async def candidates(
        self,
        job: JobView,
        *,
        narrowing: Narrowing | None = None,
        fieldworker_ids: Collection[int] | None = None,
    ) -> list[FieldworkerProfile]:
        """Fieldworkers by id as eligibility profiles, `busy` holding the assigned jobs that keep
        them busy for this one (`dispatch.eligibility.keeps_busy`).

        Every fieldworker, or those of `fieldworker_ids` that exist, or (with `narrowing`) those
        it admits: a superset of the eligible ones, found through indexes.
        """
        if narrowing is not None:
            rows = await _admitted(narrowing)
            if fieldworker_ids is not None:
                wanted = set(fieldworker_ids)
                rows = [row for row in rows if row["id"] in wanted]
        elif fieldworker_ids is not None:
            rows = await _by_ids(sorted(set(fieldworker_ids)))
        else:
            rows = await rows_of(f"{_SELECT} ORDER BY id")
        profiles = [_profile(row) for row in rows]
        whole_fleet = narrowing is None and fieldworker_ids is None
        busy = await _busy(job, None if whole_fleet else [p.id for p in profiles])
        return [replace(p, busy=tuple(busy[p.id])) if p.id in busy else p for p in profiles]


async def _by_ids(ids: Sequence[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows.extend(await rows_of(f"{_SELECT} WHERE id IN ({marks})", chunk))
    rows.sort(key=lambda row: int(row["id"]))
    return rows


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _profile(row: dict[str, Any]) -> FieldworkerProfile:
    """The profile of a stored row, from `_PROFILES` when this exact row was seen before."""
    key = tuple(row.values())  # `_SELECT` reads `_COLUMNS`, in that order
    try:
        known = _PROFILES.get(key)
    except TypeError:  # a driver that hands JSON over decoded: nothing hashable to key on
        key, known = (), None
    if known is not None:
        return known
    values = {c: _decoded(row[c]) if c in _JSON else row[c] for c in _COLUMNS}
    if isinstance(values["territories"], dict):
        # Read-only: `evaluate` then keeps its parsed area across calls.
        values["territories"] = MappingProxyType(values["territories"])
    profile = profile_of(*values.values())
    if key:
        if len(_PROFILES) >= _MEMO_MAX:
            _PROFILES.clear()
            _SHIFTS.clear()
        shifts = _SHIFTS.setdefault(row["working_hours"], profile.working_hours)
        if shifts is not profile.working_hours:
            profile = replace(profile, working_hours=shifts)
        _PROFILES[key] = profile
    return profile


async def _busy(job: JobView, fieldworker_ids: Sequence[int] | None) -> dict[int, list[Interval]]:
    """Fieldworker id -> appointments of their other assigned jobs that keep them busy.

    One query: assigned jobs whose appointment overlaps this one (of the listed fieldworkers
    when they are few); `keeps_busy` then drops jobs of the same visit.
    """
    if fieldworker_ids is not None and not fieldworker_ids:
        return {}
    # Plain SQL: the ORM builds one query-parameter object per id (most of this call's time for
    # a few hundred ids). Values are converted the way the ORM stores and reads them.
    start, end = t.Appointment._meta.fields_map["start"], t.Appointment._meta.fields_map["end"]
    sql = (
        'SELECT j.fieldworker_id, j.booking_id, a.start, a."end" FROM job j '
        "JOIN appointment a ON a.id = j.appointment_id "
        'WHERE j.status = ? AND a.start < ? AND a."end" > ? AND j.id <> ?'
    )
    values: list[Any] = [
        JobStatus.ASSIGNED.value,
        start.to_db_value(job.appointment.end, t.Appointment),
        end.to_db_value(job.appointment.start, t.Appointment),
        job.id,
    ]
    if fieldworker_ids is not None and len(fieldworker_ids) <= _BUSY_BY_ID:
        sql += f" AND j.fieldworker_id IN ({', '.join('?' * len(fieldworker_ids))})"
        values += list(fieldworker_ids)
    rows = [
        {
            "fieldworker_id": row["fieldworker_id"],
            "booking_id": row["booking_id"],
            "appointment__start": start.to_python_value(row["start"]),
            "appointment__end": end.to_python_value(row["end"]),
        }
        for row in await rows_of(sql, values)
    ]
    busy: dict[int, list[Interval]] = {}
    for row in rows:
        other = Interval(row["appointment__start"], row["appointment__end"])
        if row["fieldworker_id"] is not None and keeps_busy(
            job.booking_id, job.appointment, row["booking_id"], other
        ):
            busy.setdefault(row["fieldworker_id"], []).append(other)
    return busy


async def _admitted(rule: Narrowing) -> list[dict[str, Any]]:
    """The rows `rule` admits, by id: `dispatch.narrowing.admits` in SQL.

    The filtering reads `fieldworker_search` (migration 0005: one narrow row per fieldworker and
    service code, kept by triggers on every write of `fieldworker`), indexed by service then
    place; only the admitted fieldworker rows are read.
    """

    # Each part is (SQL with `?` placeholders, its values), joined in order so that values always
    # line up with their placeholders; numbered afterwards for PostgreSQL. One branch per index:
    # without territories, a base in a reach box (a range on `fieldworker_search_base`, which
    # covers every column the branch reads); with territories, a box holding the job (a range on
    # `fieldworker_search_area`). `IN` makes the union a set.
    def base_in(box: Box) -> tuple[str, list[Any]]:
        sql = "(base_lat BETWEEN ? AND ? AND base_lon BETWEEN ? AND ?)"
        return sql, [box.min_lat, box.max_lat, box.min_lon, box.max_lon]

    service = [rule.service_code, FieldworkerStatus.ACTIVE.value]
    branch = "SELECT fieldworker_id FROM fieldworker_search WHERE service_code = ? AND status = ? "
    parts: list[tuple[str, list[Any]]] = [(f"{_SELECT} WHERE id IN (", [])]
    for box in rule.reach:
        parts += [(branch + "AND NOT has_territories AND ", service), base_in(box)]
        parts += [(" UNION ALL ", [])]
    lat, lon = rule.location.lat, rule.location.lon
    parts += [
        (
            branch + "AND has_territories AND area_min_lat <= ? AND area_max_lat >= ? "
            "AND area_min_lon <= ? AND area_max_lon >= ? AND (base_lat IS NULL OR base_lon IS NULL",
            [*service, lat, lat, lon, lon],
        ),
    ]
    for box in rule.reach:
        parts += [(" OR ", []), base_in(box)]
    parts += [(")) ORDER BY id", [])]
    text = "".join(sql for sql, _ in parts)
    values = [value for _, part_values in parts for value in part_values]
    return await rows_of(text, values)
