"""The inline keyboards of outbox messages, as Bot API `reply_markup` JSON (stored in outbox rows).

Button data comes from `notifications.callbacks`, the one place that knows its format.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from dispatch.model import Interval
from notifications.callbacks import (
    ForceAssign,
    JobPress,
    Op,
    Press,
    ProposePress,
    RebroadcastAll,
    RequestPress,
    ShowAvailable,
    pack,
)
from notifications.templates import format_when


def _button(text: str, press: Press) -> dict[str, str]:
    return {"text": text, "callback_data": pack(press)}


def request_keyboard(request_id: int) -> dict[str, Any]:
    """The Accept / Decline buttons of a job request."""
    return {
        "inline_keyboard": [
            [
                _button("Accept ✅", RequestPress(Op.ACCEPT, request_id)),
                _button("Decline ❌", RequestPress(Op.DECLINE, request_id)),
            ]
        ]
    }


def attending_keyboard(job_id: int) -> dict[str, Any]:
    """The button under an assigned job's message (CONTRACT §5)."""
    return {
        "inline_keyboard": [[_button("No longer attending", JobPress(Op.NOT_ATTENDING, job_id))]]
    }


def day_before_keyboard(job_id: int) -> dict[str, Any]:
    """The day-before confirmation's buttons (CONTRACT §5); Can't attend is No longer attending."""
    return {
        "inline_keyboard": [
            [
                _button("Confirm", JobPress(Op.CONFIRM, job_id)),
                _button("Can't attend", JobPress(Op.CANT_ATTEND, job_id)),
            ]
        ]
    }


def timeout_alert_keyboard(booking_id: int, job_id: int) -> dict[str, Any]:
    """Under a staff alert that nobody accepted in time: the two next steps that work then."""
    return {
        "inline_keyboard": [
            [_button("Re-broadcast to everyone (incl. expired)", RebroadcastAll(booking_id))],
            [_button("Show available", ShowAvailable(job_id))],
        ]
    }


def rescheduled_alert_keyboard(job_id: int) -> dict[str, Any]:
    """Under a staff alert that a rescheduled job waits for them: who is available now."""
    return {"inline_keyboard": [[_button("Show available", ShowAvailable(job_id))]]}


def unassigned_soon_keyboard(
    booking_id: int, job_id: int, suggested: tuple[int, str] | None
) -> dict[str, Any]:
    """Under a staff alert that a job starts soon unassigned: re-broadcast, who is available, and
    one press to assign the nearest eligible fieldworker (when there is one)."""
    rows = timeout_alert_keyboard(booking_id, job_id)["inline_keyboard"]
    if suggested is not None:
        fieldworker_id, name = suggested
        rows.append([_button(f"Assign {name}", ForceAssign(booking_id, fieldworker_id, (job_id,)))])
    return {"inline_keyboard": rows}


def _reason_keyboard(
    reasons: Sequence[str], required: bool, pick: Callable[[int], Press], back: Press
) -> dict[str, Any]:
    rows = [[_button(reason, pick(i))] for i, reason in enumerate(reasons, 1)]
    if not required:
        rows.append([_button("No reason", pick(0))])
    rows.append([_button("↩ Back", back)])
    return {"inline_keyboard": rows}


def reason_keyboard(request_id: int, reasons: Sequence[str], required: bool) -> dict[str, Any]:
    """Why decline a request: one button per configured reason, "No reason" when optional, Back."""
    return _reason_keyboard(
        reasons,
        required,
        lambda i: RequestPress(Op.DECLINE_REASON, request_id, i),
        RequestPress(Op.DECLINE_BACK, request_id),
    )


def attending_reason_keyboard(
    job_id: int, reasons: Sequence[str], required: bool, *, day_before: bool = False
) -> dict[str, Any]:
    """Why no longer attend a job: the same reasons as a decline, and Back (to Confirm / Can't
    attend when asked from the day-before confirmation)."""
    back = Op.CANT_ATTEND_BACK if day_before else Op.NOT_ATTENDING_BACK
    return _reason_keyboard(
        reasons,
        required,
        lambda i: JobPress(Op.NOT_ATTENDING_REASON, job_id, i),
        JobPress(back, job_id),
    )


#: The mark on a picked time's button.
PICKED = "✅ "


def propose_keyboard(
    job_id: int, slots: Sequence[Interval], picked: Collection[datetime], timezone: str
) -> dict[str, Any]:
    """Reschedule Assist: one button per suggested time (in the fieldworker's zone, ticked when
    picked), then "Type times" and "Send to customer"."""
    rows = []
    for slot in slots:
        label = format_when(slot.start, slot.end, timezone)
        ticked = PICKED + label if slot.start in picked else label
        rows.append([_button(ticked, ProposePress.pick(job_id, slot.start))])
    last = [_button("✍️ Type times", ProposePress(Op.PROPOSE_TYPE, job_id))]
    if slots:
        last.append(_button("📨 Send to customer", ProposePress(Op.PROPOSE_SEND, job_id)))
    return {"inline_keyboard": [*rows, last]}
