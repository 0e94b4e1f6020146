"""A job's rendering context (service, when, where, for whom) in one plain query.

Every message about a job renders from it, and a winning accept renders five (the winner's and the
withdrawn requests' edits), so it is on the press's path: one SQL statement joining the job, its
appointment, booking, customer and service, with no model built. Through the ORM it was a query
with three joins building four models, and a second for the service: 9-13 % of a burst's samples
(docs/benchmarks-press.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import DoesNotExist

from models import tables as t
from models.rows import query
from notifications.customers import first_name

_SQL = (
    'SELECT j."id", j."booking_id", j."appointment_id", j."service_code", a."start", a."end", '
    'b."address", b."notes", b."lat", b."lon", c."name" AS customer, s."name" AS service '
    'FROM "job" j JOIN "appointment" a ON a."id" = j."appointment_id" '
    'JOIN "booking" b ON b."id" = j."booking_id" JOIN "customer" c ON c."id" = b."customer_id" '
    'LEFT JOIN "service" s ON s."code" = j."service_code" WHERE j."id" = ? LIMIT 1'
)
_START = t.Appointment._meta.fields_map["start"]
_END = t.Appointment._meta.fields_map["end"]


@dataclass(frozen=True)
class Place:
    """Where the job's booking is (what the distance to a fieldworker is measured from)."""

    lat: float
    lon: float


@dataclass(frozen=True)
class JobRow:
    """The job as the renderers read it (`ctx["job"]`): its ids and its booking's place."""

    id: int
    booking_id: int
    appointment_id: int
    service_code: str
    booking: Place


async def load_job_context(job_id: int) -> dict[str, Any]:
    """The context every message about the job renders from; raises when the job does not exist
    (as `Job.get` did)."""
    rows = await query(_SQL, [job_id])  # on the transaction's connection, inside one
    if not rows:
        raise DoesNotExist(t.Job)
    row = rows[0]
    job = JobRow(
        int(row["id"]),
        int(row["booking_id"]),
        int(row["appointment_id"]),
        str(row["service_code"]),
        Place(float(row["lat"]), float(row["lon"])),
    )
    customer = str(row["customer"])
    return {
        "job": job,
        "customer": customer,
        "customer_first_name": first_name(customer),
        "booking_id": job.booking_id,
        "job_id": job.id,
        "service": row["service"] if row["service"] is not None else job.service_code,
        "address": row["address"],
        "notes": row["notes"],
        "start": _START.to_python_value(row["start"]),
        "end": _END.to_python_value(row["end"]),
    }
