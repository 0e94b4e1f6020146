"""Changing a booking (`dispatch.bookings.change_booking`) and which of its jobs a command means
(`dispatch.steps.jobs_meant`), run on the in-memory fake."""

from __future__ import annotations

from typing import Any

import pytest

from dispatch import assignment, bookings, offering
from dispatch.commands import Action, BookingChanges
from dispatch.errors import Conflict, NotFound
from dispatch.events import BookingCancelled, BookingChanged, Holder, RequestWithdrawn
from dispatch.model import BookingStatus, Channel, DispatchMode, HistoryAction, JobStatus
from dispatch.steps import JobScope, jobs_meant
from tests.unit.fakes import SITE, STAFF, FakeUnitOfWork, answer, book, company, near

H = HistoryAction
ELSEWHERE = near(SITE, 1)


async def change(uow: FakeUnitOfWork, booking_id: int, **changes: Any) -> None:
    """Staff change the booking through the API (`changes`: `BookingChanges` fields)."""
    await bookings.change_booking(uow, booking_id, BookingChanges(**changes), STAFF, Channel.API)


# change_booking: details.


async def test_changed_details_are_stored_and_recorded_once_with_from_and_to() -> None:
    uow = company(1)
    booking_id = (await book(uow)).id
    before = len(uow.history)

    await change(uow, booking_id, address="Lane 2", notes="Ring twice", location=ELSEWHERE)

    view = await uow.get_booking(booking_id)
    assert view is not None
    assert (view.address, view.notes, view.location) == ("Lane 2", "Ring twice", ELSEWHERE)
    assert view.status is BookingStatus.OPEN
    [row] = uow.history[before:]
    assert (row.action, row.actor, row.channel, row.job_id) == (
        H.BOOKING_CHANGED,
        STAFF,
        Channel.API,
        None,
    )
    assert row.details == {
        "changes": {
            "address": {"from": "Street 1", "to": "Lane 2"},
            "notes": {"from": "", "to": "Ring twice"},
            "location": {
                "from": {"lat": SITE.lat, "lon": SITE.lon},
                "to": {"lat": ELSEWHERE.lat, "lon": ELSEWHERE.lon},
            },
        }
    }


async def test_only_what_really_changed_is_recorded() -> None:
    uow = company(1)
    booking_id = (await book(uow)).id

    await change(uow, booking_id, address="Street 1", notes="Dog", location=SITE)

    [row] = uow.rows(H.BOOKING_CHANGED)
    assert row.details == {"changes": {"notes": {"from": "", "to": "Dog"}}}
    view = await uow.get_booking(booking_id)
    assert view is not None and (view.address, view.location) == ("Street 1", SITE)


async def test_a_change_that_changes_nothing_records_nothing() -> None:
    uow = company(1)
    booking_id = (await book(uow)).id
    history, events = len(uow.history), len(uow.events)

    await change(uow, booking_id, address="Street 1", notes="", location=SITE)
    await change(uow, booking_id)

    assert (len(uow.history), len(uow.events)) == (history, events)


async def test_changed_details_are_announced_to_everyone_holding_a_job_of_the_booking() -> None:
    # CONTRACT (PATCH /bookings/{id}): changed details reach the fieldworkers who hold a request
    # or the job. Here: plumb assigned to 1 (2's request withdrawn), paint offered to 3 and 4
    # (4 declined), and clean unassigned, nobody asked.
    uow = company(4, services=("plumb", "paint", "clean"))
    booked = await book(uow, "plumb", "paint", "clean", mode=DispatchMode.MANUAL)
    plumb, paint, _clean = booked.job_ids
    await offering.send_requests(uow, [plumb], [1, 2], STAFF, Channel.API)
    await answer(uow, plumb, 1, Action.ACCEPT)
    await assignment.assign(uow, plumb, 1, STAFF, Channel.API)
    await offering.send_requests(uow, [paint], [3, 4], STAFF, Channel.API)
    await answer(uow, paint, 4, Action.DECLINE, reason="Too far")
    uow.events.clear()

    await change(uow, booked.id, address="Lane 2", notes="Dog")

    [changed] = uow.emitted(BookingChanged)
    assert changed == BookingChanged(
        booked.id,
        ("address", "notes"),
        (Holder(1, plumb), Holder(3, paint, pending_request_id=uow.request_of(paint, 3).id)),
    )
    assert uow.events == [changed]


async def test_an_acceptor_waiting_for_staff_hears_of_a_change_too() -> None:
    uow = company(2)
    booked = await book(uow, mode=DispatchMode.MANUAL)
    await offering.send_requests(uow, [booked.job_id], [1, 2], STAFF, Channel.API)
    await answer(uow, booked.job_id, 1, Action.ACCEPT)
    uow.events.clear()

    await change(uow, booked.id, location=ELSEWHERE)

    pending = uow.request_of(booked.job_id, 2).id
    assert uow.emitted(BookingChanged) == [
        BookingChanged(
            booked.id,
            ("location",),
            (Holder(1, booked.job_id), Holder(2, booked.job_id, pending_request_id=pending)),
        )
    ]


async def test_a_change_with_nobody_holding_a_job_is_announced_to_nobody() -> None:
    uow = company(0)
    uow.add_service("plumb")
    booking_id = (await book(uow)).id
    uow.events.clear()
    await change(uow, booking_id, notes="Dog")
    assert uow.emitted(BookingChanged) == [BookingChanged(booking_id, ("notes",), ())]


# change_booking: a booking that is no longer open.


async def test_a_cancelled_booking_refuses_detail_changes_and_cancelling_again_is_a_no_op() -> None:
    uow = company(1)
    booking_id = (await book(uow)).id
    await bookings.cancel_booking(uow, booking_id, STAFF, Channel.API)
    history, events = len(uow.history), len(uow.events)

    for changes in ({"notes": "Dog"}, {"address": "Lane 2", "cancel": True}):
        with pytest.raises(Conflict) as refused:
            await change(uow, booking_id, **changes)
        assert refused.value.code == "booking_not_open"
        assert refused.value.message == f"booking {booking_id} is cancelled"
    await change(uow, booking_id, cancel=True)

    assert (len(uow.history), len(uow.events)) == (history, events)
    view = await uow.get_booking(booking_id)
    assert view is not None and (view.status, view.notes) == (BookingStatus.CANCELLED, "")


async def test_a_completed_booking_refuses_every_change_even_cancelling() -> None:
    uow = company(1)
    booking_id = (await book(uow)).id
    await uow.set_booking_status(booking_id, BookingStatus.COMPLETED)
    history = len(uow.history)

    for changes in ({"notes": "Dog"}, {"cancel": True}):
        with pytest.raises(Conflict) as refused:
            await change(uow, booking_id, **changes)
        assert refused.value.code == "booking_not_open"
        assert refused.value.message == f"booking {booking_id} is completed"

    assert len(uow.history) == history
    assert uow.bookings[booking_id].status is BookingStatus.COMPLETED


async def test_an_unknown_booking_is_not_found() -> None:
    uow = company(1)
    with pytest.raises(NotFound) as refused:
        await change(uow, 404, notes="Dog")
    assert refused.value.code == "booking_not_found"


# change_booking: cancelling through it.


async def test_cancelling_through_a_change_cancels_the_booking_and_its_jobs() -> None:
    uow = company(2)
    booked = await book(uow)

    await change(uow, booked.id, cancel=True)

    assert uow.bookings[booked.id].status is BookingStatus.CANCELLED
    assert uow.jobs[booked.job_id].status is JobStatus.CANCELLED
    assert uow.rows(H.BOOKING_CHANGED) == []
    [cancelled] = uow.rows(H.BOOKING_CANCELLED)
    assert (cancelled.from_status, cancelled.to_status) == ("open", "cancelled")
    assert len(uow.emitted(RequestWithdrawn)) == 2
    assert uow.emitted(BookingCancelled) == [BookingCancelled(booked.id)]


async def test_details_and_cancelling_in_one_change_record_the_details_first() -> None:
    uow = company(1)
    booking_id = (await book(uow, mode=DispatchMode.MANUAL)).id

    await change(uow, booking_id, notes="Gate code 12", cancel=True)

    assert uow.actions()[-2:] == [H.BOOKING_CHANGED, H.BOOKING_CANCELLED]
    assert not uow.emitted(BookingChanged), "they hear of the cancellation instead"
    view = await uow.get_booking(booking_id)
    assert view is not None and (view.status, view.notes) == (
        BookingStatus.CANCELLED,
        "Gate code 12",
    )


# jobs_meant: which of a booking's jobs a command means.

SERVICES = ("a", "b", "c", "d", "e")
#: The status each job of a five-service booking is put in, in job order.
STATUSES = (
    JobStatus.UNASSIGNED,
    JobStatus.OFFERED,
    JobStatus.ASSIGNED,
    JobStatus.CANCELLED,
    JobStatus.COMPLETED,
)


async def five_jobs(uow: FakeUnitOfWork) -> list[int]:
    """A manual booking with one job in each status (set directly: only `jobs_meant` reads it)."""
    booked = await book(uow, *SERVICES, mode=DispatchMode.MANUAL)
    for job_id, status in zip(booked.job_ids, STATUSES, strict=True):
        uow.jobs[job_id].status = status
    return booked.job_ids


@pytest.mark.parametrize(
    ("scope", "meant"),
    [
        (JobScope.ALL, STATUSES),
        (JobScope.OPEN, (JobStatus.UNASSIGNED, JobStatus.OFFERED)),
        (JobScope.NOT_CLOSED, (JobStatus.UNASSIGNED, JobStatus.OFFERED, JobStatus.ASSIGNED)),
    ],
)
async def test_naming_no_jobs_means_the_bookings_jobs_in_the_default_scope(
    scope: JobScope, meant: tuple[JobStatus, ...]
) -> None:
    uow = company(1, services=SERVICES)
    job_ids = await five_jobs(uow)
    booking_id = uow.jobs[job_ids[0]].booking_id

    for named in (None, []):
        jobs = await jobs_meant(uow, booking_id, named, scope)
        assert [j.status for j in jobs] == list(meant)
        assert [j.id for j in jobs] == sorted(j.id for j in jobs), "in job order"


async def test_listed_jobs_are_meant_in_the_order_listed_whatever_their_status() -> None:
    uow = company(1, services=SERVICES)
    job_ids = await five_jobs(uow)
    booking_id = uow.jobs[job_ids[0]].booking_id
    listed = [job_ids[4], job_ids[0], job_ids[3]]

    jobs = await jobs_meant(uow, booking_id, listed, JobScope.OPEN)

    assert [j.id for j in jobs] == listed


async def test_a_listed_job_outside_the_booking_is_refused_naming_its_position() -> None:
    uow = company(1, services=SERVICES)
    job_ids = await five_jobs(uow)
    booking_id = uow.jobs[job_ids[0]].booking_id
    other = (await book(uow, "a")).job_id

    for listed, position in (([job_ids[0], other], 1), ([404], 0)):
        with pytest.raises(NotFound) as refused:
            await jobs_meant(uow, booking_id, listed, JobScope.ALL)
        assert (refused.value.code, refused.value.field) == ("job_not_found", f"job_ids.{position}")
        assert (
            refused.value.message == f"job {listed[position]} is not part of booking {booking_id}"
        )
