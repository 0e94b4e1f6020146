"""Completing jobs (`dispatch.completion.complete_jobs`), run on the in-memory fake."""

from __future__ import annotations

import pytest

from dispatch import assignment, bookings, completion
from dispatch.commands import Action
from dispatch.errors import Conflict, NotFound
from dispatch.events import JobCompleted
from dispatch.model import BookingStatus, Channel, DispatchMode, HistoryAction, JobStatus
from tests.unit.fakes import STAFF, FakeUnitOfWork, answer, book, company

H = HistoryAction


async def complete(
    uow: FakeUnitOfWork, booking_id: int, job_ids: list[int] | None = None
) -> list[int]:
    """Staff complete jobs through the API."""
    return await completion.complete_jobs(uow, booking_id, job_ids, STAFF, Channel.API)


async def test_completing_without_naming_jobs_completes_every_assigned_one() -> None:
    uow = company(2, services=("plumb", "paint"))
    booked = await book(uow, "plumb", "paint", fieldworker_id=1)
    uow.events.clear()

    assert await complete(uow, booked.id) == booked.job_ids

    for job_id in booked.job_ids:
        assert (uow.jobs[job_id].status, uow.jobs[job_id].fieldworker_id) == (
            JobStatus.COMPLETED,
            1,
        ), "a completed job keeps who did it"
    rows = [h for h in uow.history if h.action in (H.JOB_COMPLETED, H.BOOKING_COMPLETED)]
    assert [(h.action, h.job_id, h.from_status, h.to_status, h.actor) for h in rows] == [
        (H.JOB_COMPLETED, booked.job_ids[0], "assigned", "completed", STAFF),
        (H.JOB_COMPLETED, booked.job_ids[1], "assigned", "completed", STAFF),
        (H.BOOKING_COMPLETED, None, "open", "completed", STAFF),
    ]
    assert rows[0].details == {"fieldworker_id": 1}
    assert uow.bookings[booked.id].status is BookingStatus.COMPLETED
    assert uow.events == [
        JobCompleted(booked.id, booked.job_ids[0], 1, None),
        JobCompleted(booked.id, booked.job_ids[1], 1, None),
    ], "assigned directly: no request message to edit"


async def test_a_booking_with_a_job_still_open_stays_open() -> None:
    uow = company(2, services=("plumb", "paint"))
    booked = await book(uow, "plumb", "paint", mode=DispatchMode.MANUAL)
    plumb, paint = booked.job_ids
    await assignment.assign(uow, plumb, 2, STAFF, Channel.API)

    assert await complete(uow, booked.id) == [plumb]

    assert uow.jobs[plumb].status is JobStatus.COMPLETED
    assert uow.jobs[paint].status is JobStatus.UNASSIGNED
    assert uow.bookings[booked.id].status is BookingStatus.OPEN
    assert H.BOOKING_COMPLETED not in uow.actions()


async def test_the_accepted_request_is_named_so_its_message_loses_its_button() -> None:
    uow = company(2)
    booked = await book(uow)
    await answer(uow, booked.job_id, 2, Action.ACCEPT)
    uow.events.clear()

    await complete(uow, booked.id, [booked.job_id])

    request = uow.request_of(booked.job_id, 2)
    assert uow.emitted(JobCompleted) == [JobCompleted(booked.id, booked.job_id, 2, request.id)]


async def test_a_job_not_assigned_refuses_the_whole_command_and_changes_nothing() -> None:
    uow = company(2, services=("plumb", "paint"))
    booked = await book(uow, "plumb", "paint")
    plumb, paint = booked.job_ids
    await answer(uow, plumb, 1, Action.ACCEPT)
    history, events = len(uow.history), len(uow.events)

    with pytest.raises(Conflict) as refused:
        await complete(uow, booked.id, [plumb, paint])

    assert (refused.value.code, refused.value.field) == ("job_not_assigned", "job_ids.1")
    assert refused.value.message == (
        f"job {paint} is offered: only an assigned job can be completed"
    )
    assert uow.jobs[plumb].status is JobStatus.ASSIGNED
    assert (len(uow.history), len(uow.events)) == (history, events)


async def test_nothing_assigned_a_foreign_job_or_a_closed_booking_is_refused() -> None:
    uow = company(1)
    booked = await book(uow)
    other = await book(uow, mode=DispatchMode.MANUAL)

    with pytest.raises(Conflict) as refused:
        await complete(uow, booked.id)
    assert refused.value.code == "no_assigned_jobs"
    with pytest.raises(NotFound) as refused_job:
        await complete(uow, booked.id, [other.job_id])
    assert (refused_job.value.code, refused_job.value.field) == ("job_not_found", "job_ids.0")

    await bookings.cancel_booking(uow, booked.id, STAFF, Channel.API)
    with pytest.raises(Conflict) as closed:
        await complete(uow, booked.id)
    assert closed.value.code == "booking_not_open"
    with pytest.raises(NotFound):
        await complete(uow, 404)


async def test_completing_twice_is_refused_the_second_time() -> None:
    uow = company(1, services=("plumb", "paint"))
    booked = await book(uow, "plumb", "paint", fieldworker_id=1)
    await complete(uow, booked.id, [booked.job_ids[0]])

    with pytest.raises(Conflict) as refused:
        await complete(uow, booked.id, [booked.job_ids[0]])

    assert refused.value.code == "job_not_assigned"
    assert uow.actions().count(H.JOB_COMPLETED) == 1
