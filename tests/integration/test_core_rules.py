"""Dispatch rules on the real database with the real outbox renderer (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from dispatch import assignment, offering, responding
from dispatch.commands import Action
from dispatch.errors import DispatchError
from dispatch.model import Actor, ActorKind, Channel, DispatchMode
from models import tables as t
from models.transactions import Transactions
from tests.factories import add_fieldworkers, add_service, create_booking, transactions

STAFF = Actor(ActorKind.STAFF, 1, "Dora")


def tx() -> Transactions:
    return transactions(outbox=True)


async def seed(mode: DispatchMode = DispatchMode.AUTO) -> int:
    """Plumbing, three plumbers on Telegram chats 100-102, and one booking made by staff."""
    await add_service()
    await add_fieldworkers(3, telegram=100)
    return await create_booking(tx(), mode, actor=STAFF)


async def test_send_requests_refuses_an_unknown_fieldworker_before_writing(db: str) -> None:
    booking_id = await seed(DispatchMode.MANUAL)
    job = await t.Job.get(booking_id=booking_id)
    uow_runs = tx()

    async def ask(uow):  # type: ignore[no-untyped-def]
        return await offering.send_requests(uow, [job.id], [1, 999], STAFF, Channel.API)

    with pytest.raises(DispatchError) as refused:
        await uow_runs.run(ask)
    assert refused.value.code == "fieldworker_not_found"
    assert await t.JobRequest.all().count() == 0
    assert await t.Notification.all().count() == 0
    assert (await t.Job.get(id=job.id)).status == "unassigned"


async def test_unassign_reoffers_to_the_others_but_never_back_to_the_previous_one(db: str) -> None:
    booking_id = await seed()
    first = await t.JobRequest.get(fieldworker_id=1)
    await tx().run(
        lambda uow: responding.respond(
            uow, first.id, Action.ACCEPT, Actor(ActorKind.FIELDWORKER, 1), Channel.TELEGRAM
        )
    )
    job = await t.Job.get(booking_id=booking_id)
    assert job.fieldworker_id == 1
    sent = await tx().run(
        lambda uow: assignment.unassign(uow, job.id, STAFF, Channel.API, reason="Off sick")
    )
    # The others lost the job to worker 1 but never said no: their requests reopen.
    others = await t.JobRequest.filter(fieldworker_id__in=[2, 3]).order_by("id")
    assert sent == [r.id for r in others]
    assert {r.status for r in others} == {"pending"}
    job = await t.Job.get(id=job.id)
    assert job.status == "offered" and job.fieldworker_id is None
    mine = await t.JobRequest.get(id=first.id)
    assert mine.status == "declined" and mine.reason == "Off sick"
    assert mine.responded_by_kind == "staff"
    actions = (
        await t.History.filter(booking_id=booking_id)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[-5:] == [
        "request_declined",
        "job_unassigned",
        "request_sent",
        "request_sent",
        "customer_notified",  # the customer hears their fieldworker is no longer coming
    ]
    # Unassigning again changes nothing.
    assert (
        await tx().run(
            lambda uow: assignment.unassign(uow, job.id, STAFF, Channel.API, reason="again")
        )
        is None
    )


async def test_the_database_refuses_to_change_or_delete_history(db: str) -> None:
    from asyncpg.exceptions import RaiseError
    from tortoise.exceptions import OperationalError, TransactionManagementError

    await seed()
    rows = await t.History.all().count()
    assert rows > 0
    for attempt in (
        lambda: t.History.all().update(action="tampered"),
        lambda: t.History.all().delete(),
    ):
        with pytest.raises((OperationalError, TransactionManagementError, RaiseError)) as refused:
            await attempt()
        assert "append-only" in str(refused.value)
    assert await t.History.all().count() == rows
    assert await t.History.filter(action="tampered").count() == 0
