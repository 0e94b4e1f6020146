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
from dispatch.ports import Identifier
from dispatch.reachability import ChannelsOn
from tests.unit.fakes import NOW, SITE, STAFF, START, book, company, near

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


async def test_reply_codes_are_unique_among_a_fieldworkers_pending_requests() -> None:
    uow = company(1)
    for day in range(3):
        await book(uow, start=START + timedelta(days=day))
    uow.requests[1].reply_code = 1003  # the code the next request would otherwise get
    job_id = (await book(uow, start=START + timedelta(days=3))).job_id

    codes = [r.reply_code for r in await uow.requests_of_fieldworker(1, [PENDING])]
    assert len(codes) == 4 and len(set(codes)) == 4
    assert all(code is not None and 1000 <= code <= 9999 for code in codes)
    view = await uow.get_request(uow.request_of(job_id, 1).id)
    assert view is not None and view.reply_code == codes[-1]


async def test_booking_details_are_stored_and_seen() -> None:
    uow = company(1)
    booking_id = (await book(uow)).id
    moved = near(SITE, 1)
    await uow.update_booking_details(booking_id, address="Lane 2", notes="Dog", location=moved)
    view = await uow.get_booking(booking_id)
    assert view is not None and (view.address, view.notes, view.location) == (
        "Lane 2",
        "Dog",
        moved,
    )
    assert uow.bookings[booking_id].new.address == "Street 1", "what it was created from stays"


async def test_upcoming_assigned_jobs_have_not_ended_and_come_soonest_first() -> None:
    uow = company(2)
    later = (await book(uow, fieldworker_id=1, start=START + timedelta(days=1))).job_id
    soon = (await book(uow, fieldworker_id=1)).job_id
    await book(uow, fieldworker_id=2)  # someone else's
    await book(uow, start=START + timedelta(hours=3))  # only offered to them

    assert await uow.upcoming_assigned_job_ids(1) == [soon, later]
    uow.clock.at = START + timedelta(hours=2)  # `soon` ends now: no longer upcoming
    assert await uow.upcoming_assigned_job_ids(1) == [later]


async def test_an_sms_opt_out_covers_every_fieldworker_and_customer_with_the_phone() -> None:
    uow = company(0)
    phone = "+4915100000000"  # the phone `book` gives the customer
    worker = uow.add_fieldworker(phone=phone, channels=["sms"])
    other = uow.add_fieldworker(phone="+4915100000001", channels=["sms"])
    booking_id = (await book(uow, mode=DispatchMode.MANUAL)).id

    await uow.set_sms_opt_out(phone, True)
    assert uow.contacts[worker].sms_opt_out and not uow.contacts[other].sms_opt_out
    assert uow.bookings[booking_id].customer_sms_opt_out
    await uow.set_sms_opt_out(phone, False)
    assert not uow.contacts[worker].sms_opt_out
    assert not uow.bookings[booking_id].customer_sms_opt_out


async def test_reachability_is_read_from_the_stored_contact() -> None:
    uow = company(1)  # a linked Telegram account by default
    silent = uow.add_fieldworker(reachable=False)
    by_sms = uow.add_fieldworker(phone="+4915100000009", channels=["sms"])
    assert await uow.reachable_fieldworkers([1, silent, by_sms, 404]) == {1}
    uow.channels_on = ChannelsOn(telegram=True, sms=True)
    assert await uow.reachable_fieldworkers([1, silent, by_sms]) == {1, by_sms}
    await uow.set_sms_opt_out("+4915100000009", True)
    assert await uow.reachable_fieldworkers([by_sms]) == set()


async def test_identifiers_are_unique_as_in_the_table() -> None:
    uow = company(0)
    ana = uow.add_fieldworker(name="Ana", phone="+1", telegram_user_id=7, telegram_chat_id=70)
    bo = uow.add_fieldworker(name="Bo")
    holder = await uow.holder_of(Identifier.TELEGRAM_USER_ID, 7)
    assert holder is not None and (holder.id, holder.name, holder.phone) == (ana, "Ana", "+1")
    assert await uow.holder_of(Identifier.INVITE_CODE, f"code-{bo}") is not None
    assert await uow.holder_of(Identifier.PHONE, "+2") is None

    with pytest.raises(AssertionError, match="duplicate telegram_user_id"):
        await uow.set_telegram(bo, 7, 71, None)
    with pytest.raises(AssertionError, match="duplicate phone"):
        uow.add_fieldworker(phone="+1")
    await uow.set_telegram(ana, 7, 72, "ana")  # one's own id again is fine
    assert (uow.contacts[ana].telegram_chat_id, uow.contacts[ana].telegram_username) == (72, "ana")
