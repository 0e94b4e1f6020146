"""`dispatch.linking` over the real unit of work (SQLite and PostgreSQL): what needs a database.

The rules themselves are unit-tested on the fake (tests/unit/test_linking.py). Here: that the
tortoise adapter finds a fieldworker by each identifier and stores what linking writes, that an
account moves between fieldworkers without tripping the unique Telegram user id column, and that a
NUL in a code never reaches PostgreSQL (which refuses it in text).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from dispatch import linking
from dispatch.errors import Conflict, NotFound
from dispatch.linking import TelegramAccount
from models import tables as t
from models.transactions import Transactions
from models.uow import TortoiseUnitOfWork

T = TypeVar("T")
ANA_PHONE = "+14155552671"
BO_PHONE = "+14155552672"


async def run(fn: Callable[[TortoiseUnitOfWork], Awaitable[T]]) -> T:
    return await Transactions().run(fn)


async def add(name: str, **columns: Any) -> t.Fieldworker:
    columns.setdefault("invite_code", f"code-{name.lower()}")
    return await t.Fieldworker.create(name=name, **columns)


async def test_the_adapter_finds_and_stores_what_linking_reads_and_writes(db: str) -> None:
    ana = await add("Ana", phone=ANA_PHONE, channels=["sms"])
    bo = await add("Bo", phone=BO_PHONE)

    # By phone: the shared contact stores the account and adds the channel (a JSON list).
    linked = await run(
        lambda uow: linking.link_by_phone(uow, TelegramAccount(7, 70, "ana"), ANA_PHONE, own=True)
    )
    assert (linked.id, linked.name, linked.phone, linked.invite_code) == (
        ana.id,
        "Ana",
        ANA_PHONE,
        "code-ana",
    )
    row = await t.Fieldworker.get(id=ana.id)
    assert (row.telegram_user_id, row.telegram_chat_id, row.telegram_username) == (7, 70, "ana")
    assert row.channels == ["sms", "telegram"]

    # By Telegram user id and by phone: staff cannot give Bo what Ana holds.
    with pytest.raises(Conflict) as refused:
        await run(lambda uow: linking.check_identifiers_free(uow, bo.id, telegram_user_id=7))
    assert refused.value.field == "telegram_user_id"
    with pytest.raises(Conflict) as refused:
        await run(lambda uow: linking.check_identifiers_free(uow, bo.id, phone=ANA_PHONE))
    assert refused.value.field == "phone"

    # By invite code.
    linked = await run(
        lambda uow: linking.link_by_invite_code(uow, "code-bo", TelegramAccount(8, 80))
    )
    assert linked.id == bo.id
    row = await t.Fieldworker.get(id=bo.id)
    assert (row.telegram_user_id, row.telegram_chat_id, row.channels) == (8, 80, ["telegram"])


# The user id column is unique: the one who held the account must lose it first.
async def test_the_chat_takes_an_account_over_from_another_fieldworker(db: str) -> None:
    ana = await add("Ana", telegram_user_id=7, telegram_chat_id=70, telegram_username="old")
    bo = await add("Bo", telegram_user_id=8, telegram_chat_id=80, channels=["telegram"])
    await run(
        lambda uow: linking.link_by_invite_code(uow, "code-bo", TelegramAccount(7, 71, "new"))
    )
    ana_row, bo_row = await t.Fieldworker.get(id=ana.id), await t.Fieldworker.get(id=bo.id)
    # Ana loses the account (her username stays, as it always has); Bo's account 8 is replaced.
    assert (ana_row.telegram_user_id, ana_row.telegram_chat_id) == (None, None)
    assert ana_row.telegram_username == "old"
    assert (bo_row.telegram_user_id, bo_row.telegram_chat_id, bo_row.telegram_username) == (
        7,
        71,
        "new",
    )
    assert bo_row.channels == ["telegram"]


async def test_a_nul_in_an_invite_code_is_refused_before_the_database_sees_it(db: str) -> None:
    await add("Ana")
    with pytest.raises(NotFound) as refused:
        await run(
            lambda uow: linking.link_by_invite_code(uow, "code-ana\x00", TelegramAccount(7, 70))
        )
    assert refused.value.code == "unknown_invite_code"
    assert await t.Fieldworker.filter(telegram_user_id__isnull=False).count() == 0


async def test_of_two_links_racing_with_one_code_exactly_one_wins(db: str) -> None:
    ana = await add("Ana")
    results = await asyncio.gather(
        *(
            run(
                lambda uow, user=user: linking.link_by_invite_code(
                    uow, "code-ana", TelegramAccount(user, user)
                )
            )
            for user in (7, 8)
        ),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Conflict)]
    linked = [r for r in results if not isinstance(r, BaseException)]
    assert len(linked) == 1 and len(refused) == 1, results
    assert refused[0].code == "invite_code_used"
    row = await t.Fieldworker.get(id=ana.id)
    assert row.telegram_user_id == linked[0].telegram_user_id
    assert row.invite_code_used_at is not None

    # A fresh code is unused, and the old one is unknown.
    fresh = await run(lambda uow: linking.regenerate_invite_code(uow, ana.id))
    row = await t.Fieldworker.get(id=ana.id)
    assert (row.invite_code, row.invite_code_used_at) == (fresh, None)
    with pytest.raises(NotFound):
        await run(lambda uow: linking.link_by_invite_code(uow, "code-ana", TelegramAccount(9, 9)))
