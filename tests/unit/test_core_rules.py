"""Core rules for answering a job request (accept, decline, pend), run on the in-memory fake.

Assignment and unassignment are in `test_core_assignment.py`; offering, expiry and cancelling in
`test_core_offering.py`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from dispatch import offering, responding
from dispatch.commands import Action, Outcome
from dispatch.errors import Forbidden, Invalid
from dispatch.events import (
    JobAssigned,
    JobNobodyToAsk,
    JobUnassigned,
    RequestAccepted,
    RequestDeclined,
    RequestPended,
    RequestRejectedLate,
    RequestWithdrawn,
    WithdrawnBecause,
)
from dispatch.model import (
    OPEN_JOB_STATUSES,
    ActorKind,
    Channel,
    DispatchMode,
    HistoryAction,
    JobStatus,
    RequestStatus,
)
from tests.unit.fakes import NOW, STAFF, answer, book, company

H = HistoryAction
PENDING, ACCEPTED, DECLINED, WITHDRAWN = (
    RequestStatus.PENDING,
    RequestStatus.ACCEPTED,
    RequestStatus.DECLINED,
    RequestStatus.WITHDRAWN,
)


# Accept, auto mode: the first accept wins.


async def test_auto_mode_asks_every_eligible_fieldworker_at_once() -> None:
    uow = company(3)
    booking = await book(uow)
    assert uow.asked(booking.job_id, PENDING) == [1, 2, 3]
    assert uow.jobs[booking.job_id].status is JobStatus.OFFERED
    assert uow.actions() == [H.BOOKING_CREATED, H.REQUEST_SENT, H.REQUEST_SENT, H.REQUEST_SENT]


async def test_the_first_accept_wins_and_every_other_request_is_withdrawn() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    uow.events.clear()

    result = await answer(uow, job_id, 2, Action.ACCEPT)

    assert result.outcome is Outcome.ASSIGNED and result.status is ACCEPTED
    job = uow.jobs[job_id]
    assert (job.status, job.fieldworker_id, job.assigned_at) == (JobStatus.ASSIGNED, 2, NOW)
    assert uow.asked(job_id, ACCEPTED) == [2] and uow.asked(job_id, WITHDRAWN) == [1, 3]
    assert uow.actions()[-4:] == [
        H.REQUEST_ACCEPTED,
        H.JOB_ASSIGNED,
        H.REQUEST_WITHDRAWN,
        H.REQUEST_WITHDRAWN,
    ]
    [assigned_row] = uow.rows(H.JOB_ASSIGNED)
    assert assigned_row.details == {"fieldworker_id": 2} and assigned_row.on_behalf_of is None
    assert [(e.fieldworker_id, e.because) for e in uow.emitted(RequestWithdrawn)] == [
        (1, WithdrawnBecause.TAKEN),
        (3, WithdrawnBecause.TAKEN),
    ]
    [accepted] = uow.emitted(RequestAccepted)
    assert accepted.fieldworker_id == 2 and accepted.assigned
    [given] = uow.emitted(JobAssigned)
    assert given.fieldworker_id == 2 and given.previous_fieldworker_id is None
    assert given.via_accept, "the accept itself tells the fieldworker"


async def test_a_second_accept_is_told_the_job_is_taken_and_changes_nothing() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)
    history, events = len(uow.history), len(uow.events)

    late = await answer(uow, job_id, 2, Action.ACCEPT)

    assert late.outcome is Outcome.TAKEN and late.status is WITHDRAWN
    assert uow.jobs[job_id].fieldworker_id == 1
    assert (len(uow.history), len(uow.events)) == (history, events)


async def test_an_accept_that_loses_the_race_on_the_job_row_is_rejected_late() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    # Another process's accept has just won the job's conditional UPDATE; fieldworker 2 still
    # read their request as pending.
    assert await uow.move_job(job_id, OPEN_JOB_STATUSES, JobStatus.ASSIGNED, fieldworker_id=1)
    uow.events.clear()

    late = await answer(uow, job_id, 2, Action.ACCEPT)

    assert late.outcome is Outcome.TAKEN
    assert [e.fieldworker_id for e in uow.emitted(RequestRejectedLate)] == [2]
    assert uow.request_of(job_id, 2).status is PENDING, "the loser writes nothing"
    assert uow.jobs[job_id].fieldworker_id == 1
    assert H.REQUEST_ACCEPTED not in uow.actions()


async def test_accepting_twice_is_already_accepted() -> None:
    uow = company(2)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)
    again = await answer(uow, job_id, 1, Action.ACCEPT)
    assert again.outcome is Outcome.ALREADY_ACCEPTED
    assert len(uow.rows(H.JOB_ASSIGNED)) == 1


async def test_each_job_of_a_two_service_booking_is_won_separately() -> None:
    uow = company(2, services=("plumb", "drain"))
    booking = await book(uow, "plumb", "drain")
    plumb, drain = booking.job_ids
    assert uow.asked(plumb) == [1, 2] and uow.asked(drain) == [1, 2]

    await answer(uow, plumb, 1, Action.ACCEPT)

    assert uow.jobs[plumb].fieldworker_id == 1
    assert uow.jobs[drain].status is JobStatus.OFFERED
    assert uow.asked(drain, PENDING) == [1, 2], "the other job's requests are untouched"


async def test_one_fieldworker_may_accept_both_jobs_of_one_appointment() -> None:
    # Current behaviour, pinned: an accept does not re-check eligibility, so the fieldworker who
    # won one job still wins the overlapping other one, which `assign` would refuse
    # (`not_eligible`, schedule_conflict) without force.
    uow = company(2, services=("plumb", "drain"))
    plumb, drain = (await book(uow, "plumb", "drain")).job_ids
    await answer(uow, plumb, 1, Action.ACCEPT)

    result = await answer(uow, drain, 1, Action.ACCEPT)

    assert result.outcome is Outcome.ASSIGNED
    assert uow.jobs[plumb].fieldworker_id == uow.jobs[drain].fieldworker_id == 1


# Accept, manual mode: acceptances are collected, staff confirm one.


async def test_manual_mode_collects_acceptances_and_keeps_the_job_open() -> None:
    uow = company(3)
    job_id = (await book(uow, mode=DispatchMode.MANUAL)).job_id
    assert uow.asked(job_id) == [] and uow.jobs[job_id].status is JobStatus.UNASSIGNED
    sent = await offering.send_requests(uow, [job_id], [1, 2, 3], STAFF, Channel.API)
    assert sent.sent == [uow.request_of(job_id, fw).id for fw in (1, 2, 3)]
    assert uow.jobs[job_id].status is JobStatus.OFFERED

    first = await answer(uow, job_id, 1, Action.ACCEPT)
    second = await answer(uow, job_id, 2, Action.ACCEPT)

    assert first.outcome is second.outcome is Outcome.ACCEPTED
    job = uow.jobs[job_id]
    assert (job.status, job.fieldworker_id) == (JobStatus.OFFERED, None)
    assert uow.asked(job_id, ACCEPTED) == [1, 2] and uow.asked(job_id, PENDING) == [3]
    assert H.JOB_ASSIGNED not in uow.actions()
    assert [e.assigned for e in uow.emitted(RequestAccepted)] == [False, False]


# Decline.


async def test_a_decline_with_a_reason_is_recorded_with_it() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id

    result = await answer(uow, job_id, 1, Action.DECLINE, reason=" Too far ")

    assert result.outcome is Outcome.DECLINED and result.status is DECLINED
    request = uow.request_of(job_id, 1)
    assert (request.status, request.reason) == (DECLINED, "Too far"), "the reason is trimmed"
    assert request.channel is Channel.TELEGRAM
    assert (request.responded_by_kind, request.responded_by_id) == (ActorKind.FIELDWORKER, 1)
    [row] = uow.rows(H.REQUEST_DECLINED)
    assert row.details == {"fieldworker_id": 1, "reason": "Too far"}
    assert (row.from_status, row.to_status) == ("pending", "declined")
    assert [e.reason for e in uow.emitted(RequestDeclined)] == ["Too far"]
    assert uow.jobs[job_id].status is JobStatus.OFFERED, "the others are still asked"


@pytest.mark.parametrize("reason", [None, "", "   "])
async def test_a_decline_without_a_reason_is_refused_when_reasons_are_required(
    reason: str | None,
) -> None:
    uow = company(3)  # decline_reason_required is on by default
    job_id = (await book(uow)).job_id
    history, events = len(uow.history), len(uow.events)

    result = await answer(uow, job_id, 1, Action.DECLINE, reason=reason)

    assert result.outcome is Outcome.REASON_REQUIRED
    assert uow.request_of(job_id, 1).status is PENDING
    assert (len(uow.history), len(uow.events)) == (history, events), "nothing recorded"


async def test_a_decline_without_a_reason_is_recorded_when_reasons_are_optional() -> None:
    uow = company(3, decline_reason_required=False)
    job_id = (await book(uow)).job_id

    result = await answer(uow, job_id, 1, Action.DECLINE)

    assert result.outcome is Outcome.DECLINED
    assert (uow.request_of(job_id, 1).status, uow.request_of(job_id, 1).reason) == (DECLINED, None)
    assert uow.rows(H.REQUEST_DECLINED)[0].details["reason"] is None


async def test_staff_declining_on_a_fieldworkers_behalf_always_need_a_reason() -> None:
    uow = company(3, decline_reason_required=False)
    booking = await book(uow)

    result = await answer(uow, booking.job_id, 1, Action.DECLINE, actor=STAFF)
    assert result.outcome is Outcome.REASON_REQUIRED
    with pytest.raises(Invalid) as refused:
        await responding.respond_for_fieldworker(
            uow, booking.id, 1, Action.DECLINE, STAFF, Channel.API
        )
    assert refused.value.code == "reason_required"
    assert uow.request_of(booking.job_id, 1).status is PENDING

    await answer(uow, booking.job_id, 1, Action.DECLINE, reason="Ill", actor=STAFF)
    [row] = uow.rows(H.REQUEST_DECLINED)
    assert (row.actor, row.on_behalf_of) == (STAFF, 1)


async def test_when_the_last_open_request_is_declined_the_job_is_unassigned() -> None:
    uow = company(2)
    job_id = (await book(uow)).job_id

    await answer(uow, job_id, 1, Action.DECLINE, reason="Too far")
    assert uow.jobs[job_id].status is JobStatus.OFFERED and not uow.emitted(JobNobodyToAsk)
    await answer(uow, job_id, 2, Action.DECLINE, reason="Personal")

    assert uow.jobs[job_id].status is JobStatus.UNASSIGNED
    assert [e.job_id for e in uow.emitted(JobNobodyToAsk)] == [job_id]


async def test_a_declined_request_cannot_be_accepted_afterwards() -> None:
    uow = company(2)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.DECLINE, reason="Too far")
    assert (await answer(uow, job_id, 1, Action.ACCEPT)).outcome is Outcome.CLOSED
    assert uow.jobs[job_id].status is JobStatus.OFFERED


# Pend: staff put an answered request back to pending and ask again.


async def test_staff_pend_a_declined_request_and_the_fieldworker_is_asked_again() -> None:
    uow = company(2)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.DECLINE, reason="Too far")
    later = uow.clock.advance(minutes=30)

    result = await answer(uow, job_id, 1, Action.PEND, actor=STAFF)

    assert result.outcome is Outcome.PENDED and result.status is PENDING
    request = uow.request_of(job_id, 1)
    assert (request.status, request.reason) == (PENDING, None)
    assert request.expires_at == later + timedelta(seconds=900), "a fresh deadline"
    assert request.responded_by_kind is ActorKind.STAFF
    [row] = uow.rows(H.REQUEST_PENDED)
    assert (row.actor, row.on_behalf_of, row.from_status) == (STAFF, 1, "declined")
    assert [e.fieldworker_id for e in uow.emitted(RequestPended)] == [1]


async def test_pending_the_assigned_fieldworkers_request_puts_the_job_back_on_offer() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)

    await answer(uow, job_id, 1, Action.PEND, actor=STAFF)

    job = uow.jobs[job_id]
    assert (job.status, job.fieldworker_id) == (JobStatus.OFFERED, None)
    assert uow.actions()[-2:] == [H.REQUEST_PENDED, H.JOB_UNASSIGNED]
    [unassigned] = uow.emitted(JobUnassigned)
    assert (unassigned.fieldworker_id, unassigned.actor) == (1, STAFF)
    assert uow.asked(job_id, PENDING) == [1], "the others stay withdrawn"


async def test_pending_a_request_withdrawn_from_a_taken_job_asks_someone_who_cannot_win() -> None:
    # Current behaviour, pinned: `pend` does not check that the job is still open (unlike
    # `send_requests`, which refuses with `job_not_open`), so fieldworker 2 is asked again for a
    # job that stays with fieldworker 1, and their accept is then too late.
    uow = company(2)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)

    result = await answer(uow, job_id, 2, Action.PEND, actor=STAFF)

    assert result.outcome is Outcome.PENDED
    assert uow.request_of(job_id, 2).status is PENDING
    assert [e.fieldworker_id for e in uow.emitted(RequestPended)] == [2]
    late = await answer(uow, job_id, 2, Action.ACCEPT)
    assert late.outcome is Outcome.TAKEN
    assert [e.fieldworker_id for e in uow.emitted(RequestRejectedLate)] == [2]
    assert uow.jobs[job_id].fieldworker_id == 1


async def test_pending_a_request_that_is_still_pending_changes_nothing() -> None:
    uow = company(2)
    job_id = (await book(uow)).job_id
    history = len(uow.history)
    result = await answer(uow, job_id, 1, Action.PEND, actor=STAFF)
    assert result.outcome is Outcome.PENDED
    assert len(uow.history) == history


async def test_a_fieldworker_cannot_pend_their_own_request() -> None:
    uow = company(2)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.DECLINE, reason="Too far")
    history = len(uow.history)

    with pytest.raises(Forbidden) as refused:
        await answer(uow, job_id, 1, Action.PEND)

    assert refused.value.code == "forbidden"
    assert uow.request_of(job_id, 1).status is DECLINED
    assert len(uow.history) == history


async def test_an_unknown_request_is_not_found() -> None:
    uow = company(1)
    result = await responding.respond(uow, 404, Action.ACCEPT, STAFF, Channel.API)
    assert result.outcome is Outcome.NOT_FOUND
