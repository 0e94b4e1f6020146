"""Bug (fixed in a0bbc54): a request's deadline was computed twice in the core.

Sending a request and putting one back to pending each derived `expires_at` from
`assignment_timeout_s` with their own copy of the rule, free to drift apart (a request asked again
expiring sooner or later than a new one, or despite "0: never"); the copies still agreed, so no
wrong deadline had been seen yet. Now one function derives it. What a fieldworker notices: every
request they are asked - new, put back to pending by staff, reopened after the winner dropped out,
or asked again by staff - gives them the full answer time from the moment it was sent, and none
expires when the timeout is 0.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatch import offering, responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from models import tables as t
from tests.factories import (
    add_fieldworkers,
    add_service,
    create_booking,
    save_settings,
    transactions,
)

STAFF = Actor(ActorKind.STAFF, 1, "Dora")
SENT = datetime(2026, 11, 30, 8, tzinfo=UTC)
ASKED_AGAIN = SENT + timedelta(minutes=7)


def as_fieldworker(request: t.JobRequest) -> Actor:
    return Actor(ActorKind.FIELDWORKER, request.fieldworker_id)


async def expiry(request: t.JobRequest) -> datetime | None:
    """A request's deadline as stored now, while it is pending."""
    row = await t.JobRequest.get(id=request.id)
    assert row.status == "pending"
    return row.expires_at


@pytest.mark.parametrize("timeout_s", [600, 0])
async def test_every_way_of_asking_gives_the_same_answer_time(db: str, timeout_s: int) -> None:
    def deadline(sent: datetime) -> datetime | None:
        return sent + timedelta(seconds=timeout_s) if timeout_s else None

    await save_settings(assignment_timeout_s=timeout_s)
    await add_service()
    await add_fieldworkers(4, telegram=100)
    clock = [SENT]
    tx = transactions(clock=lambda: clock[0])
    booking_id = await create_booking(tx)
    job = await t.Job.get(booking_id=booking_id)
    first, second, third, fourth = await t.JobRequest.filter(job_id=job.id).order_by("id")
    assert {await expiry(r) for r in (first, second, third, fourth)} == {deadline(SENT)}

    clock[0] = ASKED_AGAIN
    # Staff put a declined request back to pending.
    await tx.run(
        lambda uow: responding.respond(
            uow, first.id, Action.DECLINE, as_fieldworker(first), Channel.TELEGRAM, reason="Busy"
        )
    )
    await tx.run(lambda uow: responding.respond(uow, first.id, Action.PEND, STAFF, Channel.API))
    assert await expiry(first) == deadline(ASKED_AGAIN)
    # The winner drops out: the request withdrawn when they won reopens.
    await tx.run(
        lambda uow: responding.respond(
            uow, second.id, Action.ACCEPT, as_fieldworker(second), Channel.TELEGRAM
        )
    )
    assert (await t.JobRequest.get(id=third.id)).status == "withdrawn"
    await tx.run(
        lambda uow: responding.no_longer_attending(
            uow,
            job.id,
            second.fieldworker_id,
            as_fieldworker(second),
            Channel.TELEGRAM,
            reason="Ill",
        )
    )
    assert await expiry(third) == deadline(ASKED_AGAIN)
    # Staff ask a fieldworker again whose request was declined.
    await tx.run(
        lambda uow: offering.send_requests(
            uow, [job.id], [second.fieldworker_id], STAFF, Channel.API
        )
    )
    assert await expiry(second) == deadline(ASKED_AGAIN)
