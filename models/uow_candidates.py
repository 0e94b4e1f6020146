"""Eligibility profiles for a job (`UnitOfWork.candidates`): the whole fleet, the listed
fieldworkers, or the ones a `dispatch.narrowing.Narrowing` admits, found in SQL.

The narrowing query is `dispatch.narrowing.admits` written in SQL over indexed columns:
`status`, membership in the `services` JSON list (`json_each` on SQLite, `@>` answered by a GIN
index on PostgreSQL), the base location against the travel-radius boxes (index on
`base_lat, base_lon`) and the job's point against the territories' bounding box (`area_*`,
kept by `tables.Fieldworker.save`). Schedule conflicts are read in one query per call.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from tortoise import connections

from dispatch.eligibility import keeps_busy
from dispatch.model import FieldworkerProfile, Interval, JobStatus
from dispatch.narrowing import Narrowing
from dispatch.ports import JobView
from models import tables as t
from models.views import fieldworker_profile

# Ids per `IN (...)`: well under SQLite's and asyncpg's limits on parameters (32,766 / 32,767).
_CHUNK = 5000
# Up to this many fieldworkers, their conflicts are read by id; beyond, every overlapping job.
_BUSY_BY_ID = 500


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
        ids: list[int] | None = None
        if fieldworker_ids is not None:
            ids = sorted(set(fieldworker_ids))
        if narrowing is not None:
            admitted = await _admitted_ids(narrowing)
            ids = admitted if ids is None else sorted(set(ids) & set(admitted))
        rows = await t.Fieldworker.all().order_by("id") if ids is None else await _rows(ids)
        busy = await _busy(job, [fw.id for fw in rows] if ids is not None else None)
        return [fieldworker_profile(fw, tuple(busy.get(fw.id, ()))) for fw in rows]


async def _rows(ids: Sequence[int]) -> list[t.Fieldworker]:
    rows: list[t.Fieldworker] = []
    for i in range(0, len(ids), _CHUNK):
        rows.extend(await t.Fieldworker.filter(id__in=ids[i : i + _CHUNK]))
    rows.sort(key=lambda fw: fw.id)
    return rows


async def _busy(job: JobView, fieldworker_ids: Sequence[int] | None) -> dict[int, list[Interval]]:
    """Fieldworker id -> appointments of their other assigned jobs that keep them busy.

    One query: assigned jobs whose appointment overlaps this one (of the listed fieldworkers
    when they are few); `keeps_busy` then drops jobs of the same visit.
    """
    if fieldworker_ids is not None and not fieldworker_ids:
        return {}
    query = t.Job.filter(
        status=JobStatus.ASSIGNED.value,
        appointment__start__lt=job.appointment.end,
        appointment__end__gt=job.appointment.start,
    ).exclude(id=job.id)
    if fieldworker_ids is not None and len(fieldworker_ids) <= _BUSY_BY_ID:
        query = query.filter(fieldworker_id__in=list(fieldworker_ids))
    rows = await query.values(
        "fieldworker_id", "booking_id", "appointment__start", "appointment__end"
    )
    busy: dict[int, list[Interval]] = {}
    for row in rows:
        other = Interval(row["appointment__start"], row["appointment__end"])
        if row["fieldworker_id"] is not None and keeps_busy(
            job.booking_id, job.appointment, row["booking_id"], other
        ):
            busy.setdefault(row["fieldworker_id"], []).append(other)
    return busy


async def _admitted_ids(rule: Narrowing) -> list[int]:
    """Ids of the fieldworkers `rule` admits, ascending: `dispatch.narrowing.admits` in SQL."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    values: list[Any] = []

    def param(value: Any) -> str:
        values.append(value)
        return f"${len(values)}" if postgres else "?"

    def offers() -> str:
        code = param(rule.service_code)
        if postgres:
            return f"services @> jsonb_build_array({code}::text)"
        member = "SELECT 1 FROM json_each(fieldworker.services) AS s WHERE s.type = 'text'"
        return f"EXISTS ({member} AND s.value = {code})"

    def reach() -> str:
        boxes = [
            f"(base_lat BETWEEN {param(b.min_lat)} AND {param(b.max_lat)} "
            f"AND base_lon BETWEEN {param(b.min_lon)} AND {param(b.max_lon)})"
            for b in rule.reach
        ]
        return "(" + " OR ".join(boxes) + ")" if boxes else "(1 = 0)"

    def covers() -> str:
        lat, lon = rule.location.lat, rule.location.lon
        return (
            f"area_min_lat <= {param(lat)} AND area_max_lat >= {param(lat)} "
            f"AND area_min_lon <= {param(lon)} AND area_max_lon >= {param(lon)}"
        )

    # Placeholders are positional on SQLite: the parts are made in the order they appear.
    parts = [
        # Only placeholders and fixed SQL are put into the text.
        f"SELECT id FROM fieldworker WHERE status = {param('active')} AND {offers()} AND (",  # noqa: S608
        f"(territories IS NULL AND {reach()}) OR ",
        f"(territories IS NOT NULL AND {covers()} ",
        f"AND (base_lat IS NULL OR base_lon IS NULL OR {reach()}))",
        ") ORDER BY id",
    ]
    sql = "".join(parts)
    rows = await conn.execute_query_dict(sql, values)
    return [int(row["id"]) for row in rows]
