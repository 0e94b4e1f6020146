"""What the admin commands do to the data: look-ups, and unit-of-work functions calling the core.

Each `async def ...(uow, ...)` here runs inside one `Transactions.run` given by the caller, calls
the dispatch rules in `dispatch.services`, and returns what happened for the reply. They decide
nothing the core does not: which jobs of a booking a command applies to, and in what order.

Taking jobs off a fieldworker (`/reassign_all`) is `dispatch.assignment.unassign`; answering on a
fieldworker's behalf and assigning a whole booking are `respond_for_fieldworker` and
`assign_booking` there too, shared with the REST API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from dispatch import offering
from dispatch.commands import NotSent
from dispatch.model import (
    OPEN_JOB_STATUSES,
    Actor,
    ActorKind,
    Channel,
    Excluded,
    JobStatus,
)
from dispatch.ports import UnitOfWork
from dispatch.steps import JobScope, jobs_meant
from models import tables as t

from .parsing import FieldworkerRef

CHANNEL = Channel.TELEGRAM
REASSIGN_REASON = "Reassigned by staff"
_DONE = (JobStatus.CANCELLED, JobStatus.COMPLETED)


class CommandError(Exception):
    """The command cannot run as asked; the message is for the user and nothing was changed."""


def staff_actor(staff: t.Staff) -> Actor:
    """The history actor for a staff member."""
    return Actor(ActorKind.STAFF, staff.id, staff.name)


# -- look-ups ------------------------------------------------------------------------------------


async def get_booking(booking_id: int) -> t.Booking:
    """The booking, or CommandError."""
    booking = await t.Booking.get_or_none(id=booking_id)
    if booking is None:
        raise CommandError(f"Booking {booking_id} not found.")
    return booking


async def resolve_fieldworker(ref: FieldworkerRef) -> t.Fieldworker:
    """The fieldworker by id or by Telegram username (ignoring case and a stored `@`)."""
    if ref.id is not None:
        fw = await t.Fieldworker.get_or_none(id=ref.id)
        if fw is None:
            raise CommandError(f"Fieldworker {ref.id} not found.")
        return fw
    assert ref.username is not None
    matches = await t.Fieldworker.filter(telegram_username__iexact=ref.username).order_by("id")
    if not matches:
        matches = await t.Fieldworker.filter(telegram_username__iexact="@" + ref.username).order_by(
            "id"
        )
    if not matches:
        raise CommandError(f"No fieldworker has the Telegram username @{ref.username}.")
    if len(matches) > 1:
        ids = ", ".join(str(fw.id) for fw in matches)
        raise CommandError(
            f"Several fieldworkers have the username @{ref.username} (ids {ids}); use the id."
        )
    return matches[0]


async def open_job_ids(booking_id: int) -> list[int]:
    """Ids of the booking's jobs that may still be given to a fieldworker, by id."""
    statuses = [s.value for s in OPEN_JOB_STATUSES]
    return cast(
        "list[int]",
        await t.Job.filter(booking_id=booking_id, status__in=statuses)
        .order_by("id")
        .values_list("id", flat=True),
    )


# -- unit-of-work functions ----------------------------------------------------------------------


async def exclusions_for(
    uow: UnitOfWork,
    booking_id: int,
    fieldworker_id: int,
    job_ids: Sequence[int] | None = None,
) -> dict[int, Excluded]:
    """Job id -> why the fieldworker is not eligible, for the listed jobs or (None) the booking's
    jobs still to assign."""
    out: dict[int, Excluded] = {}
    for job in await jobs_meant(uow, booking_id, job_ids, JobScope.NOT_CLOSED):
        if job.status in _DONE:
            continue
        result = await offering.eligibility(uow, job.id, fieldworker_ids=[fieldworker_id])
        for excluded in result.excluded:
            if excluded.fieldworker_id == fieldworker_id:
                out[job.id] = excluded
    return out


@dataclass
class RequestReport:
    """What `/request` did: `(fieldworker id, job id)` asked; who was not asked for which job."""

    sent: list[tuple[int, int]] = field(default_factory=list)
    not_sent: list[NotSent] = field(default_factory=list)


async def request_booking(
    uow: UnitOfWork,
    booking_id: int,
    fieldworker_ids: Sequence[int],
    actor: Actor,
    job_ids: Sequence[int] | None = None,
) -> RequestReport:
    """`offering.request_jobs`: the listed jobs, or every open job of the booking."""
    result = await offering.request_jobs(
        uow, booking_id, fieldworker_ids, actor, CHANNEL, job_ids=job_ids
    )
    report = RequestReport(not_sent=list(result.not_sent))
    for request_id in result.sent:
        request = await uow.get_request(request_id)
        assert request is not None
        report.sent.append((request.fieldworker_id, request.job_id))
    return report


async def rebroadcast_booking(
    uow: UnitOfWork, booking_id: int, actor: Actor, *, include_expired: bool = False
) -> list[int]:
    """`offering.rebroadcast`; returns the ids of the fieldworkers asked."""
    sent = await offering.rebroadcast(
        uow, booking_id, actor, CHANNEL, include_expired=include_expired
    )
    asked: list[int] = []
    for request_id in sent:
        request = await uow.get_request(request_id)
        assert request is not None
        if request.fieldworker_id not in asked:
            asked.append(request.fieldworker_id)
    return asked
