"""Plain rows on the hottest paths: reads by plain SQL, multi-row inserts from plain values.

Building a query costs the ORM about 0.3 ms of CPU (pypika copies the query object for every
filter and every parameter), several times what SQLite takes to answer it. The few reads every
press and every dispatch makes (a job with its appointment, a booking, a service) are written
here once as SQL; values still go through the model fields' own conversions
(`Model._init_from_db`, `Field.to_python_value`), so what comes back is what the ORM would give.
Queries run on the current connection: inside `in_transaction`, the transaction's.

Building a tortoise model per row costs more than the row's share of a statement: a broadcast to
160 fieldworkers built some 3,000 models. So a broadcast reads its fieldworkers as plain rows
(`fieldworker_rows`) and writes its requests, timers, history and outbox rows from plain values,
one multi-row `INSERT` per table (`insert`, chunked below the parameter limits: SQLite 32,766,
asyncpg 32,767). The tortoise models stay the definition of the schema: each value is converted
to its column by the model field's own `to_db_value`, so a row written here equals one written by
`Model.save`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from tortoise import connections, timezone
from tortoise.models import Model

from dispatch.model import Interval, JobStatus
from dispatch.ports import JobView
from models import tables as t

M = TypeVar("M", bound=Model)

#: Parameters per statement, well under both drivers' limits.
MAX_PARAMETERS = 20_000


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


async def select_in(
    sql: str, ids: Sequence[Any], before: Sequence[Any] = (), after: str = ""
) -> list[dict[str, Any]]:
    """`sql` + `(?, ?, ...)` over `ids` in chunks (+ `after`), with `before` values first."""
    rows: list[dict[str, Any]] = []
    step = MAX_PARAMETERS - len(before)
    for i in range(0, len(ids), step):
        chunk = list(ids[i : i + step])
        marks = ", ".join("?" * len(chunk))
        rows.extend(await query(f"{sql} ({marks}){after}", [*before, *chunk]))
    return rows


async def insert(
    model: type[Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    returning: str = "",
) -> list[dict[str, Any]]:
    """Insert `rows` (values in `columns`' order, converted and validated as tortoise does) into
    `model`'s table in as few statements as the limits allow, in their order (so their ids ascend
    in it); the `returning` columns of each, if asked."""
    values = _converted(model, columns, rows)
    if not values:
        return []
    per_row = len(columns)
    step = max(1, MAX_PARAMETERS // per_row)
    # Table and column names come from our models and constants, never from input.
    head = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) VALUES "  # noqa: S608
    tail = f" RETURNING {returning}" if returning else ""
    mark = "(" + ", ".join("?" * per_row) + ")"
    out: list[dict[str, Any]] = []
    conn = connections.get("default")
    for i in range(0, len(values), step):
        chunk = values[i : i + step]
        sql = numbered(head + ", ".join([mark] * len(chunk)) + tail)
        flat = [v for row in chunk for v in row]
        if returning:
            out.extend(await conn.execute_query_dict(sql, flat))
        else:
            await conn.execute_query(sql, flat)
    return out


async def update(
    model: type[Model], changes: Mapping[str, Any], where: str, values: Sequence[Any]
) -> int:
    """`UPDATE` the rows of `model` matching `where` (SQL over its columns, `?` placeholders) with
    `changes` (columns to values, converted as tortoise converts them); how many rows it changed
    (counted from `RETURNING`, so that no trigger's changes are counted)."""
    (converted,) = _converted(model, list(changes), [list(changes.values())])
    sets = ", ".join(f"{column} = ?" for column in changes)
    table = model._meta.db_table
    sql = f"UPDATE {table} SET {sets} WHERE {where} RETURNING id"  # noqa: S608
    return len(await query(sql, [*converted, *values]))


def _converted(
    model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> list[list[Any]]:
    """Each value as `to_db_value` of its column's field makes it (validated, JSON encoded); a
    value that is the same object as the row before's is converted once (most columns of a
    broadcast are: the job, the booking, the time)."""
    fields = model._meta.fields_map
    # A foreign key's `<name>_id` column is not in the fields map: its value is the id itself.
    convert = [fields[c].to_db_value if c in fields else None for c in columns]
    last: list[tuple[Any, Any]] = [(_NOTHING, None)] * len(columns)
    out = []
    for row in rows:
        values = list(row)
        for i, to_db in enumerate(convert):
            if to_db is None:
                continue
            value = values[i]
            before, done = last[i]
            if value is not before:
                done = to_db(value, model)
                last[i] = (value, done)
            values[i] = done
        out.append(values)
    return out


_NOTHING = object()


def created_now() -> Any:
    """An `auto_now_add` column's value for a row inserted now, as tortoise writes it."""
    return timezone.localtime()


class FieldworkerLike(Protocol):
    """What messages to a fieldworker read of them: a `tables.Fieldworker` or a `FieldworkerRow`."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def telegram_user_id(self) -> int | None: ...
    @property
    def telegram_chat_id(self) -> int | None: ...
    @property
    def channels(self) -> Sequence[Any]: ...
    @property
    def base_lat(self) -> float | None: ...
    @property
    def base_lon(self) -> float | None: ...
    @property
    def timezone(self) -> str: ...
    @property
    def sms_opt_out(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class FieldworkerRow:
    """The columns of a fieldworker that reaching and addressing them need (`FieldworkerLike`),
    read as a plain row: no territories, shifts or other JSON decoded."""

    id: int
    name: str
    phone: str | None
    email: str | None
    telegram_user_id: int | None
    telegram_chat_id: int | None
    channels: tuple[Any, ...]
    base_lat: float | None
    base_lon: float | None
    timezone: str
    sms_opt_out: bool


_FIELDWORKER_SELECT = (
    "SELECT id, name, phone, email, telegram_user_id, telegram_chat_id, channels, base_lat, "
    "base_lon, timezone, sms_opt_out FROM fieldworker WHERE id IN"
)
# Decoded `channels` by stored text: a fleet has a handful of distinct values.
_CHANNELS: dict[Any, tuple[Any, ...]] = {}


def _channels(value: Any) -> tuple[Any, ...]:
    try:
        return _CHANNELS[value]
    except KeyError:
        pass
    except TypeError:  # handed over decoded (a list): nothing to key on
        return tuple(value or ())
    decoded = tuple((json.loads(value) if isinstance(value, str | bytes) else value) or ())
    if len(_CHANNELS) < 1000:
        _CHANNELS[value] = decoded
    return decoded


async def fieldworker_rows(ids: Collection[int]) -> dict[int, FieldworkerRow]:
    """The fieldworkers of `ids` that exist, by id, as `FieldworkerRow`s (one query per
    `MAX_PARAMETERS` ids)."""
    if not ids:
        return {}
    found = await select_in(_FIELDWORKER_SELECT, sorted(ids))
    return {
        r["id"]: FieldworkerRow(
            r["id"],
            r["name"],
            r["phone"],
            r["email"],
            r["telegram_user_id"],
            r["telegram_chat_id"],
            _channels(r["channels"]),
            r["base_lat"],
            r["base_lon"],
            r["timezone"],
            bool(r["sms_opt_out"]),
        )
        for r in found
    }
