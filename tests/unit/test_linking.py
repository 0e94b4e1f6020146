"""The rules of `dispatch.linking`, run on the in-memory fake.

What only a database can show (the unique Telegram user id column while an account moves, a NUL
in a code on PostgreSQL, the adapter's columns) is in tests/integration/test_linking.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from dispatch import linking
from dispatch.errors import Conflict, Forbidden, Invalid, NotFound
from dispatch.linking import TelegramAccount
from tests.unit.fakes import FakeUnitOfWork, company

ANA_PHONE = "+14155552671"
BO_PHONE = "+14155552672"


def add(uow: FakeUnitOfWork, name: str, **contact: Any) -> int:
    """A fieldworker with exactly these contact fields (like a new row: no channels, no chat)."""
    contact.setdefault("invite_code", f"code-{name.lower()}")
    return uow.add_fieldworker(name=name, reachable=False, **contact)


def telegram_of(uow: FakeUnitOfWork, fw_id: int) -> tuple[int | None, int | None, str | None]:
    """The stored Telegram user id, chat id and username."""
    c = uow.contacts[fw_id]
    return c.telegram_user_id, c.telegram_chat_id, c.telegram_username


@pytest.mark.parametrize(
    ("current", "new", "keeps"),
    [
        (101, 101, True),  # the same account: its chat still answers
        (None, None, True),
        (101, 202, False),  # the chat was the old account's
        (101, None, False),  # cleared: nothing left to reach
        (None, 202, False),  # a new account starts unlinked
    ],
)
def test_a_staff_edit_keeps_the_chat_only_for_the_same_telegram_user(
    current: int | None, new: int | None, keeps: bool
) -> None:
    assert linking.edit_keeps_chat(current, new) is keeps


# Staff: an identifier another fieldworker holds is refused.


async def test_staff_may_not_give_an_identifier_another_fieldworker_holds() -> None:
    uow = company(0)
    ana = add(uow, "Ana", phone=ANA_PHONE, telegram_user_id=101)
    bo = add(uow, "Bo", phone=BO_PHONE)
    # Free values, one's own values, and values not given all pass.
    await linking.check_identifiers_free(uow, None, phone="+14155552673")
    await linking.check_identifiers_free(uow, ana, phone=ANA_PHONE, telegram_user_id=101)
    await linking.check_identifiers_free(uow, bo)

    with pytest.raises(Conflict) as refused:
        await linking.check_identifiers_free(uow, bo, telegram_user_id=101)
    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "duplicate",
        "telegram_user_id",
        "another fieldworker already has telegram_user_id 101",
    )
    with pytest.raises(Conflict) as refused:
        await linking.check_identifiers_free(uow, None, telegram_user_id=101)
    assert refused.value.field == "telegram_user_id"
    # Both taken: the phone is named, as the API always has.
    with pytest.raises(Conflict) as refused:
        await linking.check_identifiers_free(uow, bo, phone=ANA_PHONE, telegram_user_id=101)
    assert (refused.value.field, refused.value.message) == (
        "phone",
        f"another fieldworker already has phone {ANA_PHONE}",
    )


async def test_a_new_invite_code_is_one_nobody_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    uow = company(0)
    add(uow, "Ana")
    drawn = iter(["code-ana", "fresh-1"])
    monkeypatch.setattr(linking.secrets, "token_urlsafe", lambda n: next(drawn))
    assert await linking.new_invite_code(uow) == "fresh-1", "a code already held is drawn again"

    monkeypatch.undo()
    codes = {await linking.new_invite_code(uow) for _ in range(5)}
    assert len(codes) == 5
    assert all(6 <= len(code) <= linking.INVITE_CODE_MAX for code in codes)


# Chat: `/start CODE`.


async def test_an_invite_code_links_the_account_and_adds_the_telegram_channel() -> None:
    uow = company(0)
    ana = add(uow, "Ana", channels=["sms"])

    linked = await linking.link_by_invite_code(uow, "  code-ana ", TelegramAccount(7, 70, "ana"))

    assert (linked.id, linked.name, linked.channels) == (ana, "Ana", ("sms", "telegram"))
    assert (linked.telegram_user_id, linked.telegram_chat_id, linked.telegram_username) == (
        7,
        70,
        "ana",
    )
    assert telegram_of(uow, ana) == (7, 70, "ana")
    assert uow.contacts[ana].channels == ["sms", "telegram"]

    # Linking again (the same account, no username now) keeps one `telegram` channel.
    again = await linking.link_by_invite_code(uow, "code-ana", TelegramAccount(7, 70, ""))
    assert (again.telegram_username, again.channels) == (None, ("sms", "telegram"))
    assert telegram_of(uow, ana) == (7, 70, None)
    assert uow.contacts[ana].channels == ["sms", "telegram"]


@pytest.mark.parametrize("code", ["nope", "code-ana\x00", "", "   "])
async def test_an_unknown_invite_code_is_refused_and_changes_nothing(code: str) -> None:
    uow = company(0)
    ana = add(uow, "Ana")
    with pytest.raises(NotFound) as refused:
        await linking.link_by_invite_code(uow, code, TelegramAccount(7, 70))
    assert refused.value.code == "unknown_invite_code"
    assert telegram_of(uow, ana) == (None, None, None) and uow.contacts[ana].channels == []


async def test_an_overlong_invite_code_is_cut_to_the_column() -> None:
    uow = company(0)
    code = "x" * linking.INVITE_CODE_MAX
    ana = add(uow, "Ana", invite_code=code)
    linked = await linking.link_by_invite_code(uow, code + "yyy", TelegramAccount(7, 70))
    assert linked.id == ana


async def test_the_chat_takes_an_account_over_from_another_fieldworker() -> None:
    uow = company(0)
    ana = add(uow, "Ana", telegram_user_id=7, telegram_chat_id=70, telegram_username="old")
    bo = add(uow, "Bo", telegram_user_id=8, telegram_chat_id=80, channels=["telegram"])

    linked = await linking.link_by_invite_code(uow, "code-bo", TelegramAccount(7, 71, "new"))

    # Ana loses the account (her username stays, as it always has); Bo's account 8 is replaced.
    assert telegram_of(uow, ana) == (None, None, "old")
    assert telegram_of(uow, bo) == (7, 71, "new")
    assert uow.contacts[bo].channels == ["telegram"] and linked.channels == ("telegram",)
    assert await uow.reachable_fieldworkers([ana, bo]) == {bo}


async def test_an_invite_code_links_once() -> None:
    uow = company(0)
    ana = add(uow, "Ana")
    linked = await linking.link_by_invite_code(uow, "code-ana", TelegramAccount(7, 70))
    assert linked.invite_code_used and uow.contacts[ana].invite_code_used

    # The same account may send it again (a second tap on the link); another one is refused.
    await linking.link_by_invite_code(uow, "code-ana", TelegramAccount(7, 70))
    with pytest.raises(Conflict) as refused:
        await linking.link_by_invite_code(uow, "code-ana", TelegramAccount(8, 80))
    assert refused.value.code == "invite_code_used"
    assert telegram_of(uow, ana) == (7, 70, None)


async def test_a_spent_code_stays_spent_after_the_account_moves_on() -> None:
    uow = company(0)
    ana = add(uow, "Ana")
    add(uow, "Bo")
    await linking.link_by_invite_code(uow, "code-ana", TelegramAccount(7, 70))
    # Account 7 moves to Bo; Ana's code is still spent, so nobody can take Ana's link with it.
    await linking.link_by_invite_code(uow, "code-bo", TelegramAccount(7, 70))
    with pytest.raises(Conflict):
        await linking.link_by_invite_code(uow, "code-ana", TelegramAccount(7, 70))
    assert telegram_of(uow, ana) == (None, None, None)


async def test_a_regenerated_code_links_and_the_old_one_is_unknown() -> None:
    uow = company(0)
    ana = add(uow, "Ana")
    await linking.link_by_invite_code(uow, "code-ana", TelegramAccount(7, 70))

    fresh = await linking.regenerate_invite_code(uow, ana)

    assert fresh != "code-ana" and not uow.contacts[ana].invite_code_used
    assert telegram_of(uow, ana) == (7, 70, None), "the current link stays"
    with pytest.raises(NotFound):
        await linking.link_by_invite_code(uow, "code-ana", TelegramAccount(8, 80))
    linked = await linking.link_by_invite_code(uow, fresh, TelegramAccount(8, 80))
    assert linked.id == ana and telegram_of(uow, ana) == (8, 80, None)

    with pytest.raises(NotFound) as refused:
        await linking.regenerate_invite_code(uow, 999)
    assert refused.value.code == "fieldworker_not_found"


async def test_a_shared_phone_relinks_after_the_code_is_spent() -> None:
    uow = company(0)
    ana = add(uow, "Ana", phone=ANA_PHONE)
    await linking.link_by_invite_code(uow, "code-ana", TelegramAccount(7, 70))
    # A new phone, a new Telegram account: sharing the number staff have still links.
    linked = await linking.link_by_phone(uow, TelegramAccount(8, 80), ANA_PHONE, own=True)
    assert linked.id == ana and telegram_of(uow, ana) == (8, 80, None)


# Chat: sharing one's own contact.


async def test_a_shared_phone_links_only_the_senders_own_known_number() -> None:
    uow = company(0)
    ana = add(uow, "Ana", phone=ANA_PHONE, channels=["telegram", "sms"])
    account = TelegramAccount(7, 70, "ana")
    with pytest.raises(Forbidden) as refused:
        # Not their own: refused before the number is even looked at.
        await linking.link_by_phone(uow, account, None, own=False)
    assert refused.value.code == "not_own_phone"
    with pytest.raises(Invalid) as refused:
        await linking.link_by_phone(uow, account, None, own=True)
    assert (refused.value.code, refused.value.field) == ("invalid_phone", "phone")
    with pytest.raises(NotFound) as refused:
        await linking.link_by_phone(uow, account, BO_PHONE, own=True)
    assert refused.value.code == "unknown_phone"
    assert telegram_of(uow, ana) == (None, None, None)

    linked = await linking.link_by_phone(uow, account, ANA_PHONE, own=True)

    assert (linked.id, linked.telegram_user_id, linked.channels) == (ana, 7, ("telegram", "sms"))
    assert telegram_of(uow, ana) == (7, 70, "ana")
    assert uow.contacts[ana].channels == ["telegram", "sms"]
