"""Rows read by plain SQL on the hottest paths, turned into models or views the ORM's own way.

Building a query costs the ORM about 0.3 ms of CPU (pypika copies the query object for every
filter and every parameter), several times what SQLite takes to answer it. The few reads every
press and every dispatch makes (a job with its appointment, a booking, a service) are written
here once as SQL; values still go through the model fields' own conversions
(`Model._init_from_db`, `Field.to_python_value`), so what comes back is what the ORM would give.
Queries run on the current connection: inside `in_transaction`, the transaction's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from tortoise import connections
from tortoise.models import Model

from dispatch.model import Interval, JobStatus
from dispatch.ports import JobView
from models import tables as t

M = TypeVar("M", bound=Model)


def postgres() -> bool:
    """Whether the current connection is PostgreSQL's."""
    return bool(connections.get("default").capabilities.dialect == "postgres")


def numbered(sql: str) -> str:
    """`sql` with its `?` placeholders numbered `$1, $2...` on PostgreSQL (no `?` in literals)."""
    if not postgres():
        return sql
    pieces = sql.split("?")
    return pieces[0] + "".join(f"${n}{piece}" for n, piece in enumerate(pieces[1:], 1))


async def query(sql: str, values: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of `sql` (`?` placeholders) as dicts, on the current connection."""
    rows: list[dict[str, Any]] = await connections.get("default").execute_query_dict(
        numbered(sql), list(values)
    )
    return rows


async def models(model: type[M], where: str, values: Sequence[Any] = ()) -> list[M]:
    """`model`'s rows matching `where` (SQL, `?` placeholders), by id, as models."""
    table = model._meta.db_table
    rows = await query(f"SELECT * FROM {table} WHERE {where} ORDER BY id", values)  # noqa: S608
    return [model._init_from_db(**row) for row in rows]


_JOB = t.Job._meta.fields_map
_APPOINTMENT = t.Appointment._meta.fields_map
_JOB_SQL = (
    "SELECT j.id, j.booking_id, j.service_code, j.status, j.fieldworker_id, j.appointment_id, "
    'j.confirmed_at, a.start, a."end" FROM job j JOIN appointment a ON a.id = j.appointment_id '
)


async def job_views(where: str, values: Sequence[Any]) -> list[JobView]:
    """Jobs matching `where` (over `j.` columns), by id, with their appointments."""
    rows = await query(f"{_JOB_SQL} WHERE {where} ORDER BY j.id", values)
    start, end, confirmed = _APPOINTMENT["start"], _APPOINTMENT["end"], _JOB["confirmed_at"]
    return [
        JobView(
            r["id"],
            r["booking_id"],
            Interval(start.to_python_value(r["start"]), end.to_python_value(r["end"])),
            r["service_code"],
            JobStatus(r["status"]),
            r["fieldworker_id"],
            r["appointment_id"],
            confirmed.to_python_value(r["confirmed_at"]),
        )
        for r in rows
    ]
