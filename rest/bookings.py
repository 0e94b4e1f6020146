"""Views of `/bookings` and `/bookings/{id}`: create, list, read, change or cancel a booking."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from tortoise.expressions import Q, Subquery

from dispatch import bookings, rescheduling
from dispatch.commands import AppointmentMove, BookingChanges
from dispatch.days import local_days
from dispatch.model import BookingStatus, Channel, Interval, Permission, Point
from dispatch.ports import NewBooking
from models import tables as t
from models.uow import TortoiseUnitOfWork
from rest import schemas as s
from rest.errors import ApiError
from rest.routing import Call, model_list_response, model_response


async def bookings_out(bookings: Sequence[t.Booking]) -> list[dict[str, Any]]:
    """The GET shape of bookings: customers, appointments, jobs and requests (5 queries)."""
    if not bookings:
        return []
    ids = [b.id for b in bookings]
    customers = {
        c.id: c for c in await t.Customer.filter(id__in=sorted({b.customer_id for b in bookings}))
    }
    jobs = await t.Job.filter(booking_id__in=ids).select_related("appointment").order_by("id")
    appointments_of: dict[int, list[dict[str, Any]]] = {}
    for a in await t.Appointment.filter(booking_id__in=ids).order_by("id"):
        appointments_of.setdefault(a.booking_id, []).append(
            {"id": a.id, "start": a.start, "end": a.end}
        )
    requests: dict[int, list[dict[str, Any]]] = {}
    for r in await t.JobRequest.filter(booking_id__in=ids).order_by("id"):
        requests.setdefault(r.job_id, []).append(
            {
                "id": r.id,
                "fieldworker_id": r.fieldworker_id,
                "status": r.status,
                "reason": r.reason,
                "responded_by": (
                    {"kind": r.responded_by_kind, "id": r.responded_by_id}
                    if r.responded_by_kind
                    else None
                ),
                "responded_at": r.responded_at,
                "channel": r.channel,
            }
        )
    jobs_of: dict[int, list[dict[str, Any]]] = {}
    for j in jobs:
        jobs_of.setdefault(j.booking_id, []).append(
            {
                "id": j.id,
                "appointment": {
                    "id": j.appointment_id,
                    "start": j.appointment.start,
                    "end": j.appointment.end,
                },
                "service": j.service_code,
                "status": j.status,
                "fieldworker_id": j.fieldworker_id,
                "requests": requests.get(j.id, []),
            }
        )
    out = []
    for b in bookings:
        customer = customers[b.customer_id]
        out.append(
            {
                "id": b.id,
                "status": b.status,
                "dispatch_mode": b.dispatch_mode,
                "customer": {
                    "name": customer.name,
                    "phone": customer.phone,
                    "email": customer.email,
                },
                "address": b.address,
                "location": {"lat": b.lat, "lon": b.lon},
                "notes": b.notes,
                "requirements": {
                    "skills": b.required_skills or [],
                    "custom_fields": b.custom_fields or {},
                },
                "created_at": b.created_at,
                "appointments": appointments_of.get(b.id, []),
                "jobs": jobs_of.get(b.id, []),
            }
        )
    return out


async def _booking_response(booking_id: int, status: int = 200) -> web.Response:
    booking = await t.Booking.get(id=booking_id)
    return model_response(s.BookingOut, (await bookings_out([booking]))[0], status)


async def create_booking(call: Call) -> web.StreamResponse:
    """Create a booking; in `auto` mode eligible fieldworkers are asked at once.

    With `fieldworker_id` every job is assigned to them at creation (the caller also needs the
    `assign` permission).
    """
    body: s.BookingIn = call.body
    if body.fieldworker_id is not None:
        await call.require(Permission.ASSIGN)

    async def work(uow: TortoiseUnitOfWork) -> int:
        mode = body.dispatch_mode or (await uow.settings()).dispatch_mode
        new = NewBooking(
            customer_name=body.customer.name,
            customer_phone=body.customer.phone,
            customer_email=body.customer.email,
            address=body.address,
            location=Point(body.location.lat, body.location.lon),
            services=tuple(body.services),
            appointments=tuple(Interval(a.start, a.end) for a in body.appointments),
            dispatch_mode=mode,
            required_skills=frozenset(body.requirements.skills),
            custom_fields=body.requirements.custom_fields,
            notes=body.notes,
        )
        return await bookings.create_booking(
            uow, new, call.actor, Channel.API, fieldworker_id=body.fieldworker_id
        )

    return await _booking_response(await call.ctx.tx.run(work), 201)


async def list_bookings(call: Call) -> web.StreamResponse:
    """Bookings, newest first, filtered; `X-Total-Count` says how many match before paging.

    `date` is a day in the company's TIMEZONE; `from` (inclusive) and `to` (exclusive) bound an
    appointment's start; the job filters hold for one same job. `q` finds text in the customer's
    name, the address or (ignoring spaces and dashes) the customer's phone, in any letter case.
    """
    q: s.BookingListQuery = call.query
    query = t.Booking.all()
    if q.status is not None:
        query = query.filter(status=q.status.value)
    jobs = _job_filters(q, call.ctx.timezone)
    if jobs:
        query = query.filter(id__in=Subquery(t.Job.filter(**jobs).values("booking_id")))
    if q.q:
        found = Q(customer__name__icontains=q.q) | Q(address__icontains=q.q)
        digits = re.sub(r"[\s().-]", "", q.q)
        if re.fullmatch(r"\+?[0-9]+", digits):
            found |= Q(customer__phone__contains=digits)
        query = query.filter(found)
    total = await query.count()
    rows = await query.order_by("-id").offset(q.offset).limit(q.limit)
    return model_list_response(s.BookingOut, await bookings_out(rows), total)


def _job_filters(q: s.BookingListQuery, timezone: str) -> dict[str, Any]:
    """The filters on one job of a booking, as tortoise keywords on `Job`."""
    jobs: dict[str, Any] = {}
    if q.job_status is not None:
        jobs["status"] = q.job_status.value
    if q.fieldworker_id is not None:
        jobs["fieldworker_id"] = q.fieldworker_id
    after = [q.from_] if q.from_ is not None else []
    before = [q.to] if q.to is not None else []
    if q.date is not None:
        day = local_days(q.date, q.date, timezone)
        after.append(day.start)
        before.append(day.end)
    if after:
        jobs["appointment__start__gte"] = max(after)
    if before:
        jobs["appointment__start__lt"] = min(before)
    return jobs


async def get_booking(call: Call) -> web.StreamResponse:
    """One booking with its jobs and their requests."""
    assert call.booking is not None
    return model_response(s.BookingOut, (await bookings_out([call.booking]))[0])


async def patch_booking(call: Call) -> web.StreamResponse:
    """Change the address, location or notes, reschedule (`appointments`), or cancel
    (`"status": "cancelled"`), all in one transaction: any refusal changes nothing.

    Changed details reach the fieldworkers who hold an open request for one of the booking's jobs
    or an assigned job of it: a new message saying what changed, and a pending request's message
    shows the new details. A reschedule moves each named appointment (`dispatch.rescheduling`):
    a job's fieldworker keeps it when still eligible at the new time, otherwise it is dispatched
    again; the customer is told once. An unknown appointment id, or none on a booking with several
    appointments, is 422 naming `appointments.<i>.id`. Changes to a booking that is no longer open
    are refused with 409 `booking_not_open`; cancelling a cancelled booking again changes nothing.

    Decision: rescheduling and cancelling in one body is refused (422 `reschedule_and_cancel`):
    one of them is a mistake, and guessing which would tell the customer the wrong thing.
    """
    assert call.booking is not None
    booking_id = call.booking.id
    changes = call.changes()
    cancel = changes.pop("status", None) == BookingStatus.CANCELLED.value
    moves = [AppointmentMove(a.id, a.start, a.end) for a in changes.pop("appointments", None) or []]
    if moves and cancel:
        raise ApiError(
            422,
            "reschedule_and_cancel",
            "a booking cannot be rescheduled and cancelled at once",
            "appointments",
        )
    location = changes.get("location")
    wanted = BookingChanges(
        address=changes.get("address"),
        notes=changes.get("notes"),
        location=Point(location.lat, location.lon) if location is not None else None,
        cancel=cancel,
    )

    async def work(uow: TortoiseUnitOfWork) -> None:
        if changes or cancel or not moves:
            await bookings.change_booking(uow, booking_id, wanted, call.actor, Channel.API)
        if moves:
            await rescheduling.reschedule(uow, booking_id, moves, call.actor, Channel.API)

    await call.ctx.tx.run(work)
    return await _booking_response(booking_id)
