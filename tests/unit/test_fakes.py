"""The fake unit of work keeps the storage adapter's compare-and-set semantics (`models/uow.py`).

The core's race handling rests on these; if the fake drifted, the unit tests would prove nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from dispatch.model import (
    OPEN_JOB_STATUSES,
    ActorKind,
    Channel,
    DispatchMode,
    JobStatus,
    RequestStatus,
)
from tests.unit.fakes import NOW, STAFF, START, book, company

PENDING, ACCEPTED, DECLINED = RequestStatus.PENDING, RequestStatus.ACCEPTED, RequestStatus.DECLINED


async def test_move_job_changes_only_from_the_listed_statuses() -> None:
    uow = company(2)
    job_id = (await book(uow, mode=DispatchMode.MANUAL)).job_id
    assert not await uow.move_job(job_id, [JobStatus.OFFERED], JobStatus.ASSIGNED, fieldworker_id=1)
    assert uow.jobs[job_id].status is JobStatus.UNASSIGNED

    uow.clock.advance(minutes=5)
    assert await uow.move_job(job_id, OPEN_JOB_STATUSES, JobStatus.ASSIGNED, fieldworker_id=1)
    assert not await uow.move_job(job_id, OPEN_JOB_STATUSES, JobStatus.ASSIGNED, fieldworker_id=2)
    job = uow.jobs[job_id]
    assert (job.status, job.fieldworker_id, job.assigned_at) == (
        JobStatus.ASSIGNED,
        1,
        NOW + timedelta(minutes=5),
    )
    assert not await uow.move_job(404, OPEN_JOB_STATUSES, JobStatus.ASSIGNED, fieldworker_id=1)


async def test_move_job_checks_the_fieldworker_only_when_asked() -> None:
    uow = company(2)
    job_id = (await book(uow, fieldworker_id=1)).job_id

    async def move(expect: int | None, check: bool) -> bool:
        return await uow.move_job(
            job_id,
            [JobStatus.ASSIGNED],
            JobStatus.ASSIGNED,
            fieldworker_id=2,
            expect_fieldworker_id=expect,
            check_fieldworker=check,
        )

    assert not await move(2, check=True)
    assert not await move(None, check=True), "no expected id means: held by nobody"
    assert await move(1, check=True)
    assert uow.jobs[job_id].fieldworker_id == 2
    assert await move(99, check=False), "the fieldworker is not looked at unless asked"


async def test_move_request_refuses_an_illegal_move_and_writes_what_the_adapter_writes() -> None:
    uow = company(1)
    job_id = (await book(uow)).job_id
    request = uow.request_of(job_id, 1)
    with pytest.raises(ValueError, match="illegal request move"):
        await uow.move_request(request.id, [PENDING], PENDING)

    assert await uow.move_request(request.id, [PENDING], DECLINED, reason="Far", actor=STAFF)
    assert not await uow.move_request(request.id, [PENDING], DECLINED, reason="again")
    assert (request.status, request.reason, request.responded_by_kind) == (
        DECLINED,
        "Far",
        ActorKind.STAFF,
    )
    assert uow.requests[request.id].channel is None, "a move without a channel writes none"

    later = uow.clock.advance(hours=1)
    assert await uow.move_request(
        request.id, [DECLINED], PENDING, channel=Channel.API, expires_at=later
    )
    assert (request.status, request.reason, request.expires_at) == (PENDING, None, later)
    assert (request.responded_at, request.channel) == (later, Channel.API)


async def test_candidates_are_busy_with_their_other_overlapping_assigned_jobs() -> None:
    uow = company(2)
    mine = await book(uow, fieldworker_id=1)
    await book(uow, fieldworker_id=1, start=START + timedelta(hours=2))  # touches: not busy
    job = await uow.get_job((await book(uow)).job_id)
    assert job is not None

    first, second = await uow.candidates(job)

    slot = uow.jobs[mine.job_id].appointment
    assert first.busy == (slot,) and second.busy == ()
    assert uow.fieldworkers[1].busy == (), "the stored profile is left alone"
    own = await uow.get_job(mine.job_id)
    assert own is not None
    assert (await uow.candidates(own))[0].busy == (), "a job does not make itself busy"


async def test_a_second_request_for_the_same_job_and_fieldworker_is_refused() -> None:
    uow = company(1)
    job_id = (await book(uow)).job_id
    with pytest.raises(AssertionError, match="duplicate request"):
        await uow.create_request(job_id, 1, 1, None)
