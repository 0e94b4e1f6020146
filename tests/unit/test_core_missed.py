"""Core rules for a missed job (its fieldworker dropped out) and for an acceptance that waits for
staff in `manual` mode, run on the in-memory fake."""

from __future__ import annotations

from dispatch import assignment, offering, responding
from dispatch.commands import Action, Outcome, RespondResult
from dispatch.events import (
    AcceptanceWaiting,
    FieldworkerCancelled,
    JobUnassigned,
)
from dispatch.model import Channel, DispatchMode, HistoryAction, JobStatus, RequestStatus
from dispatch.steps import JobScope, jobs_meant
from tests.unit.fakes import STAFF, FakeUnitOfWork, answer, book, company, fieldworker

H = HistoryAction
PENDING, ACCEPTED, DECLINED = RequestStatus.PENDING, RequestStatus.ACCEPTED, RequestStatus.DECLINED


async def drop_out(uow: FakeUnitOfWork, job_id: int, fw_id: int) -> RespondResult:
    return await responding.no_longer_attending(
        uow, job_id, fw_id, fieldworker(fw_id), Channel.TELEGRAM, reason="Van broke down"
    )


async def missed_manual_job(uow: FakeUnitOfWork) -> int:
    """A manual booking's job given to fieldworker 1, who then drops out: it is missed."""
    job_id = (await book(uow, mode=DispatchMode.MANUAL)).job_id
    await offering.send_requests(uow, [job_id], [1], STAFF, Channel.API)
    await answer(uow, job_id, 1, Action.ACCEPT)
    await assignment.assign(uow, job_id, 1, STAFF, Channel.API)
    assert (await drop_out(uow, job_id, 1)).outcome is Outcome.CANCELLED
    assert uow.jobs[job_id].status is JobStatus.MISSED
    return job_id


# A missed job waits for staff in manual mode, and every staff action takes it.


async def test_in_manual_mode_a_missed_job_waits_and_nobody_is_asked() -> None:
    uow = company(3)
    job_id = await missed_manual_job(uow)

    assert uow.jobs[job_id].fieldworker_id is None
    assert uow.asked(job_id, PENDING) == []
    [dropped] = uow.emitted(FieldworkerCancelled)
    assert (dropped.fieldworker_id, dropped.rebroadcast) == (1, False)
    assert not uow.emitted(JobUnassigned), "missed, not unassigned: one event tells everyone"
    [missed] = uow.rows(H.JOB_MISSED)
    assert missed.details == {"fieldworker_id": 1, "reason": "Van broke down"}
    assert missed.on_behalf_of is None, "they said it themselves"


async def test_staff_send_requests_for_a_missed_job_and_it_is_offered() -> None:
    uow = company(3)
    job_id = await missed_manual_job(uow)
    booking_id = uow.jobs[job_id].booking_id
    assert [j.id for j in await jobs_meant(uow, booking_id, None, JobScope.OPEN)] == [job_id]

    result = await offering.request_jobs(uow, booking_id, [2], STAFF, Channel.API)

    assert result.sent == [uow.request_of(job_id, 2).id]
    assert uow.jobs[job_id].status is JobStatus.OFFERED
    assert (await answer(uow, job_id, 2, Action.ACCEPT)).outcome is Outcome.ACCEPTED


async def test_staff_assign_a_missed_job() -> None:
    uow = company(3)
    job_id = await missed_manual_job(uow)

    assert await assignment.assign(uow, job_id, 2, STAFF, Channel.API)

    job = uow.jobs[job_id]
    assert (job.status, job.fieldworker_id) == (JobStatus.ASSIGNED, 2)
    assigned = uow.rows(H.JOB_ASSIGNED)[-1]
    assert (assigned.from_status, assigned.details["previous_fieldworker_id"]) == ("missed", None)


async def test_staff_rebroadcast_a_missed_job_asks_those_not_asked_yet() -> None:
    uow = company(3)
    job_id = await missed_manual_job(uow)

    sent = await offering.rebroadcast(uow, uow.jobs[job_id].booking_id, STAFF, Channel.API)

    assert sent == [uow.request_of(job_id, fw).id for fw in (2, 3)]
    assert uow.jobs[job_id].status is JobStatus.OFFERED
    assert uow.request_of(job_id, 1).status is DECLINED, "never back to the one who dropped out"


async def test_staff_pend_the_one_who_missed_asks_them_again() -> None:
    uow = company(3)
    job_id = await missed_manual_job(uow)

    result = await answer(uow, job_id, 1, Action.PEND, actor=STAFF)

    assert result.outcome is Outcome.PENDED
    assert uow.jobs[job_id].status is JobStatus.OFFERED
    assert uow.request_of(job_id, 1).status is PENDING


async def test_a_missed_job_offered_again_goes_to_the_first_accept_in_auto_mode() -> None:
    uow = company(3, auto_rebroadcast_on_cancel=False)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)
    await drop_out(uow, job_id, 1)
    assert uow.jobs[job_id].status is JobStatus.MISSED
    assert uow.asked(job_id, PENDING) == [], "re-broadcast is off: staff decide"
    await answer(uow, job_id, 2, Action.PEND, actor=STAFF)

    result = await answer(uow, job_id, 2, Action.ACCEPT)

    assert result.outcome is Outcome.ASSIGNED
    assert (uow.jobs[job_id].status, uow.jobs[job_id].fieldworker_id) == (JobStatus.ASSIGNED, 2)


async def test_the_job_is_missed_before_it_is_offered_again() -> None:
    uow = company(3)
    job_id = (await book(uow)).job_id
    await answer(uow, job_id, 1, Action.ACCEPT)
    before = len(uow.history)

    await drop_out(uow, job_id, 1)

    assert [(h.action, h.to_status) for h in uow.history[before:]] == [
        (H.REQUEST_DECLINED, "declined"),
        (H.JOB_MISSED, "missed"),
        (H.REQUEST_SENT, "pending"),  # those who lost it to them are asked again
        (H.REQUEST_SENT, "pending"),
    ]
    assert uow.jobs[job_id].status is JobStatus.OFFERED


# Manual mode: an acceptance waits for staff, who are alerted.


async def test_a_manual_acceptance_by_the_fieldworker_alerts_staff() -> None:
    uow = company(3)
    job_id = (await book(uow, mode=DispatchMode.MANUAL)).job_id
    await offering.send_requests(uow, [job_id], [1, 2], STAFF, Channel.API)

    await answer(uow, job_id, 1, Action.ACCEPT)
    await answer(uow, job_id, 2, Action.ACCEPT, actor=STAFF)

    [waiting] = uow.emitted(AcceptanceWaiting)
    assert (waiting.job_id, waiting.fieldworker_id) == (job_id, 1)
    assert waiting.request_id == uow.request_of(job_id, 1).id
    assert uow.asked(job_id, ACCEPTED) == [1, 2]


async def test_an_auto_acceptance_waits_for_nobody() -> None:
    uow = company(2)
    job_id = (await book(uow)).job_id

    await answer(uow, job_id, 1, Action.ACCEPT)

    assert uow.emitted(AcceptanceWaiting) == []
