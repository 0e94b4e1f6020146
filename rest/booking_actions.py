"""Dispatch actions on one booking (`/bookings/{id}/...`) and the records they leave.

Who is available, sending job requests, assigning, responding on a fieldworker's behalf,
re-broadcasting; then the booking's history and the outbox (`/notifications`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dispatch import assignment, completion, offering, responding
from dispatch.commands import Action, Outcome
from dispatch.model import OPEN_JOB_STATUSES, Channel
from models import tables as t
from models.uow import TortoiseUnitOfWork
from notifications.catalogue import MESSAGES
from rest import schemas as s
from rest.bookings import bookings_out
from rest.errors import ApiError
from rest.routing import Call, model_list_response, model_response

_OPEN_STATUSES = frozenset(s.value for s in OPEN_JOB_STATUSES)
#: Respond outcomes that changed nothing because the request or job was no longer answerable.
_FAILED_OUTCOMES = frozenset({Outcome.TAKEN, Outcome.CLOSED, Outcome.JOB_CLOSED, Outcome.NOT_FOUND})


async def _jobs_of(booking_id: int) -> list[t.Job]:
    return await t.Job.filter(booking_id=booking_id).order_by("id")


async def available_fieldworkers(call: Call) -> web.StreamResponse:
    """Who may take a job and why the others may not (`?job_id=`, else the first open job)."""
    assert call.booking is not None
    q: s.AvailableQuery = call.query
    jobs = await _jobs_of(call.booking.id)
    if q.job_id is not None:
        job = next((j for j in jobs if j.id == q.job_id), None)
        if job is None:
            raise ApiError(
                404, "job_not_found", f"job {q.job_id} is not part of this booking", "job_id"
            )
    else:
        job = next((j for j in jobs if j.status in _OPEN_STATUSES), jobs[0])
    result = await call.ctx.tx.run(lambda uow: offering.eligibility(uow, job.id))
    names: dict[int, str] = dict(await t.Fieldworker.all().values_list("id", "name"))

    def km(value: float | None) -> float | None:
        return round(value, 1) if value is not None else None

    return model_response(
        s.AvailableOut,
        {
            "job_id": job.id,
            "eligible": [
                {
                    "fieldworker_id": e.fieldworker_id,
                    "name": names.get(e.fieldworker_id, ""),
                    "distance_km": km(e.distance_km),
                }
                for e in result.eligible
            ],
            "excluded": [
                {
                    "fieldworker_id": e.fieldworker_id,
                    "name": names.get(e.fieldworker_id, ""),
                    "reasons": list(e.reasons),
                    "distance_km": km(e.distance_km),
                }
                for e in result.excluded
            ],
        },
    )


async def send_job_requests(call: Call) -> web.StreamResponse:
    """Ask chosen fieldworkers to take the listed jobs (default: every open job)."""
    assert call.booking is not None
    body: s.JobRequestsIn = call.body
    booking_id = call.booking.id
    result = await call.ctx.tx.run(
        lambda uow: offering.request_jobs(
            uow,
            booking_id,
            body.fieldworker_ids,
            call.actor,
            Channel.API,
            job_ids=body.job_ids,
            force=body.force,
        )
    )
    skipped = {str(k): v for k, v in result.skipped.items()}
    return model_response(s.SendOut, {"sent": result.sent, "skipped": skipped})


async def assign_booking(call: Call) -> web.StreamResponse:
    """Assign or reassign the listed jobs (default: every job not cancelled or completed)."""
    assert call.booking is not None
    body: s.AssignIn = call.body
    booking_id = call.booking.id

    async def work(uow: TortoiseUnitOfWork) -> list[tuple[int, bool]]:
        return await assignment.assign_booking(
            uow,
            booking_id,
            body.fieldworker_id,
            call.actor,
            Channel.API,
            job_ids=body.job_ids,
            force=body.force,
        )

    results = await call.ctx.tx.run(work)
    return model_response(
        s.AssignOut,
        {
            "results": [
                {"job_id": job_id, "fieldworker_id": body.fieldworker_id, "changed": changed}
                for job_id, changed in results
            ]
        },
    )


_OUTCOME_MESSAGES = {
    Outcome.TAKEN: "job {job} already went to another fieldworker",
    Outcome.CLOSED: "request {request} is no longer open ({status})",
    Outcome.JOB_CLOSED: "job {job} is cancelled or completed",
    Outcome.NOT_FOUND: "request {request} does not exist",
}


async def respond_booking(call: Call) -> web.StreamResponse:
    """Accept, decline or pend a fieldworker's requests on their behalf.

    Every listed job must hold a request of that fieldworker. When no request could be answered
    (taken, closed, job closed) the answer is 409 with that outcome as the code and nothing
    changes; otherwise 200 with each request's outcome.
    """
    assert call.booking is not None
    body: s.RespondIn = call.body
    booking_id = call.booking.id

    async def work(uow: TortoiseUnitOfWork) -> list[dict[str, Any]]:
        results = await responding.respond_for_fieldworker(
            uow,
            booking_id,
            body.fieldworker_id,
            Action(body.action),
            call.actor,
            Channel.API,
            job_ids=body.job_ids,
            reason=body.reason,
        )
        if all(r.outcome in _FAILED_OUTCOMES for r in results):
            first = results[0]
            raise ApiError(
                409,
                first.outcome.value,
                _OUTCOME_MESSAGES[first.outcome].format(
                    job=first.job_id,
                    request=first.request_id,
                    status=first.status.value if first.status else "unknown",
                ),
            )
        return [
            {
                "job_id": r.job_id,
                "request_id": r.request_id,
                "outcome": r.outcome.value,
                "status": r.status,
            }
            for r in results
        ]

    return model_response(s.RespondOut, {"results": await call.ctx.tx.run(work)})


async def rebroadcast_booking(call: Call) -> web.StreamResponse:
    """Ask eligible fieldworkers not yet asked, for every open job.

    With `"include_expired": true`, those whose request expired unanswered are asked again too
    (after an assignment timeout everyone eligible has been asked): each such request reopens
    as pending and is re-sent, if its fieldworker is still eligible and reachable. Declined
    requests never reopen. The body may be left out.
    """
    assert call.booking is not None
    booking_id = call.booking.id
    body: s.RebroadcastIn = call.body
    sent = await call.ctx.tx.run(
        lambda uow: offering.rebroadcast(
            uow, booking_id, call.actor, Channel.API, include_expired=body.include_expired
        )
    )
    return model_response(s.RebroadcastOut, {"sent": sent})


async def complete_booking(call: Call) -> web.StreamResponse:
    """Mark the listed jobs completed (default: every assigned one); answers the booking.

    Each listed job must be assigned (else 409 `job_not_assigned`, and nothing changes); a
    booking with no assigned job is 409 `no_assigned_jobs`. A completed job keeps its
    fieldworker (history `job_completed`); once every job is completed or cancelled the booking is
    `completed` too (history `booking_completed`).
    """
    assert call.booking is not None
    booking_id = call.booking.id
    body: s.CompleteIn = call.body
    await call.ctx.tx.run(
        lambda uow: completion.complete_jobs(uow, booking_id, body.job_ids, call.actor, Channel.API)
    )
    return model_response(
        s.BookingOut, (await bookings_out([await t.Booking.get(id=booking_id)]))[0]
    )


def _history_out(row: t.History) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "actor": {"kind": row.actor_kind, "id": row.actor_id, "name": row.actor_name},
        "action": row.action,
        "on_behalf_of": row.on_behalf_of,
        "from_status": row.from_status,
        "to_status": row.to_status,
        "channel": row.channel,
        "details": row.details or {},
        "job_id": row.job_id,
        "request_id": row.request_id,
    }


async def booking_history(call: Call) -> web.StreamResponse:
    """The booking's history, oldest first."""
    assert call.booking is not None
    rows = await t.History.filter(booking_id=call.booking.id).order_by("id")
    return model_list_response(s.HistoryOut, [_history_out(r) for r in rows])


def _notification_out(row: t.Notification) -> dict[str, Any]:
    # The outbox stores which message it is (`customer_assigned_sms`, `staff_no_acceptance`);
    # integrators see the event whose template wrote it, as `/templates/{event}/{channel}` names
    # it (`customer_assigned` on `sms`, `staff_alert` on `telegram`), and the message as its key.
    # A row no template writes (the edit that retires buttons) shows its key in both.
    known = MESSAGES.get(row.template)
    return {
        "id": row.id,
        "booking_id": row.booking_id,
        "channel": row.channel,
        "recipient": row.recipient,
        "template": known.event if known is not None else row.template,
        "message_key": row.template,
        "body": row.body,
        "status": row.status,
        "attempts": row.attempts,
        "error": row.error,
        "created_at": row.created_at,
    }


async def list_notifications(call: Call) -> web.StreamResponse:
    """Outbox entries, oldest first, optionally of one booking."""
    q: s.NotificationQuery = call.query
    query = t.Notification.all()
    if q.booking_id is not None:
        query = query.filter(booking_id=q.booking_id)
    rows = await query.order_by("id").offset(q.offset).limit(q.limit)
    return model_list_response(s.NotificationOut, [_notification_out(r) for r in rows])
