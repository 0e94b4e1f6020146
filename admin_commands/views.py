"""The read-only admin views: `/booking`, `/history`, `/unassigned`, `/today`, `/available`.

Each view returns plain text and, for the long lists, the page buttons as `(label, callback data)`
pairs; the Telegram adapter turns them into an inline keyboard. Times are shown in the company's
zone (TIMEZONE).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from dispatch import offering
from dispatch.days import local_days
from dispatch.model import EligibilityResult, JobStatus
from models import tables as t
from models.transactions import Transactions
from models.uow import TortoiseUnitOfWork
from notifications.callbacks import PageRef, PageView, day_number, pack
from notifications.templates import format_when

from .operations import open_job_ids
from .parsing import page_window
from .texts import excluded_words, fieldworker_label

#: Telegram refuses longer messages; leave room for a header.
MAX_TEXT = 4000
UNASSIGNED_STATUSES = (JobStatus.UNASSIGNED, JobStatus.OFFERED, JobStatus.MISSED)
#: `/today`'s groups, in this order: jobs that still need someone first, then the settled ones.
DAY_GROUPS = (
    JobStatus.UNASSIGNED,
    JobStatus.OFFERED,
    JobStatus.MISSED,
    JobStatus.ASSIGNED,
    JobStatus.COMPLETED,
    JobStatus.CANCELLED,
)

PREV = "◀ Prev"
NEXT = "Next ▶"


@dataclass(frozen=True)
class Page:
    """One screen of a view: its text and its rows of `(label, callback data)` buttons."""

    text: str
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut to fit one Telegram message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nav(
    view: PageView, arg: int, page: int, has_prev: bool, has_next: bool
) -> list[list[tuple[str, str]]]:
    row: list[tuple[str, str]] = []
    if has_prev:
        row.append((PREV, pack(PageRef(view, arg, page - 1))))
    if has_next:
        row.append((NEXT, pack(PageRef(view, arg, page + 1))))
    return [row] if row else []


async def fieldworker_rows(ids: Iterable[int | None]) -> dict[int, t.Fieldworker]:
    """Fieldworkers by id, for labels."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {fw.id: fw for fw in await t.Fieldworker.filter(id__in=wanted)}


async def service_names(codes: Iterable[str]) -> dict[str, str]:
    """Service code -> name."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    return dict(await t.Service.filter(code__in=wanted).values_list("code", "name"))


def _local(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


# -- /booking ------------------------------------------------------------------------------------


async def booking_summary(booking_id: int, tz: str) -> str:
    """Status, customer, address, and each job with its fieldworker and requests."""
    booking = await t.Booking.get(id=booking_id).select_related("customer")
    jobs = (
        await t.Job.filter(booking_id=booking_id)
        .order_by("appointment__start", "id")
        .select_related("appointment")
    )
    requests = await t.JobRequest.filter(booking_id=booking_id).order_by("id")
    people = await fieldworker_rows(
        [j.fieldworker_id for j in jobs] + [r.fieldworker_id for r in requests]
    )
    names = await service_names(j.service_code for j in jobs)
    customer = booking.customer
    contact = ", ".join(x for x in (customer.phone, customer.email) if x)
    lines = [
        f"Booking {booking.id}: {booking.status} ({booking.dispatch_mode} dispatch)",
        f"Customer: {customer.name}" + (f", {contact}" if contact else ""),
        f"Address: {booking.address}",
    ]
    if booking.notes:
        lines.append(f"Notes: {booking.notes}")
    for job in jobs:
        who = (
            f" - {fieldworker_label(people.get(job.fieldworker_id), job.fieldworker_id)}"
            if job.fieldworker_id is not None
            else ""
        )
        lines.append(
            f"Job {job.id}: {names.get(job.service_code, job.service_code)}, "
            f"{format_when(job.appointment.start, job.appointment.end, tz)}, {job.status}{who}"
        )
        asked = [r for r in requests if r.job_id == job.id]
        if asked:
            lines.append(
                "  requests: "
                + "; ".join(
                    f"{fieldworker_label(people.get(r.fieldworker_id), r.fieldworker_id)} "
                    f"{r.status}" + (f" ({r.reason})" if r.reason else "")
                    for r in asked
                )
            )
        else:
            lines.append("  requests: none")
    return clip("\n".join(lines))


# -- /history ------------------------------------------------------------------------------------


async def history_page(booking_id: int, page: int, tz: str) -> Page:
    """The booking's history, oldest first, one page."""
    query = t.History.filter(booking_id=booking_id)
    window = page_window(await query.count(), page)
    rows = await query.order_by("at", "id").offset(window.offset).limit(window.limit)
    people = await fieldworker_rows([r.on_behalf_of for r in rows] + [_subject(r) for r in rows])
    lines = [f"History of booking {booking_id} ({tz}), page {window.page}/{window.pages}:"]
    if not rows:
        lines.append("(nothing recorded)")
    for row in rows:
        parts = [_local(row.at, tz), row.actor_name or row.actor_kind, row.action]
        if row.on_behalf_of is not None:
            parts.append("for " + fieldworker_label(people.get(row.on_behalf_of), row.on_behalf_of))
        elif (subject := _subject(row)) is not None:
            parts.append(fieldworker_label(people.get(subject), subject))
        if row.from_status or row.to_status:
            parts.append(f"{row.from_status or '-'}→{row.to_status or '-'}")
        reason = row.details.get("reason") if isinstance(row.details, dict) else None
        if reason:
            parts.append(f"reason: {reason}")
        lines.append(" · ".join(parts))
    buttons = _nav(PageView.HISTORY, booking_id, window.page, window.has_prev, window.has_next)
    return Page(clip("\n".join(lines)), buttons)


def _subject(row: t.History) -> int | None:
    """The fieldworker a history row is about (`details.fieldworker_id`), if any."""
    details = row.details if isinstance(row.details, dict) else {}
    value = details.get("fieldworker_id")
    return value if isinstance(value, int) else None


# -- /unassigned ---------------------------------------------------------------------------------


async def unassigned_page(page: int, tz: str) -> Page:
    """Jobs nobody has yet (unassigned, offered, missed), oldest appointment first, one page."""
    query = t.Job.filter(status__in=[s.value for s in UNASSIGNED_STATUSES])
    total = await query.count()
    window = page_window(total, page)
    jobs = (
        await query.order_by("appointment__start", "id")
        .offset(window.offset)
        .limit(window.limit)
        .select_related("appointment", "booking")
    )
    names = await service_names(j.service_code for j in jobs)
    if not total:
        return Page("No unassigned jobs.")
    lines = [f"Unassigned jobs: {total}, page {window.page}/{window.pages}:"]
    for job in jobs:
        lines.append(
            f"Job {job.id} (booking {job.booking_id}): "
            f"{names.get(job.service_code, job.service_code)}, "
            f"{format_when(job.appointment.start, job.appointment.end, tz)}, {job.status}, "
            f"{job.booking.address}"
        )
    return Page(
        clip("\n".join(lines)),
        _nav(PageView.UNASSIGNED, 0, window.page, window.has_prev, window.has_next),
    )


# -- /today -------------------------------------------------------------------------------------


async def day_page(day: date, page: int, tz: str) -> Page:
    """The jobs whose appointment starts on `day` (in `tz`), grouped by status, one page."""
    span = local_days(day, day, tz)
    rows = await t.Job.filter(
        appointment__start__gte=span.start, appointment__start__lt=span.end
    ).values_list("id", "status", "appointment__start")
    rank = {status.value: i for i, status in enumerate(DAY_GROUPS)}
    ordered = sorted(rows, key=lambda r: (rank.get(r[1], len(rank)), r[2], r[0]))
    heading = f"{day.strftime('%a %-d %b %Y')} ({tz})"
    if not ordered:
        return Page(f"No jobs on {heading}.")
    counts: dict[str, int] = {}
    for _, status, _ in ordered:
        counts[status] = counts.get(status, 0) + 1
    window = page_window(len(ordered), page)
    ids = [r[0] for r in ordered[window.offset : window.offset + window.limit]]
    found = {
        j.id: j for j in await t.Job.filter(id__in=ids).select_related("appointment", "booking")
    }
    jobs = [found[i] for i in ids if i in found]
    names = await service_names(j.service_code for j in jobs)
    people = await fieldworker_rows(j.fieldworker_id for j in jobs)
    lines = [f"Jobs on {heading}: {len(ordered)}, page {window.page}/{window.pages}"]
    group = None
    for job in jobs:
        if job.status != group:
            group = job.status
            lines.append(f"{str(group).capitalize()} ({counts.get(group, 0)}):")
        who = (
            f", {fieldworker_label(people.get(job.fieldworker_id), job.fieldworker_id)}"
            if job.fieldworker_id is not None
            else ""
        )
        lines.append(
            f"• {_hours(job.appointment.start, job.appointment.end, tz)} Job {job.id} "
            f"(booking {job.booking_id}): {names.get(job.service_code, job.service_code)}"
            f"{who}, {job.booking.address}"
        )
    nav = _nav(PageView.TODAY, day_number(day), window.page, window.has_prev, window.has_next)
    return Page(clip("\n".join(lines)), nav)


def _hours(start: datetime, end: datetime, tz: str) -> str:
    """`10:00-12:00` in `tz` (the end with its date when it falls on another day)."""
    zone = ZoneInfo(tz)
    s, e = start.astimezone(zone), end.astimezone(zone)
    return f"{s:%H:%M}-{e:%H:%M}" if s.date() == e.date() else f"{s:%H:%M}-{e:%a %-d %b %H:%M}"


# -- /available ----------------------------------------------------------------------------------


async def available_page(tx: Transactions, job_id: int, page: int, tz: str) -> Page:
    """Eligible fieldworkers nearest first, then the excluded ones with their reasons, one page."""
    job = await t.Job.get_or_none(id=job_id).select_related("appointment")
    if job is None:
        return Page(f"Job {job_id} no longer exists.")

    async def evaluate(uow: TortoiseUnitOfWork) -> tuple[EligibilityResult, set[int]]:
        result = await offering.eligibility(uow, job_id)
        return result, await uow.reachable_fieldworkers(result.eligible_ids())

    result, reachable = await tx.run(evaluate)
    ids = [e.fieldworker_id for e in result.eligible] + [e.fieldworker_id for e in result.excluded]
    people = await fieldworker_rows(ids)
    items: list[str] = []
    for rank, eligible in enumerate(result.eligible, 1):
        distance = f", {eligible.distance_km:.1f} km" if eligible.distance_km is not None else ""
        unreachable = "" if eligible.fieldworker_id in reachable else " (no linked channel)"
        label = fieldworker_label(people.get(eligible.fieldworker_id), eligible.fieldworker_id)
        items.append(f"{rank}. {label}{distance}{unreachable}")
    for excluded in result.excluded:
        label = fieldworker_label(people.get(excluded.fieldworker_id), excluded.fieldworker_id)
        items.append(f"✗ {label}: {excluded_words(excluded)}")
    window = page_window(len(items), page)
    others = [j for j in await open_job_ids(job.booking_id) if j != job.id]
    service = (await service_names([job.service_code])).get(job.service_code, job.service_code)
    lines = [
        f"Booking {job.booking_id}, job {job.id} ({service}, "
        f"{format_when(job.appointment.start, job.appointment.end, tz)}, {job.status})"
    ]
    if others:
        lines.append("Other open jobs of this booking: " + ", ".join(map(str, others)))
    lines.append(
        f"{len(result.eligible)} eligible, {len(result.excluded)} excluded"
        + (f", page {window.page}/{window.pages}" if window.pages > 1 else "")
        + ":"
    )
    lines.extend(items[window.offset : window.offset + window.limit] or ["(no fieldworkers)"])
    return Page(
        clip("\n".join(lines)),
        _nav(PageView.AVAILABLE, job_id, window.page, window.has_prev, window.has_next),
    )
