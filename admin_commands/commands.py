"""The admin commands (CONTRACT §5): what each needs, parses, asks the core and answers.

Transport-free apart from the reply's buttons (label, callback data): `telegram.py` turns them into
Telegram markup and registers the commands. Every rule comes from `dispatch/`; this module words.
"""

from __future__ import annotations

import logging

from dispatch import assignment, responding
from dispatch.commands import Action, Outcome
from dispatch.days import local_day
from dispatch.errors import DispatchError
from dispatch.model import DispatchMode, Permission
from models import tables as t
from models.views import utcnow
from notifications.callbacks import MAX_FORCE_JOBS, ForceAssign, pack

from . import operations as ops
from . import views
from .invocation import ASSIGN_ANYWAY, AdminCommand, Invocation, Reply
from .parsing import (
    day_range,
    parse_booking,
    parse_booking_fieldworker,
    parse_no_args,
    parse_reassign,
    parse_rebroadcast,
    parse_request,
    parse_respond,
)
from .texts import (
    excluded_words,
    fieldworker_label,
    not_sent_words,
    outcome_words,
)

log = logging.getLogger(__name__)

# -- respond on behalf ---------------------------------------------------------------------------


async def _respond(inv: Invocation, action: str, verb: str) -> Reply:
    args = parse_respond(inv.args, action=action)
    booking = await ops.get_booking(args.booking_id)
    fw = await ops.resolve_fieldworker(args.fieldworker)
    actor = inv.actor
    results = await inv.app.tx.run(
        lambda uow: responding.respond_for_fieldworker(
            uow,
            booking.id,
            fw.id,
            Action(action),
            actor,
            ops.CHANNEL,
            job_ids=args.job_ids or None,
            reason=args.reason,
        )
    )
    lines = [f"{verb} for {fieldworker_label(fw)} in booking {booking.id}:"]
    lines += [f"• job {r.job_id}: {outcome_words(r.outcome)}" for r in results]
    if action == "decline" and any(r.outcome is Outcome.DECLINED for r in results):
        lines.append(f"Reason: {args.reason}")
    return Reply("\n".join(lines))


async def accept_for(inv: Invocation) -> Reply:
    """`/accept_for BOOKING FIELDWORKER [JOB...]`."""
    return await _respond(inv, "accept", "Accept")


async def decline_for(inv: Invocation) -> Reply:
    """`/decline_for BOOKING FIELDWORKER REASON...`."""
    return await _respond(inv, "decline", "Decline")


async def pend(inv: Invocation) -> Reply:
    """`/pend BOOKING FIELDWORKER [JOB...]`."""
    return await _respond(inv, "pend", "Back to pending")


# -- assign, request, rebroadcast, reassign ------------------------------------------------------


def assigned_text(
    booking_id: int, fw: t.Fieldworker, results: list[tuple[int, bool]], forced: bool
) -> str:
    how = " (eligibility overridden)" if forced else ""
    lines = [f"Booking {booking_id} assigned to {fieldworker_label(fw)}{how}:"]
    lines += [
        f"• job {job_id}: {'assigned' if changed else 'already theirs'}"
        for job_id, changed in results
    ]
    return "\n".join(lines)


async def assign(inv: Invocation) -> Reply:
    """`/assign BOOKING FIELDWORKER [JOB...]`: the listed jobs, or every job still to assign (an
    acceptor confirmed for the one job they accepted); an ineligible fieldworker gets an "Assign
    anyway" button."""
    args = parse_booking_fieldworker(inv.args)
    booking = await ops.get_booking(args.booking_id)
    fw = await ops.resolve_fieldworker(args.fieldworker)
    actor = inv.actor
    job_ids = list(args.job_ids) or None
    try:
        results = await inv.app.tx.run(
            lambda uow: assignment.assign_booking(
                uow, booking.id, fw.id, actor, ops.CHANNEL, job_ids=job_ids
            )
        )
    except DispatchError as exc:
        if exc.code != "not_eligible":
            raise
        return await _not_eligible_reply(inv, booking.id, fw, args.job_ids, exc)
    return Reply(assigned_text(booking.id, fw, results, forced=False))


async def _not_eligible_reply(
    inv: Invocation,
    booking_id: int,
    fw: t.Fieldworker,
    job_ids: tuple[int, ...],
    exc: DispatchError,
) -> Reply:
    """Why `/assign` was refused, with an "Assign anyway" button for the same jobs."""
    excluded = await inv.app.tx.run(
        lambda uow: ops.exclusions_for(uow, booking_id, fw.id, job_ids or None)
    )
    lines = [f"{fieldworker_label(fw)} is not eligible for booking {booking_id}:"]
    lines += [f"• job {job_id}: {excluded_words(e)}" for job_id, e in excluded.items()]
    if not excluded:
        lines.append(exc.message)
    lines.append("Nothing was changed.")
    if len(job_ids) > MAX_FORCE_JOBS:
        # A button names at most a few jobs (64 bytes): do not offer one that would assign more.
        lines.append(f"To assign anyway, list at most {MAX_FORCE_JOBS} jobs at a time.")
        return Reply("\n".join(lines))
    button = (ASSIGN_ANYWAY, pack(ForceAssign(booking_id, fw.id, job_ids)))
    return Reply("\n".join(lines), [[button]])


async def request(inv: Invocation) -> Reply:
    """`/request BOOKING FIELDWORKER... [job JOB...]`: ask them for the listed jobs, or every open
    job of the booking; jobs a fieldworker is not eligible for are reported, not sent."""
    args = parse_request(inv.args)
    booking = await ops.get_booking(args.booking_id)
    people: dict[int, t.Fieldworker] = {}
    for ref in args.fieldworkers:
        fw = await ops.resolve_fieldworker(ref)
        people.setdefault(fw.id, fw)
    actor = inv.actor
    job_ids = list(args.job_ids) or None
    report = await inv.app.tx.run(
        lambda uow: ops.request_booking(uow, booking.id, list(people), actor, job_ids)
    )
    lines = [f"Booking {booking.id}: {len(report.sent)} request(s) sent."]
    lines += [
        f"• {fieldworker_label(people.get(fw_id), fw_id)}: job {job_id}"
        for fw_id, job_id in report.sent
    ]
    if report.not_sent:
        lines.append("Not sent:")
        lines += [
            f"• {fieldworker_label(people.get(fw_id), fw_id)}, {words}"
            for fw_id, words in not_sent_words(report.not_sent)
        ]
    return Reply(views.clip("\n".join(lines)))


async def rebroadcast_text(booking_id: int, asked: list[int], include_expired: bool) -> str:
    """What a re-broadcast did, naming the fieldworkers asked (the command's and the button's)."""
    if not asked and include_expired:
        return f"Booking {booking_id}: nobody to ask, expired requests included."
    if not asked:
        return (
            f"Booking {booking_id}: nobody new to ask. /rebroadcast {booking_id} all asks again "
            "those whose request expired."
        )
    people = await views.fieldworker_rows(asked)
    names = ", ".join(fieldworker_label(people.get(i), i) for i in asked)
    more = "" if include_expired else " more"
    return f"Booking {booking_id}: asked {len(asked)}{more} fieldworker(s): {names}"


async def rebroadcast(inv: Invocation) -> Reply:
    """`/rebroadcast BOOKING [all]`: ask eligible fieldworkers not asked yet (`all`: and those
    whose request expired)."""
    args = parse_rebroadcast(inv.args)
    booking = await ops.get_booking(args.booking_id)
    actor, everyone = inv.actor, args.include_expired
    asked = await inv.app.tx.run(
        lambda uow: ops.rebroadcast_booking(uow, booking.id, actor, include_expired=everyone)
    )
    return Reply(await rebroadcast_text(booking.id, asked, everyone))


async def reassign_all(inv: Invocation) -> Reply:
    """`/reassign_all FIELDWORKER FROM TO`: unassign their jobs in the range, dispatch again."""
    args = parse_reassign(inv.args)
    fw = await ops.resolve_fieldworker(args.fieldworker)
    start, end = day_range(args.first_day, args.last_day, inv.timezone)
    span = f"{args.first_day.isoformat()} to {args.last_day.isoformat()}"
    done = await assignment.unassign_range(
        inv.app.tx, fw.id, start, end, inv.actor, ops.CHANNEL, reason=ops.REASSIGN_REASON
    )
    if not done:
        return Reply(f"{fieldworker_label(fw)} has no assigned jobs from {span}.")
    lines = [f"Reassigning {len(done)} job(s) of {fieldworker_label(fw)} from {span}:"]
    for r in done:
        if r.refused is not None or r.dispatch_mode is None:
            why = r.refused.message if r.refused else "unknown"
            lines.append(f"• job {r.job_id}: not changed ({why})")
            continue
        lines.append(
            f"• job {r.job_id} (booking {r.booking_id}): {_reassign_words(r.sent, r.dispatch_mode)}"
        )
    return Reply(views.clip("\n".join(lines)))


def _reassign_words(sent: list[int] | None, mode: DispatchMode) -> str:
    if sent is None:
        return "no longer theirs, not changed"
    if mode is DispatchMode.MANUAL:
        return "unassigned; manual booking, send requests with /request"
    if sent:
        return f"unassigned, offered to {len(sent)} fieldworker(s)"
    return "unassigned, nobody else to ask (staff alerted)"


# -- views ---------------------------------------------------------------------------------------


async def available(inv: Invocation) -> Reply:
    """`/available BOOKING`: eligibility for the booking's first open job."""
    args = parse_booking(inv.args)
    booking = await ops.get_booking(args.booking_id)
    open_jobs = await ops.open_job_ids(booking.id)
    if not open_jobs:
        return Reply(f"Booking {booking.id} has no open jobs.")
    page = await views.available_page(inv.app.tx, open_jobs[0], 1, inv.timezone)
    return Reply(page.text, page.buttons)


async def booking_view(inv: Invocation) -> Reply:
    """`/booking BOOKING`: the booking summary."""
    args = parse_booking(inv.args)
    booking = await ops.get_booking(args.booking_id)
    return Reply(await views.booking_summary(booking.id, inv.timezone))


async def history(inv: Invocation) -> Reply:
    """`/history BOOKING`: history rows, oldest first."""
    args = parse_booking(inv.args)
    booking = await ops.get_booking(args.booking_id)
    page = await views.history_page(booking.id, 1, inv.timezone)
    return Reply(page.text, page.buttons)


async def unassigned(inv: Invocation) -> Reply:
    """`/unassigned`: jobs nobody has yet, oldest appointment first."""
    parse_no_args(inv.args)
    page = await views.unassigned_page(1, inv.timezone)
    return Reply(page.text, page.buttons)


async def today(inv: Invocation) -> Reply:
    """`/today`: the jobs starting today (company zone), grouped by status."""
    parse_no_args(inv.args)
    page = await views.day_page(local_day(utcnow(), inv.timezone), 1, inv.timezone)
    return Reply(page.text, page.buttons)


_P = Permission
COMMANDS: tuple[AdminCommand, ...] = (
    AdminCommand(
        "accept_for", _P.RESPOND_ON_BEHALF, accept_for, "accept on a fieldworker's behalf"
    ),
    AdminCommand("decline_for", _P.RESPOND_ON_BEHALF, decline_for, "decline on their behalf"),
    AdminCommand("pend", _P.RESPOND_ON_BEHALF, pend, "put their answer back to pending"),
    AdminCommand(
        "assign", _P.ASSIGN, assign, "assign (or confirm) the listed jobs, else every job"
    ),
    AdminCommand(
        "request", _P.SEND_REQUESTS, request, "send job requests for the listed or every open job"
    ),
    AdminCommand(
        "rebroadcast",
        _P.SEND_REQUESTS,
        rebroadcast,
        "ask everyone eligible not asked (all: and those whose request expired)",
    ),
    AdminCommand(
        "reassign_all",
        _P.ASSIGN,
        reassign_all,
        "take their jobs in a date range and dispatch them again",
        takes_booking=False,
    ),
    AdminCommand("available", _P.VIEW, available, "who can take the booking, and why not"),
    AdminCommand("booking", _P.VIEW, booking_view, "booking summary"),
    AdminCommand("history", _P.VIEW, history, "what happened, oldest first"),
    AdminCommand("unassigned", _P.VIEW, unassigned, "jobs nobody has yet", takes_booking=False),
    AdminCommand("today", _P.VIEW, today, "today's jobs by status", takes_booking=False),
)


def help_text(staff: t.Staff, allowed: frozenset[Permission]) -> str:
    """The admin command list for a staff member, marking what their role cannot use."""
    lines = [
        f"Staff commands (your role: {staff.role}). BOOKING is a booking id, FIELDWORKER a "
        "fieldworker id or @username, JOB a job id (after the word `job` where other words come "
        "first; none: the booking's jobs), dates are YYYY-MM-DD.",
    ]
    for command in COMMANDS:
        mark = "" if command.permission in allowed else " [not allowed for your role]"
        lines.append(f"{command.usage} - {command.summary}{mark}")
    return "\n".join(lines)
