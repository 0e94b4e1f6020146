"""Only the newest message about a job request or a job carries live buttons (CONTRACT §5).

Every outbox row whose message shows a fieldworker's buttons is marked live in its payload
(`"live": {"request": id, "job": id}`, read from the buttons' own callback data: Accept/Decline act
on a request, "No longer attending" and Reschedule Assist's times on a job). When an event makes
them stale - the request is sent again (a pend, a re-broadcast), the job is given to someone, or
it leaves its fieldworker (taken off by staff, missed, cancelled) - each older live message is
retired before the event's own messages are queued: a `retire` row to its chat, after it, which the
sender turns into an edit that takes its buttons off. An edit of a request's own message (taken,
declined, accepted) replaces that message's buttons itself, so it only marks the request's older
rows as no longer live.

All the live rows of one request show the same message, the request's current one (a new message
of a request retires the older ones first), so one retire row per request is enough.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dispatch import events as ev
from models import tables as t
from notifications import outbox_batch
from notifications.callbacks import JobPress, ProposePress, RequestPress, unpack

#: Payload key of a row whose message shows live buttons, and what they act on.
LIVE = "live"
#: Payload method of a row that takes the buttons off an older message.
RETIRE = "retire"
#: The outbox template of a retire row (listed by `GET /notifications` like any other row).
RETIRE_TEMPLATE = "buttons_retired"


def live(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` (with `reply_markup`) marked live for the request or job its buttons act on."""
    subject: dict[str, int] = {}
    for row in payload["reply_markup"].get("inline_keyboard", []):
        for button in row:
            press = unpack(str(button.get("callback_data", "")))
            if isinstance(press, RequestPress):
                subject["request"] = press.request_id
            elif isinstance(press, JobPress | ProposePress):
                subject["job"] = press.job_id
    return {**payload, LIVE: subject} if subject else payload


async def _live_rows(booking_id: int, request_id: int | None = None) -> list[t.Notification]:
    """The booking's live rows, oldest first (only the request's, when given: a cheap query)."""
    await outbox_batch.flush()  # the rows this write has queued so far are read too
    query = t.Notification.filter(booking_id=booking_id, channel="telegram")
    if request_id is not None:
        query = query.filter(request_id=request_id)
    rows = await query.exclude(status="failed").order_by("id")
    return [r for r in rows if r.payload.get(LIVE)]


async def _not_live(rows: list[t.Notification]) -> None:
    for row in rows:
        payload = {k: v for k, v in row.payload.items() if k != LIVE}
        await t.Notification.filter(id=row.id).update(payload=payload)


async def _booking_live_rows(booking_id: int) -> list[t.Notification]:
    rows = t.Notification.filter(booking_id=booking_id, channel="telegram").exclude(status="failed")
    return [r for r in await rows.order_by("id") if r.payload.get(LIVE)]


async def replaced(booking_id: int, request_id: int) -> None:
    """An edit of the request's message is queued: its older rows are live no more."""
    for queued in outbox_batch.queued():  # queued earlier in this write, not inserted yet
        if (
            queued.booking_id == booking_id
            and queued.request_id == request_id
            and queued.channel == "telegram"
        ):
            queued.payload = {k: v for k, v in queued.payload.items() if k != LIVE}
    # The booking's live rows are read once per write (one edit per withdrawn request).
    rows = await outbox_batch.live_rows(booking_id, _booking_live_rows)
    stale = [r for r in rows if r.request_id == request_id]
    await _not_live(stale)
    for row in stale:
        rows.remove(row)


async def retire(
    now: datetime, booking_id: int, *, request_id: int | None = None, job_id: int | None = None
) -> None:
    """Take the buttons off every live message about the request or the job.

    With neither, every live message of the booking (it was cancelled).
    """
    # A request's rows are all its rows; a job's rows may be any of the booking's.
    rows = await _live_rows(booking_id, request_id if job_id is None else None)
    every = request_id is None and job_id is None

    def about(row: t.Notification) -> bool:
        subject = row.payload[LIVE]
        return every or (
            (request_id is not None and request_id in (subject.get("request"), row.request_id))
            or (job_id is not None and subject.get("job") == job_id)
        )

    # One message per request (its current one), else one per row: retire the newest row of each.
    messages: dict[tuple[str, int], t.Notification] = {}
    for row in filter(about, rows):
        key = ("request", row.request_id) if row.request_id is not None else ("row", row.id)
        messages[key] = row
    requests = {key[1] for key in messages if key[0] == "request"}
    retired = [r for r in rows if about(r) or r.request_id in requests]
    await _not_live(retired)
    for row in messages.values():
        await t.Notification.create(
            booking_id=booking_id,
            channel="telegram",
            recipient=row.recipient,
            template=RETIRE_TEMPLATE,
            body="(buttons removed)",
            payload={"method": RETIRE, "of": row.id},
            next_attempt_at=now,
        )


async def superseded(
    now: datetime, booking_id: int, request_id: int, chat_id: int, message_id: int
) -> None:
    """A request's message was sent again outside the outbox (`/requests`): retire the old one."""
    await replaced(booking_id, request_id)
    await t.Notification.create(
        booking_id=booking_id,
        channel="telegram",
        recipient=str(chat_id),
        template=RETIRE_TEMPLATE,
        body="(buttons removed)",
        payload={"method": RETIRE, "chat_id": chat_id, "message_id": message_id},
        next_attempt_at=now,
    )


def moved_job(event: ev.Event) -> int | None:
    """The job `event` took from its fieldworker, staff gave to someone, or moved to a new time (a
    fieldworker's own accept is not news to older messages: its edit of their request message is
    the live one)."""
    if isinstance(event, ev.JobAssigned):
        return None if event.via_accept else event.job_id
    if isinstance(
        event, ev.JobUnassigned | ev.FieldworkerCancelled | ev.JobCancelled | ev.JobRescheduled
    ):
        return event.job_id
    return None


async def retire_stale(now: datetime, event: ev.Event) -> None:
    """Retire the live messages `event` makes stale (before its own messages are queued)."""
    if isinstance(event, ev.RequestPended) or (isinstance(event, ev.RequestSent) and event.resent):
        # Asked again: a new request message. (A first request has no older message to retire.)
        await retire(now, event.booking_id, request_id=event.request_id)
    elif isinstance(event, ev.BookingCancelled):
        await retire(now, event.booking_id)
    elif isinstance(event, ev.AttendanceAsked | ev.JobReminder):
        # The day-before question (Confirm / Can't attend) or the reminder before the start
        # (No longer attending) carries the job's buttons now.
        await retire(now, event.booking_id, job_id=event.job_id)
    elif (job_id := moved_job(event)) is not None:
        await retire(now, event.booking_id, job_id=job_id)
