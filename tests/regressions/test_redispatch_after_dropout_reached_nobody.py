"""Bug (fixed in 40936e8, CHANGELOG "Fixed"): the automatic re-broadcast after a fieldworker
dropped out of a job reached nobody in the usual case.

Everyone eligible is asked at once; one accepts and the others' requests are withdrawn ("taken by
another fieldworker"). When the winner then said "No longer attending" (or staff declined for them),
the re-broadcast skipped everyone already asked - that is, everyone - so no new request went out
and the job sat unassigned. Now the withdrawn requests of those still eligible reopen and they get a
new job request; whoever declined stays closed, and the one who dropped out is never asked again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from dispatch import responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from models import tables as t
from models.uow import TortoiseUnitOfWork
from tests.factories import add_fieldworkers, add_service, create_booking, transactions

STAFF = Actor(ActorKind.STAFF, 1, "Dora")
DropOut = Callable[[TortoiseUnitOfWork, int, int, int], Awaitable[object]]


async def fieldworker_cancels(uow: TortoiseUnitOfWork, booking: int, job: int, fw: int) -> object:
    """The winner presses "No longer attending" and gives a reason."""
    actor = Actor(ActorKind.FIELDWORKER, fw)
    return await responding.no_longer_attending(
        uow, job, fw, actor, Channel.TELEGRAM, reason="Van broke down"
    )


async def staff_decline_for_them(
    uow: TortoiseUnitOfWork, booking: int, job: int, fw: int
) -> object:
    """Staff decline the winner's accepted request on their behalf."""
    return await responding.respond_for_fieldworker(
        uow, booking, fw, Action.DECLINE, STAFF, Channel.API, reason="Van broke down"
    )


def job_requests_to(chat: int) -> Awaitable[int]:
    """How many job request messages were queued for a Telegram chat."""
    return t.Notification.filter(recipient=str(chat), template="job_request").count()


@pytest.mark.parametrize("drop_out", [fieldworker_cancels, staff_decline_for_them])
async def test_the_others_are_asked_again_after_the_winner_drops_out(
    db: str, drop_out: DropOut
) -> None:
    tx = transactions(outbox=True)
    await add_service()
    winner, decliner, *losers = await add_fieldworkers(4, telegram=100)
    booking_id = await create_booking(tx)
    job = await t.Job.get(booking_id=booking_id)
    requests = {r.fieldworker_id: r.id for r in await t.JobRequest.filter(job_id=job.id)}
    assert len(requests) == 4, "everyone eligible was asked at once"

    await tx.run(
        lambda uow: responding.respond(
            uow,
            requests[decliner.id],
            Action.DECLINE,
            Actor(ActorKind.FIELDWORKER, decliner.id),
            Channel.TELEGRAM,
            reason="Too far",
        )
    )
    await tx.run(
        lambda uow: responding.respond(
            uow,
            requests[winner.id],
            Action.ACCEPT,
            Actor(ActorKind.FIELDWORKER, winner.id),
            Channel.TELEGRAM,
        )
    )
    for fw in losers:
        assert (await t.JobRequest.get(id=requests[fw.id])).status == "withdrawn"

    await tx.run(lambda uow: drop_out(uow, booking_id, job.id, winner.id))

    job = await t.Job.get(id=job.id)
    assert (job.status, job.fieldworker_id) == ("offered", None), "the job went back out"
    for fw in losers:
        assert (await t.JobRequest.get(id=requests[fw.id])).status == "pending"
        assert await job_requests_to(fw.telegram_chat_id) == 2, "a new request message"
    mine = await t.JobRequest.get(id=requests[winner.id])
    assert (mine.status, mine.reason) == ("declined", "Van broke down")
    assert await job_requests_to(winner.telegram_chat_id) == 1, "never asked again"
    assert (await t.JobRequest.get(id=requests[decliner.id])).status == "declined"
    assert await job_requests_to(decliner.telegram_chat_id) == 1, "a no stays a no"
