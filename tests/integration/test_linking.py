"""`dispatch.linking` over the real unit of work (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from dispatch import linking
from dispatch.errors import Conflict, Forbidden, Invalid, NotFound
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


async def test_staff_may_not_give_an_identifier_another_fieldworker_holds(db: str) -> None:
    ana = await add("Ana", phone=ANA_PHONE, telegram_user_id=101)
    bo = await add("Bo", phone=BO_PHONE)
    # Free values, one's own values, and values not given all pass.
    await run(lambda uow: linking.check_identifiers_free(uow, None, phone="+14155552673"))
    await run(
        lambda uow: linking.check_identifiers_free(
            uow, ana.id, phone=ANA_PHONE, telegram_user_id=101
        )
    )
    await run(lambda uow: linking.check_identifiers_free(uow, bo.id))

    with pytest.raises(Conflict) as refused:
        await run(lambda uow: linking.check_identifiers_free(uow, bo.id, telegram_user_id=101))
    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "duplicate",
        "telegram_user_id",
        "another fieldworker already has telegram_user_id 101",
    )
    with pytest.raises(Conflict) as refused:
        await run(lambda uow: linking.check_identifiers_free(uow, None, telegram_user_id=101))
    assert refused.value.field == "telegram_user_id"
    # Both taken: the phone is named, as the API always has.
    with pytest.raises(Conflict) as refused:
        await run(
            lambda uow: linking.check_identifiers_free(
                uow, bo.id, phone=ANA_PHONE, telegram_user_id=101
            )
        )
    assert (refused.value.field, refused.value.message) == (
        "phone",
        f"another fieldworker already has phone {ANA_PHONE}",
    )


async def test_new_invite_codes_are_fresh(db: str) -> None:
    await add("Ana")
    codes = set()
    for _ in range(5):
        code = await run(linking.new_invite_code)
        assert 6 <= len(code) <= linking.INVITE_CODE_MAX
        await add(f"W{len(codes)}", invite_code=code)
        codes.add(code)
    assert len(codes) == 5 and "code-ana" not in codes


async def test_an_invite_code_links_the_account_and_adds_the_telegram_channel(db: str) -> None:
    ana = await add("Ana", channels=["sms"])
    linked = await run(
        lambda uow: linking.link_by_invite_code(uow, "  code-ana ", TelegramAccount(7, 70, "ana"))
    )
    assert (linked.id, linked.name, linked.channels) == (ana.id, "Ana", ("sms", "telegram"))
    row = await t.Fieldworker.get(id=ana.id)
    assert (row.telegram_user_id, row.telegram_chat_id, row.telegram_username) == (7, 70, "ana")
    assert row.channels == ["sms", "telegram"]

    # Linking again (the same account, no username now) keeps one `telegram` channel.
    await run(lambda uow: linking.link_by_invite_code(uow, "code-ana", TelegramAccount(7, 70, "")))
    row = await t.Fieldworker.get(id=ana.id)
    assert (row.telegram_username, row.channels) == (None, ["sms", "telegram"])


@pytest.mark.parametrize("code", ["nope", "code-ana\x00", "", "   "])
async def test_an_unknown_invite_code_is_refused_and_changes_nothing(db: str, code: str) -> None:
    await add("Ana")
    with pytest.raises(NotFound) as refused:
        await run(lambda uow: linking.link_by_invite_code(uow, code, TelegramAccount(7, 70)))
    assert refused.value.code == "unknown_invite_code"
    assert await t.Fieldworker.filter(telegram_user_id__isnull=False).count() == 0


async def test_an_overlong_invite_code_is_cut_to_the_column(db: str) -> None:
    code = "x" * linking.INVITE_CODE_MAX
    ana = await add("Ana", invite_code=code)
    linked = await run(
        lambda uow: linking.link_by_invite_code(uow, code + "yyy", TelegramAccount(7, 70))
    )
    assert linked.id == ana.id


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


async def test_invite_codes_can_be_used_again_today(db: str) -> None:
    ana = await add("Ana")
    await run(lambda uow: linking.link_by_invite_code(uow, "code-ana", TelegramAccount(7, 70)))
    await run(lambda uow: linking.link_by_invite_code(uow, "code-ana", TelegramAccount(8, 80)))
    row = await t.Fieldworker.get(id=ana.id)
    assert (row.telegram_user_id, row.telegram_chat_id) == (8, 80)


async def test_single_use_invite_codes_are_one_flag_away(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(linking, "INVITE_CODES_SINGLE_USE", True)
    ana = await add("Ana")
    await run(lambda uow: linking.link_by_invite_code(uow, "code-ana", TelegramAccount(7, 70)))
    # The same account may send it again; another one is refused.
    await run(lambda uow: linking.link_by_invite_code(uow, "code-ana", TelegramAccount(7, 70)))
    with pytest.raises(Conflict) as refused:
        await run(lambda uow: linking.link_by_invite_code(uow, "code-ana", TelegramAccount(8, 80)))
    assert refused.value.code == "invite_code_used"
    assert (await t.Fieldworker.get(id=ana.id)).telegram_user_id == 7


async def test_a_shared_phone_links_only_the_senders_own_known_number(db: str) -> None:
    ana = await add("Ana", phone=ANA_PHONE, channels=["telegram", "sms"])
    account = TelegramAccount(7, 70, "ana")
    with pytest.raises(Forbidden) as refused:
        # Not their own: refused before the number is even looked at.
        await run(lambda uow: linking.link_by_phone(uow, account, None, own=False))
    assert refused.value.code == "not_own_phone"
    with pytest.raises(Invalid) as refused:
        await run(lambda uow: linking.link_by_phone(uow, account, None, own=True))
    assert (refused.value.code, refused.value.field) == ("invalid_phone", "phone")
    with pytest.raises(NotFound) as refused:
        await run(lambda uow: linking.link_by_phone(uow, account, BO_PHONE, own=True))
    assert refused.value.code == "unknown_phone"
    assert (await t.Fieldworker.get(id=ana.id)).telegram_user_id is None

    linked = await run(lambda uow: linking.link_by_phone(uow, account, ANA_PHONE, own=True))
    assert (linked.id, linked.telegram_user_id, linked.channels) == (ana.id, 7, ("telegram", "sms"))
    row = await t.Fieldworker.get(id=ana.id)
    assert (row.telegram_user_id, row.telegram_chat_id, row.telegram_username) == (7, 70, "ana")
    assert row.channels == ["telegram", "sms"]
