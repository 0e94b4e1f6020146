"""`dispatch.replies`: which request a `YES`/`NO` means, which job a `CANCEL` means, STOP/START."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dispatch import offering, replies
from dispatch.commands import Action
from dispatch.errors import Conflict, NotFound
from dispatch.model import Channel, DispatchMode, RequestStatus
from dispatch.ports import RequestView
from dispatch.reachability import ChannelsOn
from tests.unit.fakes import STAFF, START, FakeUnitOfWork, answer, book, company


async def offer_jobs(
    uow: FakeUnitOfWork, n: int, mode: DispatchMode = DispatchMode.AUTO
) -> list[int]:
    """Book `n` one-job bookings on consecutive days (in auto mode everyone is asked); job ids."""
    return [
        (await book(uow, start=START + timedelta(days=day), mode=mode)).job_id for day in range(n)
    ]


def request(uow: FakeUnitOfWork, job_id: int, fw_id: int) -> RequestView:
    """The fieldworker's request for the job as the core sees it."""
    return uow.request_of(job_id, fw_id).view()


# request_meant: which open request a YES/NO means.


async def test_a_reply_code_names_one_of_the_fieldworkers_open_requests() -> None:
    uow = company(2)
    first, second = await offer_jobs(uow, 2)
    for job_id in (first, second):
        for fw_id in (1, 2):
            mine = request(uow, job_id, fw_id)
            assert mine.reply_code is not None
            assert await replies.request_meant(uow, fw_id, mine.reply_code) == mine


async def test_a_code_that_is_not_one_of_their_open_requests_is_not_found() -> None:
    uow = company(2)
    first, second = await offer_jobs(uow, 2)
    await answer(uow, first, 1, Action.DECLINE, reason="Busy")
    # Unknown, of a request answered already, of someone else's request.
    codes = [9999, request(uow, first, 1).reply_code, request(uow, second, 2).reply_code]
    assert request(uow, second, 1).reply_code not in codes
    for code in codes:
        with pytest.raises(NotFound) as refused:
            await replies.request_meant(uow, 1, code)
        assert refused.value.code == "no_such_code"
        assert refused.value.message == f"No open request has the code {code}."


async def test_without_a_code_the_reply_means_their_only_open_request() -> None:
    uow = company(1)
    first, second = await offer_jobs(uow, 2)
    await answer(uow, first, 1, Action.DECLINE, reason="Busy")  # no longer open
    assert await replies.request_meant(uow, 1, None) == request(uow, second, 1)


async def test_without_a_code_and_no_open_request_there_is_nothing_to_answer() -> None:
    uow = company(1)
    [job_id] = await offer_jobs(uow, 1)
    await answer(uow, job_id, 1, Action.ACCEPT)
    for fw_id in (1, 404):
        with pytest.raises(NotFound) as refused:
            await replies.request_meant(uow, fw_id, None)
        assert refused.value.code == "no_open_requests"


async def test_without_a_code_several_open_requests_are_listed_by_code_oldest_first() -> None:
    uow = company(1)
    jobs = await offer_jobs(uow, replies.LISTED_CODES + 1)
    codes = [request(uow, job_id, 1).reply_code for job_id in jobs]

    with pytest.raises(Conflict) as refused:
        await replies.request_meant(uow, 1, None)

    assert refused.value.code == "several_open_requests"
    listed = ", ".join(str(c) for c in codes[: replies.LISTED_CODES])
    assert refused.value.message == f"You have several open requests ({listed})."
    assert str(codes[-1]) not in refused.value.message


# job_meant_by_cancel: which assigned job a CANCEL means.


async def test_a_cancel_code_names_the_job_their_accepted_request_won() -> None:
    uow = company(2)
    first, second = await offer_jobs(uow, 2)
    await answer(uow, first, 1, Action.ACCEPT)
    await answer(uow, second, 1, Action.ACCEPT)
    code = request(uow, second, 1).reply_code
    assert await replies.job_meant_by_cancel(uow, 1, code) == second


async def test_a_cancel_code_of_a_request_that_holds_no_job_of_theirs_is_not_found() -> None:
    uow = company(2)
    accepted_only, pending = await offer_jobs(uow, 2, mode=DispatchMode.MANUAL)
    await offering.send_requests(uow, [accepted_only, pending], [1], STAFF, Channel.API)
    # Manual mode: accepted, but staff have not confirmed them, so the job is not theirs.
    await answer(uow, accepted_only, 1, Action.ACCEPT)
    assert uow.request_of(accepted_only, 1).status is RequestStatus.ACCEPTED
    for code in (request(uow, accepted_only, 1).reply_code, request(uow, pending, 1).reply_code):
        with pytest.raises(NotFound) as refused:
            await replies.job_meant_by_cancel(uow, 1, code)
        assert refused.value.code == "no_such_code"
        assert refused.value.message == f"None of your assigned jobs has the code {code}."


async def test_without_a_code_a_cancel_means_their_only_upcoming_assigned_job() -> None:
    uow = company(1)
    past = (await book(uow, fieldworker_id=1, start=START - timedelta(days=2))).job_id
    upcoming = (await book(uow, fieldworker_id=1)).job_id
    assert uow.jobs[past].fieldworker_id == 1, "still assigned, but it has ended"
    assert await replies.job_meant_by_cancel(uow, 1, None) == upcoming


async def test_without_a_code_a_cancel_with_no_or_several_upcoming_jobs_is_refused() -> None:
    uow = company(1)
    with pytest.raises(NotFound) as refused:
        await replies.job_meant_by_cancel(uow, 1, None)
    assert refused.value.code == "no_assigned_jobs"

    await book(uow, fieldworker_id=1)
    await book(uow, fieldworker_id=1, start=START + timedelta(days=1))
    with pytest.raises(Conflict) as refused:
        await replies.job_meant_by_cancel(uow, 1, None)
    assert refused.value.code == "several_assigned_jobs"


async def test_a_cancel_code_still_names_an_assigned_job_that_has_ended() -> None:
    # Today's behaviour: by code, a job is not required to be upcoming (without one, it is).
    uow = company(1)
    [job_id] = await offer_jobs(uow, 1)
    await answer(uow, job_id, 1, Action.ACCEPT)
    uow.clock.at = START + timedelta(days=1)
    assert await uow.upcoming_assigned_job_ids(1) == []
    assert await replies.job_meant_by_cancel(uow, 1, request(uow, job_id, 1).reply_code) == job_id


# set_sms_opt_out: STOP and START.


async def test_stop_and_start_switch_sms_for_everyone_with_the_number() -> None:
    phone = "+4915100000000"  # also the customer's phone in `book`
    uow = company(0)
    uow.channels_on = ChannelsOn(telegram=True, sms=True)
    worker = uow.add_fieldworker(phone=phone, channels=["sms"])
    other = uow.add_fieldworker(phone="+4915100000001", channels=["sms"])
    booking_id = (await book(uow, mode=DispatchMode.MANUAL)).id

    await replies.set_sms_opt_out(uow, phone, True)
    assert await uow.reachable_fieldworkers([worker, other]) == {other}
    assert uow.bookings[booking_id].customer_sms_opt_out

    await replies.set_sms_opt_out(uow, phone, False)
    assert await uow.reachable_fieldworkers([worker, other]) == {worker, other}
    assert not uow.bookings[booking_id].customer_sms_opt_out
