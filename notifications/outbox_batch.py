"""What one outbox write reads and writes, batched: rows read once, rows written at once.

Rendering a unit of work's events used to read the same fieldworker, job, booking and service once
per event and insert each outbox row on its own: a broadcast to 160 fieldworkers or a winning
accept that withdraws the job's other requests cost several statements per fieldworker, each a
round trip (on SQLite all of them on the process's one connection, which every other press waits
for). Within one write the rows it reads do not change (the core has made every change before the
outbox is written, and rendering changes no job, booking, service or fieldworker), so:

- the fieldworkers the events name are read in one query, the first time one is needed;
- a job's context (job, appointment, booking, service) is read once per write;
- outbox rows are collected and inserted together (`flush`): before anything reads the outbox
  table in the same write (`live_buttons`), before rows written elsewhere (customer notices), and
  at the end. Rows keep the order they were queued in, so ids keep the order messages were decided.

The batch belongs to the write in progress (a context variable: concurrent transactions interleave
on one renderer, each in its own task).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import DoesNotExist

from models import rows as db_rows
from models import tables as t
from models.rows import FieldworkerRow


@dataclass(slots=True)
class OutboxRow:
    """An outbox row to insert (`notification`; the other columns take their defaults)."""

    booking_id: int | None
    channel: str
    recipient: str
    template: str
    body: str
    payload: dict[str, Any]
    request_id: int | None
    next_attempt_at: datetime


_COLUMNS = (
    "booking_id",
    "channel",
    "recipient",
    "template",
    "body",
    "payload",
    "request_id",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


async def insert(rows: Sequence[OutboxRow]) -> None:
    """Insert outbox rows in their order (one statement for up to a few thousand): no model is
    built per row."""
    created_at = db_rows.created_now()
    await db_rows.insert(
        t.Notification,
        _COLUMNS,
        [
            (
                r.booking_id,
                r.channel,
                r.recipient,
                r.template,
                r.body,
                r.payload,
                r.request_id,
                "queued",
                0,
                r.next_attempt_at,
                created_at,
            )
            for r in rows
        ],
    )


class WriteBatch:
    """The rows one outbox write has read, and the outbox rows it has yet to insert."""

    def __init__(self, events: Iterable[object] = ()) -> None:
        self.rows: list[OutboxRow] = []
        self.fieldworkers: dict[int, FieldworkerRow | None] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        #: A booking's inserted outbox rows with live buttons (`live_buttons`), kept current.
        self.live: dict[int, list[t.Notification]] = {}
        #: Fieldworkers the events name, read together with the first one asked for.
        self.wanted: set[int] = set()
        #: Reply codes of requests, read for every request the events name at the first need.
        self.codes: dict[int, int | None] = {}
        self.requests: set[int] = set()
        for event in events:
            for name in ("fieldworker_id", "previous_fieldworker_id"):
                value = getattr(event, name, None)
                if isinstance(value, int):
                    self.wanted.add(value)
            request_id = getattr(event, "request_id", None)
            if isinstance(request_id, int):
                self.requests.add(request_id)


_CURRENT: ContextVar[WriteBatch | None] = ContextVar("outbox_batch", default=None)


@contextmanager
def batching(events: Iterable[object]) -> Any:
    """Make a fresh batch the current write's for the block."""
    token = _CURRENT.set(WriteBatch(events))
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


def add(row: OutboxRow) -> bool:
    """Queue an outbox row in the current write's batch; False when no write is in progress."""
    batch = _CURRENT.get()
    if batch is None:
        return False
    batch.rows.append(row)
    return True


async def flush() -> None:
    """Insert the queued outbox rows of the current write (in one statement), if any."""
    batch = _CURRENT.get()
    if batch is None or not batch.rows:
        return
    rows, batch.rows = batch.rows, []
    batch.live.clear()  # the rows inserted now are read with the next live rows
    await insert(rows)


def queued() -> list[OutboxRow]:
    """The outbox rows the current write has queued and not inserted yet."""
    batch = _CURRENT.get()
    return batch.rows if batch is not None else []


async def live_rows(
    booking_id: int, load: Callable[[int], Awaitable[list[t.Notification]]]
) -> list[t.Notification]:
    """A booking's inserted live rows, loaded by `load` once per write (until a `flush`); the
    caller removes the rows it makes not live from the list."""
    batch = _CURRENT.get()
    if batch is None:
        return await load(booking_id)
    if booking_id not in batch.live:
        batch.live[booking_id] = await load(booking_id)
    return batch.live[booking_id]


async def fieldworker(fieldworker_id: int) -> FieldworkerRow | None:
    """A fieldworker's row (the columns messages read), read once per write with every other one
    the events name."""
    batch = _CURRENT.get()
    if batch is None:
        return (await db_rows.fieldworker_rows([fieldworker_id])).get(fieldworker_id)
    if fieldworker_id not in batch.fieldworkers:
        ids = (batch.wanted | {fieldworker_id}) - set(batch.fieldworkers)
        found = await db_rows.fieldworker_rows(ids)
        for one in ids:
            batch.fieldworkers[one] = found.get(one)
    return batch.fieldworkers[fieldworker_id]


async def get_fieldworker(fieldworker_id: int) -> FieldworkerRow:
    """As `fieldworker`, raising `DoesNotExist` when there is none (as `Fieldworker.get`)."""
    fw = await fieldworker(fieldworker_id)
    if fw is None:
        raise DoesNotExist(t.Fieldworker)
    return fw


async def reply_code(request_id: int) -> int:
    """A request's reply code (an SMS names it by this), read once per write with those of every
    other request the events name; `DoesNotExist` when there is no such request."""
    batch = _CURRENT.get()
    if batch is None:
        batch = WriteBatch()  # nothing to share it with
    if request_id not in batch.codes:
        ids = (batch.requests | {request_id}) - set(batch.codes)
        found = await db_rows.select_in(
            "SELECT id, reply_code FROM job_request WHERE id IN", sorted(ids)
        )
        codes = {row["id"]: row["reply_code"] for row in found}
        for one in ids:
            batch.codes[one] = codes.get(one)
    code = batch.codes[request_id]
    if code is None:
        raise DoesNotExist(t.JobRequest)
    return code


async def job_context(
    job_id: int, load: Callable[[int], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """A job's rendering context, loaded by `load` once per write; each caller gets its own copy."""
    batch = _CURRENT.get()
    if batch is None:
        return await load(job_id)
    if job_id not in batch.jobs:
        batch.jobs[job_id] = await load(job_id)
    return dict(batch.jobs[job_id])
