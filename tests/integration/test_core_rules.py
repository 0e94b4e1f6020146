"""Dispatch rules on the real database with the real outbox renderer (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatch import assignment, bookings, offering, responding
from dispatch.commands import Action
from dispatch.errors import DispatchError
from dispatch.model import Actor, ActorKind, Channel, DispatchMode, Interval, Point
from dispatch.ports import NewBooking
from models import tables as t
from models.transactions import Transactions
from notifications.render import OutboxRenderer

START = datetime(2026, 12, 1, 9, tzinfo=UTC)
STAFF = Actor(ActorKind.STAFF, 1, "Dora")


def tx() -> Transactions:
    renderer = OutboxRenderer(telegram_enabled=True, sms_enabled=True, company_timezone="UTC")
    return Transactions(renderer, sms_enabled=True)


async def seed(mode: DispatchMode = DispatchMode.AUTO, **options: object) -> int:
    await t.Service.create(code="plumb", name="Plumbing")
    for i in range(3):
        await t.Fieldworker.create(
            name=f"Worker {i}",
            channels=["telegram"],
            telegram_chat_id=100 + i,
            services=["plumb"],
            base_lat=52.5,
            base_lon=13.4,
            invite_code=f"c{i}",
        )
    new = NewBooking(
        "Cleo Customer",
        "+4915100000000",
        None,
        "Street 1",
        Point(52.5, 13.4),
        ("plumb",),
        (Interval(START, START + timedelta(hours=2)),),
        mode,
    )
    return await tx().run(
        lambda uow: bookings.create_booking(uow, new, STAFF, Channel.API, **options)  # type: ignore[arg-type]
    )


async def test_cancelling_a_directly_assigned_job_tells_the_fieldworker(db: str) -> None:
    booking_id = await seed(fieldworker_id=1)
    assert (await t.Job.get()).fieldworker_id == 1
    assert await t.JobRequest.all().count() == 0, "assigned at creation: nobody else asked"
    await tx().run(lambda uow: bookings.cancel_booking(uow, booking_id, STAFF, Channel.API))
    job = await t.Job.get()
    assert job.status == "cancelled"
    told = await t.Notification.filter(recipient="100", template="request_cancelled")
    assert len(told) == 1 and "cancelled" in told[0].body


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
    assert actions[-4:] == ["request_declined", "job_unassigned", "request_sent", "request_sent"]
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
