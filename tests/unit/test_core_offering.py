"""Core rules for offering a job (who is asked, staff asking), request expiry, and cancelling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dispatch import assignment, bookings, offering
from dispatch.commands import Action, Outcome
from dispatch.errors import Conflict, Invalid, NotFound
from dispatch.events import (
    AssignmentTimedOut,
    BookingCancelled,
    JobCancelled,
    JobNobodyToAsk,
    RequestPended,
    RequestWithdrawn,
    WithdrawnBecause,
)
from dispatch.model import (
    Actor,
    BookingStatus,
    Channel,
    DispatchMode,
    ExclusionReason,
    HistoryAction,
    JobStatus,
    RequestStatus,
)
from tests.unit.fakes import (
    NOW,
    SITE,
    STAFF,
    START,
    FakeUnitOfWork,
    answer,
    book,
    company,
    near,
)

H = HistoryAction
PENDING, EXPIRED, WITHDRAWN = (
    RequestStatus.PENDING,
    RequestStatus.EXPIRED,
    RequestStatus.WITHDRAWN,
)


async def cancel(uow: FakeUnitOfWork, booking_id: int) -> bool:
    return await bookings.cancel_booking(uow, booking_id, STAFF, Channel.API)


# Who is asked.


async def test_only_eligible_and_reachable_fieldworkers_are_asked_nearest_first() -> None:
    uow = company(0)
    far = uow.add_fieldworker(services=frozenset({"plumb"}), base_location=near(SITE, 40))
    second = uow.add_fieldworker(services=frozenset({"plumb"}), base_location=near(SITE, 2))
    other_trade = uow.add_fieldworker(services=frozenset({"paint"}), base_location=SITE)
    silent = uow.add_fieldworker(services=frozenset({"plumb"}), base_location=SITE, reachable=False)
    first = uow.add_fieldworker(services=frozenset({"plumb"}), base_location=near(SITE, 1))
    uow.add_service("plumb")

    job_id = (await book(uow)).job_id

    assert uow.asked(job_id) == [first, second]
    assert not {far, other_trade, silent} & set(uow.asked(job_id))


async def test_a_fieldworker_already_busy_then_is_not_asked() -> None:
    uow = company(3)
    await book(uow, fieldworker_id=1)  # 09:00-11:00, assigned at creation
    overlapping = (await book(uow, start=START + timedelta(hours=1))).job_id
    later = (await book(uow, start=START + timedelta(hours=2))).job_id
    assert uow.asked(overlapping) == [2, 3]
    assert uow.asked(later) == [1, 2, 3], "touching appointments do not overlap"


async def test_nobody_to_ask_is_announced() -> None:
    uow = company(0)
    uow.add_service("plumb")
    job_id = (await book(uow)).job_id
    assert uow.jobs[job_id].status is JobStatus.UNASSIGNED
    assert [e.job_id for e in uow.emitted(JobNobodyToAsk)] == [job_id]


async def test_a_request_carries_the_assignment_deadline() -> None:
    uow = company(1, assignment_timeout_s=600)
    job_id = (await book(uow)).job_id
    assert uow.request_of(job_id, 1).expires_at == NOW + timedelta(seconds=600)


async def test_the_system_never_asks_the_same_fieldworker_twice_but_staff_can() -> None:
    uow = company(2)
    booking = await book(uow)
    await answer(uow, booking.job_id, 1, Action.DECLINE, reason="Too far")

    assert await offering.rebroadcast(uow, booking.id, STAFF, Channel.API) == []

    sent = await offering.send_requests(uow, [booking.job_id], [1, 2], STAFF, Channel.API)
    assert sent.sent == [uow.request_of(booking.job_id, 1).id]
    assert sent.skipped == {2: "already_pending"}
    assert uow.asked(booking.job_id, PENDING) == [1, 2]


# Expiry: the assignment timeout passes without an answer.


async def test_an_unanswered_request_expires_when_its_deadline_passes() -> None:
    uow = company(2)
    job_id = (await book(uow)).job_id
    assert uow.due_requests() == []
    uow.clock.advance(seconds=900)
    first, second = uow.due_requests()
    uow.events.clear()

    assert await offering.expire_request(uow, first)

    assert uow.requests[first].status is EXPIRED
    assert uow.jobs[job_id].status is JobStatus.OFFERED, "another request is still open"
    [row] = uow.rows(H.REQUEST_EXPIRED)
    assert (row.actor, row.details) == (Actor.system(), {"fieldworker_id": 1})
    assert [e.because for e in uow.emitted(RequestWithdrawn)] == [WithdrawnBecause.EXPIRED]
    assert H.TIMEOUT_ALERTED not in uow.actions()
    assert not await offering.expire_request(uow, first), "only once"
    assert uow.due_requests() == [second]


async def test_when_the_last_open_request_expires_staff_are_alerted() -> None:
    uow = company(2)
    job_id = (await book(uow)).job_id
    uow.clock.advance(minutes=20)

    for request_id in uow.due_requests():
        assert await offering.expire_request(uow, request_id)

    assert uow.jobs[job_id].status is JobStatus.UNASSIGNED
    [alert] = uow.rows(H.TIMEOUT_ALERTED)
    assert (alert.from_status, alert.to_status, alert.details) == (
        "offered",
        "unassigned",
        {"asked": 2},
    )
    assert [(e.job_id, e.asked) for e in uow.emitted(AssignmentTimedOut)] == [(job_id, 2)]


async def test_an_answered_request_does_not_expire() -> None:
    uow = company(2)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)
    uow.clock.advance(hours=1)
    assert uow.due_requests() == []
    assert not await offering.expire_request(uow, uow.request_of(job_id, 1).id)
    assert uow.jobs[job_id].fieldworker_id == 1


async def test_in_manual_mode_an_acceptance_keeps_the_job_on_offer_when_others_expire() -> None:
    uow = company(2)
    job_id = (await book(uow, mode=DispatchMode.MANUAL)).job_id
    await offering.send_requests(uow, [job_id], [1, 2], STAFF, Channel.API)
    await answer(uow, job_id, 1, Action.ACCEPT)
    uow.clock.advance(minutes=15)

    assert await offering.expire_request(uow, uow.request_of(job_id, 2).id)

    assert uow.jobs[job_id].status is JobStatus.OFFERED
    assert not uow.emitted(AssignmentTimedOut)


async def test_without_an_assignment_timeout_requests_never_expire() -> None:
    uow = company(1, assignment_timeout_s=0)
    job_id = (await book(uow)).job_id
    uow.clock.advance(days=30)
    assert uow.request_of(job_id, 1).expires_at is None
    assert uow.due_requests() == []


# Re-broadcast after a timeout: staff ask again, the expired ones included.


async def time_out(uow: FakeUnitOfWork, booking_id: int) -> None:
    """The assignment timeout passes: the sweep expires every due request."""
    uow.clock.advance(minutes=20)
    for request_id in uow.due_requests():
        assert await offering.expire_request(uow, request_id)
    assert {j.status for j in await uow.jobs_of_booking(booking_id)} == {JobStatus.UNASSIGNED}


async def test_after_a_timeout_a_plain_rebroadcast_finds_nobody_new() -> None:
    uow = company(2)
    booking = await book(uow)
    await time_out(uow, booking.id)

    assert await offering.rebroadcast(uow, booking.id, STAFF, Channel.API) == []
    assert uow.asked(booking.job_id, EXPIRED) == [1, 2]


async def test_rebroadcast_to_everyone_reopens_expired_requests_and_resends_them() -> None:
    uow = company(2)
    booking = await book(uow)
    await time_out(uow, booking.id)
    expired = [uow.request_of(booking.job_id, fw).id for fw in (1, 2)]
    uow.events.clear()
    before = len(uow.history)

    sent = await offering.rebroadcast(
        uow, booking.id, STAFF, Channel.TELEGRAM, include_expired=True
    )

    assert sent == expired, "the same requests, reopened: no second request for a job"
    assert uow.asked(booking.job_id, PENDING) == [1, 2]
    assert uow.jobs[booking.job_id].status is JobStatus.OFFERED
    assert all(uow.requests[r].expires_at == uow.now() + timedelta(seconds=900) for r in sent)
    rows = uow.history[before:]
    assert [(h.action, h.from_status, h.to_status, h.actor) for h in rows] == [
        (H.REQUEST_SENT, "expired", "pending", STAFF),
        (H.REQUEST_SENT, "expired", "pending", STAFF),
    ]
    assert [(e.request_id, e.fieldworker_id) for e in uow.emitted(RequestPended)] == [
        (expired[0], 1),
        (expired[1], 2),
    ], "each fieldworker gets a new request message with working buttons"
    assert not uow.emitted(JobNobodyToAsk)


async def test_rebroadcast_to_everyone_never_reopens_declined_ones_and_asks_new_people() -> None:
    uow = company(3)
    booking = await book(uow)
    await answer(uow, booking.job_id, 1, Action.DECLINE, reason="Too far")
    await time_out(uow, booking.id)
    newcomer = uow.add_fieldworker(services=frozenset({"plumb"}), base_location=SITE)

    sent = await offering.rebroadcast(uow, booking.id, STAFF, Channel.API, include_expired=True)

    assert uow.request_of(booking.job_id, 1).status is RequestStatus.DECLINED
    assert uow.asked(booking.job_id, PENDING) == [2, 3, newcomer]
    assert sent == [uow.request_of(booking.job_id, fw).id for fw in (2, 3, newcomer)]


async def test_rebroadcast_to_everyone_skips_those_no_longer_eligible_or_reachable() -> None:
    uow = company(3)
    booking = await book(uow)
    await time_out(uow, booking.id)
    await book(uow, fieldworker_id=2)  # the same time: Worker 2 is busy now
    uow.contacts[3].channels = []  # Worker 3 cannot be reached any more

    sent = await offering.rebroadcast(uow, booking.id, STAFF, Channel.API, include_expired=True)

    assert sent == [uow.request_of(booking.job_id, 1).id]
    assert uow.asked(booking.job_id, EXPIRED) == [2, 3]


async def test_rebroadcast_to_everyone_leaves_jobs_already_taken_alone() -> None:
    uow = company(2, services=("plumb", "paint"))
    booking = await book(uow, "plumb", "paint")
    plumb, paint = booking.job_ids
    await answer(uow, plumb, 1, Action.ACCEPT)
    uow.clock.advance(minutes=20)
    for request_id in uow.due_requests():
        assert await offering.expire_request(uow, request_id)
    assert uow.jobs[paint].status is JobStatus.UNASSIGNED

    sent = await offering.rebroadcast(uow, booking.id, STAFF, Channel.API, include_expired=True)

    assert uow.request_of(paint, 2).id in sent
    assert not {uow.request_of(plumb, fw).id for fw in (1, 2)} & set(sent)
    assert (uow.jobs[plumb].status, uow.jobs[plumb].fieldworker_id) == (JobStatus.ASSIGNED, 1)


# Cancelling a booking.


async def test_cancelling_withdraws_every_open_request() -> None:
    uow = company(3, services=("plumb", "drain"))
    booking = await book(uow, "plumb", "drain")
    uow.events.clear()

    assert await cancel(uow, booking.id)

    assert uow.bookings[booking.id].status is BookingStatus.CANCELLED
    assert {uow.jobs[j].status for j in booking.job_ids} == {JobStatus.CANCELLED}
    assert {r.status for r in uow.requests.values()} == {WITHDRAWN}
    withdrawn = uow.emitted(RequestWithdrawn)
    assert len(withdrawn) == 6
    assert {e.because for e in withdrawn} == {WithdrawnBecause.CANCELLED}
    assert uow.emitted(JobCancelled) == []
    assert uow.actions()[-1] is H.BOOKING_CANCELLED
    assert [e.booking_id for e in uow.emitted(BookingCancelled)] == [booking.id]


async def test_cancelling_tells_the_fieldworker_of_an_accepted_job_through_their_request() -> None:
    uow = company(2)
    booking = await book(uow)
    await answer(uow, booking.job_id, 1, Action.ACCEPT)
    uow.events.clear()

    await cancel(uow, booking.id)

    mine = uow.request_of(booking.job_id, 1)
    assert mine.status is WITHDRAWN
    assert [(e.fieldworker_id, e.because) for e in uow.emitted(RequestWithdrawn)] == [
        (1, WithdrawnBecause.CANCELLED)
    ]
    assert uow.emitted(JobCancelled) == []
    # The request was withdrawn before the job was looked at: "no longer open", not JOB_CLOSED.
    late = await answer(uow, booking.job_id, 2, Action.ACCEPT)
    assert late.outcome is Outcome.CLOSED


async def test_cancelling_a_directly_assigned_job_tells_its_fieldworker() -> None:
    uow = company(2)
    booking = await book(uow, fieldworker_id=1)
    assert uow.asked(booking.job_id) == []

    await cancel(uow, booking.id)

    assert [(e.job_id, e.fieldworker_id) for e in uow.emitted(JobCancelled)] == [
        (booking.job_id, 1)
    ]
    assert uow.jobs[booking.job_id].status is JobStatus.CANCELLED


async def test_cancelling_twice_or_an_unknown_booking() -> None:
    uow = company(1)
    booking = await book(uow)
    assert await cancel(uow, booking.id)
    history, events = len(uow.history), len(uow.events)
    assert not await cancel(uow, booking.id)
    assert (len(uow.history), len(uow.events)) == (history, events)
    with pytest.raises(NotFound):
        await cancel(uow, 404)


# Staff asking fieldworkers for a booking's jobs (`request_jobs`).


async def request_jobs(
    uow: FakeUnitOfWork, booking_id: int, *fw_ids: int, job_ids: list[int] | None = None
) -> list[int]:
    """Staff ask the fieldworkers for the booking's jobs; the request ids sent."""
    result = await offering.request_jobs(
        uow, booking_id, fw_ids, STAFF, Channel.API, job_ids=job_ids
    )
    return result.sent


async def three_jobs(uow: FakeUnitOfWork) -> tuple[int, list[int]]:
    """A manual booking whose jobs are unassigned, offered (to fieldworker 2), and assigned to 2."""
    booked = await book(uow, "plumb", "paint", "tile", mode=DispatchMode.MANUAL)
    _, offered, assigned = booked.job_ids
    await offering.send_requests(uow, [offered], [2], STAFF, Channel.API)
    assert await assignment.assign(uow, assigned, 2, STAFF, Channel.API)
    return booked.id, booked.job_ids


async def test_staff_asking_for_a_booking_without_naming_jobs_means_its_open_ones() -> None:
    uow = company(2, services=("plumb", "paint", "tile"))
    booking_id, (unassigned, offered, assigned) = await three_jobs(uow)

    sent = await request_jobs(uow, booking_id, 1)

    assert [uow.requests[r].job_id for r in sent] == [unassigned, offered]
    assert uow.asked(unassigned) == [1] and uow.asked(offered) == [2, 1]
    assert uow.asked(assigned) == []
    assert uow.jobs[unassigned].status is JobStatus.OFFERED


async def test_staff_asking_for_named_jobs_ask_for_those_only() -> None:
    uow = company(2, services=("plumb", "paint", "tile"))
    booking_id, (unassigned, offered, assigned) = await three_jobs(uow)

    sent = await request_jobs(uow, booking_id, 1, job_ids=[offered])

    assert [uow.requests[r].job_id for r in sent] == [offered]
    assert uow.asked(unassigned) == []
    with pytest.raises(Conflict) as refused:
        await request_jobs(uow, booking_id, 1, job_ids=[assigned])
    assert refused.value.code == "job_not_open"
    with pytest.raises(NotFound) as refused:
        await request_jobs(uow, booking_id, 1, job_ids=[offered, 404])
    assert (refused.value.code, refused.value.field) == ("job_not_found", "job_ids.1")


async def test_staff_asking_skip_jobs_a_fieldworker_is_not_eligible_for_unless_forced() -> None:
    uow = company(0, services=("plumb", "paint"))
    plumber = uow.add_fieldworker(services=frozenset({"plumb"}), base_location=SITE)
    both = uow.add_fieldworker(services=frozenset({"plumb", "paint"}), base_location=SITE)
    far = uow.add_fieldworker(services=frozenset({"plumb", "paint"}), base_location=near(SITE, 90))
    booking = await book(uow, "plumb", "paint", mode=DispatchMode.MANUAL)
    plumb, paint = booking.job_ids

    result = await offering.request_jobs(uow, booking.id, [plumber, both, far], STAFF, Channel.API)

    assert uow.asked(plumb) == [plumber, both] and uow.asked(paint) == [both]
    assert result.skipped == {plumber: "not_eligible", far: "not_eligible"}
    assert [(n.fieldworker_id, n.job_id, n.reason, n.exclusions) for n in result.not_sent] == [
        (far, plumb, "not_eligible", (ExclusionReason.OUTSIDE_RADIUS,)),
        (plumber, paint, "not_eligible", (ExclusionReason.MISSING_SERVICE,)),
        (far, paint, "not_eligible", (ExclusionReason.OUTSIDE_RADIUS,)),
    ]

    forced = await offering.request_jobs(
        uow, booking.id, [plumber], STAFF, Channel.API, job_ids=[paint], force=True
    )
    assert [uow.requests[r].job_id for r in forced.sent] == [paint]
    assert forced.skipped == {} and uow.asked(paint) == [both, plumber]


async def test_staff_asking_for_the_other_job_of_a_visit_they_do_is_no_conflict() -> None:
    uow = company(2, services=("plumb", "paint"))
    plumb, paint = (await book(uow, "plumb", "paint", mode=DispatchMode.MANUAL)).job_ids
    assert await assignment.assign(uow, plumb, 1, STAFF, Channel.API)

    result = await offering.send_requests(uow, [paint], [1], STAFF, Channel.API)

    assert result.skipped == {} and uow.asked(paint) == [1]


async def test_staff_asking_for_a_booking_with_no_open_job_is_refused() -> None:
    uow = company(2)
    booking_id = (await book(uow, fieldworker_id=2)).id
    history = len(uow.history)

    with pytest.raises(Conflict) as refused:
        await request_jobs(uow, booking_id, 1)

    assert refused.value.code == "no_open_jobs"
    assert refused.value.message == f"booking {booking_id} has no open job"
    assert len(uow.history) == history


@pytest.mark.parametrize("status", [BookingStatus.CANCELLED, BookingStatus.COMPLETED])
async def test_staff_asking_for_a_booking_that_is_not_open_is_refused(
    status: BookingStatus,
) -> None:
    uow = company(2)
    booking_id = (await book(uow, mode=DispatchMode.MANUAL)).id
    await uow.set_booking_status(booking_id, status)

    with pytest.raises(Conflict) as refused:
        await request_jobs(uow, booking_id, 1)

    assert refused.value.code == "booking_not_open"
    assert refused.value.message == f"booking {booking_id} is {status.value}"
    assert uow.requests == {}
    with pytest.raises(NotFound) as refused:
        await request_jobs(uow, 404, 1)
    assert refused.value.code == "booking_not_found"


class OneUnitOfWork:
    """A transaction runner over the fake: every command runs on the same unit of work."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    async def run(self, fn: Any) -> Any:
        return await fn(self.uow)


async def test_unassign_range_takes_the_window_soonest_first_and_leaves_the_rest() -> None:
    uow = company(1)
    late = (await book(uow, fieldworker_id=1, start=START + timedelta(hours=5))).job_id
    early = (await book(uow, fieldworker_id=1)).job_id
    next_day = (await book(uow, fieldworker_id=1, start=START + timedelta(days=1))).job_id
    window = (START, START + timedelta(days=1))
    done = await assignment.unassign_range(
        OneUnitOfWork(uow), 1, *window, STAFF, Channel.API, reason="Off sick"
    )
    assert [r.job_id for r in done] == [early, late]
    assert all(r.sent is not None and r.refused is None for r in done)
    assert uow.jobs[next_day].fieldworker_id == 1, "a job outside the window stays theirs"
    with pytest.raises(Invalid):
        await assignment.unassign_range(
            OneUnitOfWork(uow), 1, window[1], window[0], STAFF, Channel.API, reason="x"
        )
