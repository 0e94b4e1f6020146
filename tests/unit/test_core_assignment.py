"""Core rules for staff assigning, reassigning and unassigning, and a fieldworker dropping out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dispatch import assignment, bookings, offering, responding
from dispatch.commands import Action, Outcome, RespondResult
from dispatch.errors import Conflict, NotFound
from dispatch.events import (
    FieldworkerCancelled,
    JobAssigned,
    JobUnassigned,
    RequestDeclined,
    RequestPended,
    RequestSent,
    RequestWithdrawn,
    WithdrawnBecause,
)
from dispatch.model import (
    ActorKind,
    Channel,
    DispatchMode,
    HistoryAction,
    JobStatus,
    RequestStatus,
)
from tests.unit.fakes import (
    SITE,
    STAFF,
    START,
    FakeUnitOfWork,
    answer,
    book,
    company,
    fieldworker,
    near,
)

H = HistoryAction
PENDING, ACCEPTED, DECLINED, EXPIRED, WITHDRAWN = (
    RequestStatus.PENDING,
    RequestStatus.ACCEPTED,
    RequestStatus.DECLINED,
    RequestStatus.EXPIRED,
    RequestStatus.WITHDRAWN,
)


async def assign(uow: FakeUnitOfWork, job_id: int, fw_id: int, *, force: bool = False) -> bool:
    return await assignment.assign(uow, job_id, fw_id, STAFF, Channel.API, force=force)


async def unassign(
    uow: FakeUnitOfWork, job_id: int, *, reason: str = "Off sick", rebroadcast: bool = True
) -> list[int] | None:
    return await assignment.unassign(
        uow, job_id, STAFF, Channel.API, reason=reason, rebroadcast=rebroadcast
    )


# Assign and reassign.


async def test_staff_assign_then_reassign_a_job() -> None:
    uow = company(3)
    job_id = (await book(uow, mode=DispatchMode.MANUAL)).job_id

    assert await assign(uow, job_id, 1)
    assert await assign(uow, job_id, 2)

    job = uow.jobs[job_id]
    assert (job.status, job.fieldworker_id) == (JobStatus.ASSIGNED, 2)
    assigned, reassigned = uow.rows(H.JOB_ASSIGNED) + uow.rows(H.JOB_REASSIGNED)
    assert assigned.details == {
        "fieldworker_id": 1,
        "previous_fieldworker_id": None,
        "forced": False,
    }
    assert reassigned.details == {
        "fieldworker_id": 2,
        "previous_fieldworker_id": 1,
        "forced": False,
    }
    assert (reassigned.from_status, reassigned.to_status) == ("assigned", "assigned")
    assert [(e.fieldworker_id, e.previous_fieldworker_id) for e in uow.emitted(JobAssigned)] == [
        (1, None),
        (2, 1),
    ]
    assert not any(e.via_accept for e in uow.emitted(JobAssigned))


async def test_assigning_a_job_to_whom_it_already_belongs_changes_nothing() -> None:
    uow = company(2)
    job_id = (await book(uow, mode=DispatchMode.MANUAL)).job_id
    await assign(uow, job_id, 1)
    history, events = len(uow.history), len(uow.events)
    assert not await assign(uow, job_id, 1)
    assert (len(uow.history), len(uow.events)) == (history, events)


async def test_an_ineligible_fieldworker_is_refused_unless_forced() -> None:
    uow = company(2)
    far = uow.add_fieldworker(services=frozenset({"plumb"}), base_location=near(SITE, 100))
    job_id = (await book(uow, mode=DispatchMode.MANUAL)).job_id
    history = len(uow.history)

    with pytest.raises(Conflict) as refused:
        await assign(uow, job_id, far)

    assert (refused.value.code, refused.value.field) == ("not_eligible", "fieldworker_id")
    assert "outside_radius" in refused.value.message
    assert uow.jobs[job_id].status is JobStatus.UNASSIGNED and len(uow.history) == history

    assert await assign(uow, job_id, far, force=True)
    assert uow.jobs[job_id].fieldworker_id == far
    assert uow.rows(H.JOB_ASSIGNED)[0].details["forced"] is True


async def test_a_fieldworker_busy_at_that_time_is_not_eligible() -> None:
    # Another booking overlapping in time is a conflict (the same visit is not: see below).
    uow = company(2, services=("plumb", "drain"))
    plumb = (await book(uow, "plumb", mode=DispatchMode.MANUAL)).job_id
    drain = (
        await book(uow, "drain", mode=DispatchMode.MANUAL, start=START + timedelta(hours=1))
    ).job_id
    await assign(uow, plumb, 1)

    with pytest.raises(Conflict) as refused:
        await assign(uow, drain, 1)

    assert refused.value.code == "not_eligible" and "schedule_conflict" in refused.value.message
    assert await assign(uow, drain, 2)


async def test_one_fieldworker_may_do_every_job_of_one_visit() -> None:
    uow = company(2, services=("plumb", "drain"))
    plumb, drain = (await book(uow, "plumb", "drain", mode=DispatchMode.MANUAL)).job_ids
    await assign(uow, plumb, 1)

    assert 1 in (await offering.eligibility(uow, drain)).eligible_ids()
    assert await assign(uow, drain, 1)
    assert {uow.jobs[plumb].fieldworker_id, uow.jobs[drain].fieldworker_id} == {1}


async def test_the_whole_visit_can_be_assigned_to_one_fieldworker_in_one_call() -> None:
    uow = company(2, services=("plumb", "drain"))
    booking = await book(uow, "plumb", "drain", mode=DispatchMode.MANUAL)

    done = await assignment.assign_booking(uow, booking.id, 1, STAFF, Channel.API)

    assert done == [(booking.job_ids[0], True), (booking.job_ids[1], True)]
    assert [uow.jobs[j].status for j in booking.job_ids] == [JobStatus.ASSIGNED] * 2


async def test_an_unknown_fieldworker_or_a_closed_job_cannot_be_assigned() -> None:
    uow = company(1)
    booking = await book(uow, mode=DispatchMode.MANUAL)
    with pytest.raises(NotFound) as unknown:
        await assign(uow, booking.job_id, 99)
    assert unknown.value.code == "fieldworker_not_found"
    await bookings.cancel_booking(uow, booking.id, STAFF, Channel.API)
    with pytest.raises(Conflict) as closed:
        await assign(uow, booking.job_id, 1)
    assert closed.value.code == "job_not_open"


async def test_in_manual_mode_staff_confirm_one_acceptor_and_the_others_are_not_selected() -> None:
    uow = company(3)
    job_id = (await book(uow, mode=DispatchMode.MANUAL)).job_id
    await offering.send_requests(uow, [job_id], [1, 2, 3], STAFF, Channel.API)
    await answer(uow, job_id, 1, Action.ACCEPT)
    await answer(uow, job_id, 2, Action.ACCEPT)
    uow.events.clear()

    assert await assign(uow, job_id, 2)

    assert uow.jobs[job_id].fieldworker_id == 2
    assert uow.asked(job_id, ACCEPTED) == [2] and uow.asked(job_id, WITHDRAWN) == [1, 3]
    assert [(e.fieldworker_id, e.because) for e in uow.emitted(RequestWithdrawn)] == [
        (1, WithdrawnBecause.NOT_SELECTED),
        (3, WithdrawnBecause.NOT_SELECTED),
    ]
    [given] = uow.emitted(JobAssigned)
    assert given.request_id == uow.request_of(job_id, 2).id and not given.via_accept
    assert uow.actions().count(H.JOB_ASSIGNED) == 1
    assert uow.actions().count(H.REQUEST_ACCEPTED) == 2, "their own accept is not recorded again"


async def test_in_auto_mode_a_staff_assignment_accepts_for_them_and_withdraws_the_rest() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    uow.events.clear()

    assert await assign(uow, job_id, 3)

    mine = uow.request_of(job_id, 3)
    assert (mine.status, mine.responded_by_kind) == (ACCEPTED, ActorKind.STAFF)
    [accepted_row] = uow.rows(H.REQUEST_ACCEPTED)
    assert (accepted_row.actor, accepted_row.on_behalf_of) == (STAFF, 3)
    assert {e.because for e in uow.emitted(RequestWithdrawn)} == {
        WithdrawnBecause.ASSIGNED_BY_STAFF
    }
    assert uow.asked(job_id, WITHDRAWN) == [1, 2]


# Unassign: the job goes out again, never back to the one it was taken from.


async def test_unassign_reoffers_to_those_who_lost_it_and_to_new_fieldworkers() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)
    newcomer = uow.add_fieldworker(services=frozenset({"plumb"}), base_location=SITE)
    uow.events.clear()

    sent = await unassign(uow, job_id)

    assert sent == [uow.request_of(job_id, fw).id for fw in (2, 3, newcomer)]
    job = uow.jobs[job_id]
    assert (job.status, job.fieldworker_id) == (JobStatus.OFFERED, None)
    assert uow.asked(job_id, PENDING) == [2, 3, newcomer]
    mine = uow.request_of(job_id, 1)
    assert (mine.status, mine.reason, mine.responded_by_kind) == (
        DECLINED,
        "Off sick",
        ActorKind.STAFF,
    )
    assert uow.actions()[-5:] == [
        H.REQUEST_DECLINED,
        H.JOB_UNASSIGNED,
        H.REQUEST_SENT,
        H.REQUEST_SENT,
        H.REQUEST_SENT,
    ]
    assert [e.fieldworker_id for e in uow.emitted(JobUnassigned)] == [1]
    assert [e.fieldworker_id for e in uow.emitted(RequestPended)] == [2, 3], "asked again"
    assert [e.fieldworker_id for e in uow.emitted(RequestSent)] == [newcomer], "asked first time"


async def test_unassign_leaves_declined_and_expired_requests_closed() -> None:
    uow = company(4)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 2, Action.DECLINE, reason="Too far")
    assert await offering.expire_request(uow, uow.request_of(job_id, 3).id)
    await answer(uow, job_id, 1, Action.ACCEPT)

    sent = await unassign(uow, job_id)

    assert sent == [uow.request_of(job_id, 4).id]
    assert uow.request_of(job_id, 2).status is DECLINED
    assert uow.request_of(job_id, 3).status is EXPIRED
    assert uow.asked(job_id, PENDING) == [4]


async def test_unassign_a_directly_assigned_job_asks_everyone_else() -> None:
    uow = company(3)
    job_id = (await book(uow, fieldworker_id=1)).job_id
    assert uow.asked(job_id) == [], "assigned at creation: nobody asked"

    sent = await unassign(uow, job_id)

    assert sent is not None and len(sent) == 2
    assert uow.asked(job_id, PENDING) == [2, 3]
    assert H.REQUEST_DECLINED not in uow.actions(), "there was no request of theirs to decline"


async def test_unassign_in_manual_mode_waits_for_staff() -> None:
    uow = company(3)
    job_id = (await book(uow, mode=DispatchMode.MANUAL)).job_id
    await offering.send_requests(uow, [job_id], [1, 2], STAFF, Channel.API)
    await answer(uow, job_id, 1, Action.ACCEPT)
    await answer(uow, job_id, 2, Action.ACCEPT)
    await assign(uow, job_id, 1)

    assert await unassign(uow, job_id) == []

    assert uow.jobs[job_id].status is JobStatus.UNASSIGNED
    assert uow.asked(job_id, PENDING) == []
    assert uow.request_of(job_id, 2).status is WITHDRAWN


async def test_unassign_without_redispatch_or_of_an_unassigned_job() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    assert await unassign(uow, job_id) is None, "nothing assigned: nothing changes"
    await answer(uow, job_id, 1, Action.ACCEPT)

    assert await unassign(uow, job_id, rebroadcast=False) == []

    assert uow.jobs[job_id].status is JobStatus.UNASSIGNED
    assert uow.asked(job_id, PENDING) == []


async def test_staff_declining_for_the_assigned_fieldworker_frees_the_job() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)

    result = await answer(uow, job_id, 1, Action.DECLINE, reason="Ill", actor=STAFF)

    assert result.outcome is Outcome.DECLINED
    assert uow.jobs[job_id].status is JobStatus.OFFERED
    assert uow.asked(job_id, PENDING) == [2, 3]
    # The job was missed first (history `job_missed`), then offered again.
    assert uow.actions()[-4:] == [H.REQUEST_DECLINED, H.JOB_MISSED, H.REQUEST_SENT, H.REQUEST_SENT]
    [missed] = uow.rows(H.JOB_MISSED)
    assert (missed.from_status, missed.to_status, missed.on_behalf_of) == ("assigned", "missed", 1)
    [dropped] = uow.emitted(FieldworkerCancelled)
    assert (dropped.fieldworker_id, dropped.reason, dropped.rebroadcast) == (1, "Ill", True)


# No longer attending: the assigned fieldworker drops out.


async def test_no_longer_attending_asks_for_a_reason_first() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)
    history, events = len(uow.history), len(uow.events)

    result = await _drop_out(uow, job_id, 1)

    assert result.outcome is Outcome.REASON_REQUIRED
    assert uow.jobs[job_id].fieldworker_id == 1
    assert (len(uow.history), len(uow.events)) == (history, events)


async def test_no_longer_attending_frees_the_job_and_offers_it_to_the_others() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)

    result = await _drop_out(uow, job_id, 1, reason="Car broke down")

    assert result.outcome is Outcome.CANCELLED and result.status is DECLINED
    mine = uow.request_of(job_id, 1)
    assert (mine.status, mine.reason) == (DECLINED, "Car broke down")
    assert uow.jobs[job_id].status is JobStatus.OFFERED
    assert uow.asked(job_id, PENDING) == [2, 3]
    [dropped] = uow.emitted(FieldworkerCancelled)
    assert (dropped.fieldworker_id, dropped.reason, dropped.rebroadcast) == (
        1,
        "Car broke down",
        True,
    )
    declined = uow.rows(H.REQUEST_DECLINED)[-1]
    assert declined.on_behalf_of is None, "they said it themselves"
    assert uow.actions()[-4:] == [H.REQUEST_DECLINED, H.JOB_MISSED, H.REQUEST_SENT, H.REQUEST_SENT]
    [told] = [e for e in uow.emitted(RequestDeclined) if e.fieldworker_id == 1]
    assert told.no_longer_attending, "their message says No longer attending, not Declined"


async def test_no_longer_attending_without_rebroadcast_leaves_the_job_to_staff() -> None:
    uow = company(3, auto_rebroadcast_on_cancel=False, decline_reason_required=False)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)

    result = await _drop_out(uow, job_id, 1)

    assert result.outcome is Outcome.CANCELLED
    job = uow.jobs[job_id]
    assert (job.status, job.fieldworker_id) == (JobStatus.MISSED, None), "missed until staff act"
    assert uow.asked(job_id, PENDING) == []
    assert uow.actions()[-2:] == [H.REQUEST_DECLINED, H.JOB_MISSED]
    [dropped] = uow.emitted(FieldworkerCancelled)
    assert (dropped.reason, dropped.rebroadcast) == (None, False)


async def test_no_longer_attending_a_job_that_is_not_theirs_is_closed() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)
    result = await _drop_out(uow, job_id, 2, reason="Changed my mind")
    assert result.outcome is Outcome.CLOSED
    assert uow.jobs[job_id].fieldworker_id == 1


async def _drop_out(
    uow: FakeUnitOfWork, job_id: int, fw_id: int, reason: str | None = None
) -> RespondResult:
    return await responding.no_longer_attending(
        uow, job_id, fw_id, fieldworker(fw_id), Channel.TELEGRAM, reason=reason
    )
