"""What a fieldworker's reply means when it names a request or job by its reply code, or by none.

Chat and SMS adapters parse words; these rules decide which request a `YES`/`NO` means, which job
a `CANCEL` or a `CONFIRM` means, and what an opt-out changes. Refusals are `DispatchError`s with
stable codes the adapter words for the person.
"""

from __future__ import annotations

from dispatch.errors import Conflict, NotFound
from dispatch.model import RequestStatus
from dispatch.ports import RequestView, UnitOfWork

#: How many reply codes a "which one?" answer lists.
LISTED_CODES = 5


async def request_meant(
    uow: UnitOfWork, fieldworker_id: int, reply_code: int | None
) -> RequestView:
    """The open request a reply means: the one with `reply_code`, or their only open one.

    Refusals: `no_such_code`, `no_open_requests`, `several_open_requests` (the message lists the
    first codes so the fieldworker can answer again).
    """
    pending = await uow.requests_of_fieldworker(fieldworker_id, [RequestStatus.PENDING])
    if reply_code is not None:
        for request in pending:
            if request.reply_code == reply_code:
                return request
        raise NotFound("no_such_code", f"No open request has the code {reply_code}.")
    if len(pending) == 1:
        return pending[0]
    if not pending:
        raise NotFound("no_open_requests", "You have no open job requests.")
    codes = ", ".join(str(r.reply_code) for r in pending[:LISTED_CODES])
    raise Conflict("several_open_requests", f"You have several open requests ({codes}).")


async def job_meant_by_cancel(uow: UnitOfWork, fieldworker_id: int, reply_code: int | None) -> int:
    """The assigned job a "no longer attending" means: by its request's code, or their only
    upcoming assigned job. Refusals: `no_such_code`, `no_assigned_jobs`, `several_assigned_jobs`.
    """
    if reply_code is not None:
        return await _assigned_job_by_code(uow, fieldworker_id, reply_code)
    jobs = await uow.upcoming_assigned_job_ids(fieldworker_id)
    if len(jobs) == 1:
        return jobs[0]
    if not jobs:
        raise NotFound("no_assigned_jobs", "You have no upcoming assigned jobs.")
    raise Conflict("several_assigned_jobs", "You have several assigned jobs.")


async def _assigned_job_by_code(uow: UnitOfWork, fieldworker_id: int, reply_code: int) -> int:
    """Their assigned job whose (accepted) request has this reply code; else `no_such_code`."""
    accepted = await uow.requests_of_fieldworker(fieldworker_id, [RequestStatus.ACCEPTED])
    for request in accepted:
        job = await uow.get_job(request.job_id)
        if request.reply_code == reply_code and job and job.fieldworker_id == fieldworker_id:
            return job.id
    raise NotFound("no_such_code", f"None of your assigned jobs has the code {reply_code}.")


async def job_meant_by_confirm(uow: UnitOfWork, fieldworker_id: int, reply_code: int | None) -> int:
    """The assigned job a `CONFIRM` means: by its request's code, or their only upcoming assigned
    job not confirmed yet (a job given to them directly has no code). Refusals: `no_such_code`,
    `no_assigned_jobs`, `several_assigned_jobs`."""
    if reply_code is not None:
        return await _assigned_job_by_code(uow, fieldworker_id, reply_code)
    jobs = [await uow.get_job(j) for j in await uow.upcoming_assigned_job_ids(fieldworker_id)]
    open_ = [j.id for j in jobs if j is not None and j.confirmed_at is None]
    if len(open_) == 1:
        return open_[0]
    if not jobs:
        raise NotFound("no_assigned_jobs", "You have no upcoming assigned jobs.")
    if not open_:
        raise Conflict("all_confirmed", "Your upcoming jobs are all confirmed already.")
    raise Conflict("several_assigned_jobs", "You have several assigned jobs.")


async def set_sms_opt_out(uow: UnitOfWork, phone: str, opted_out: bool) -> None:
    """STOP / START: every fieldworker and customer with this number stops (or resumes) SMS."""
    await uow.set_sms_opt_out(phone, opted_out)
