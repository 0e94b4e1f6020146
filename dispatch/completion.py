"""Completing jobs: staff mark assigned jobs done; a booking with nothing left to do is done."""

from __future__ import annotations

from collections.abc import Sequence

from dispatch.errors import Conflict
from dispatch.events import JobCompleted
from dispatch.model import (
    Actor,
    BookingStatus,
    Channel,
    HistoryAction,
    JobStatus,
    RequestStatus,
)
from dispatch.ports import JobView, UnitOfWork
from dispatch.steps import JobScope, jobs_meant, leave_assigned, load_booking

#: A booking is completed once every job is in one of these.
_DONE = frozenset({JobStatus.COMPLETED, JobStatus.CANCELLED})


async def complete_jobs(
    uow: UnitOfWork,
    booking_id: int,
    job_ids: Sequence[int] | None,
    actor: Actor,
    channel: Channel,
) -> list[int]:
    """Mark the listed jobs of an open booking completed (default: every assigned one).

    Only an assigned job can be completed; it keeps its fieldworker (history `job_completed`).
    Any other listed job refuses the whole command (`job_not_assigned`) and nothing changes, and
    so does a booking with no assigned job (`no_assigned_jobs`). When every job of the booking is
    then completed or cancelled, the booking is completed too (`booking_completed`). Returns the
    ids of the jobs completed.
    """
    await load_booking(uow, booking_id, open_only=True)
    meant = await jobs_meant(uow, booking_id, job_ids, JobScope.ASSIGNED)
    if not meant:
        raise Conflict("no_assigned_jobs", f"booking {booking_id} has no assigned job")
    jobs: list[JobView] = []
    # Every check before the first change: a refusal changes nothing.
    for i, named in enumerate(meant):
        job = await uow.lock_job(named.id)
        assert job is not None  # jobs_meant found it in this booking
        if job.status is not JobStatus.ASSIGNED or job.fieldworker_id is None:
            raise Conflict(
                "job_not_assigned",
                f"job {job.id} is {job.status.value}: only an assigned job can be completed",
                field=f"job_ids.{i}" if job_ids else None,
            )
        jobs.append(job)
    for job in jobs:
        await _complete(uow, job, actor, channel)
    if all(j.status in _DONE for j in await uow.jobs_of_booking(booking_id)):
        await uow.set_booking_status(booking_id, BookingStatus.COMPLETED)
        await uow.add_history(
            booking_id,
            HistoryAction.BOOKING_COMPLETED,
            actor,
            from_status=BookingStatus.OPEN,
            to_status=BookingStatus.COMPLETED,
            channel=channel,
        )
    return [job.id for job in jobs]


async def _complete(uow: UnitOfWork, job: JobView, actor: Actor, channel: Channel) -> None:
    fieldworker_id = await leave_assigned(
        uow, job, JobStatus.COMPLETED, HistoryAction.JOB_COMPLETED, actor, channel, on_behalf=False
    )
    mine = await uow.find_request(job.id, fieldworker_id)
    accepted = mine.id if mine is not None and mine.status is RequestStatus.ACCEPTED else None
    uow.emit(JobCompleted(job.booking_id, job.id, fieldworker_id, accepted))
