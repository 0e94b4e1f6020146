"""Who a Telegram account, a phone and an invite code belong to: the rules of linking, in one place.

A fieldworker is named from outside by three unique identifiers: a phone, a Telegram user id and
an invite code. At most one fieldworker holds each. They meet in three paths, and what happens
when a Telegram user id is already held by another fieldworker differs by path, on purpose:

- Chat (`/start CODE`, or sharing one's own contact): the Telegram account moves. The fieldworker
  who held it loses its user id and chat id; the account's user id, chat id and username go to
  the fieldworker named by the code or phone, whose previous Telegram account (if any) is replaced,
  and `telegram` joins their channels. The person at the keyboard proved who they are.
  An invite code proves it once: the link spends it, and a spent code links nobody (CONTRACT §5),
  so a code seen later by someone else cannot take the fieldworker's Telegram link. Staff issue a
  fresh one (`regenerate_invite_code`); sharing one's own phone number relinks at any time.
- Staff (`POST`/`PATCH /fieldworkers`, `dispatchbot import fieldworkers`): refused with
  `Conflict("duplicate")`; nothing moves. Staff typing an id cannot take it from someone else.
  Changing a fieldworker's user id drops their linked chat and username (`edit_keeps_chat`).

Linking is not needed to be reached: a Telegram user id alone reaches a fieldworker, as a private
chat's id is the user's id (`dispatch.reachability`), so one created by staff with their id gets
requests at once. Linking stores the chat they wrote from and their username.

Every refusal is a `dispatch.errors.DispatchError` whose `code` adapters translate.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from dispatch.errors import Conflict, Forbidden, Invalid, NotFound
from dispatch.model import Channel
from dispatch.ports import FieldworkerIdentity, Identifier, UnitOfWork

#: The invite code column's width: a longer code cannot exist, so it is not looked up.
INVITE_CODE_MAX = 32


@dataclass(frozen=True)
class TelegramAccount:
    """The Telegram user asking to be linked, and the private chat they asked from."""

    user_id: int
    chat_id: int
    username: str | None = None


async def check_identifiers_free(
    uow: UnitOfWork,
    fieldworker_id: int | None,
    *,
    phone: str | None = None,
    telegram_user_id: int | None = None,
) -> None:
    """Refuse a staff edit giving a fieldworker a phone or Telegram user id another one holds.

    `fieldworker_id` is the fieldworker being edited (None for a new one); None values are not
    checked. The phone is checked first. Refusal: `Conflict("duplicate")` naming the field.
    """
    wanted: tuple[tuple[Identifier, str | int | None], ...] = (
        (Identifier.PHONE, phone),
        (Identifier.TELEGRAM_USER_ID, telegram_user_id),
    )
    for identifier, value in wanted:
        if value is None:
            continue
        holder = await uow.holder_of(identifier, value)
        if holder is not None and holder.id != fieldworker_id:
            raise Conflict(
                "duplicate",
                f"another fieldworker already has {identifier.value} {value}",
                identifier.value,
            )


def edit_keeps_chat(current_user_id: int | None, new_user_id: int | None) -> bool:
    """Whether a staff edit of the Telegram user id keeps the linked chat and username.

    Only an unchanged id does: the chat and username were the previous account's, so a new id (or
    none) starts unlinked (a new id is still written to, in its private chat).
    """
    return new_user_id == current_user_id


async def new_invite_code(uow: UnitOfWork) -> str:
    """A fresh invite code no fieldworker holds, for `/start CODE`."""
    while True:
        code = secrets.token_urlsafe(6)
        if await uow.holder_of(Identifier.INVITE_CODE, code) is None:
            return code


async def regenerate_invite_code(uow: UnitOfWork, fieldworker_id: int) -> str:
    """Give the fieldworker a fresh, unused invite code (the old one links nobody any more).

    Their current Telegram link, if any, stays. Refusal: `NotFound("fieldworker_not_found")`.
    """
    code = await new_invite_code(uow)
    if not await uow.set_invite_code(fieldworker_id, code):
        raise NotFound("fieldworker_not_found", f"fieldworker {fieldworker_id} does not exist")
    return code


async def link_by_invite_code(
    uow: UnitOfWork, code: str, account: TelegramAccount
) -> FieldworkerIdentity:
    """Link the Telegram account to the fieldworker whose invite code this is (`/start CODE`).

    The code is stripped and cut to the column's width. The link spends the code. A spent code is
    refused, except from the account it linked (sending `/start CODE` again changes nothing).
    Refusals: `NotFound("unknown_invite_code")`, `Conflict("invite_code_used")`.
    """
    code = code.strip()[:INVITE_CODE_MAX]
    # PostgreSQL refuses NUL in text, and no code holds one.
    holder = await uow.holder_of(Identifier.INVITE_CODE, code) if "\x00" not in code else None
    if holder is None:
        raise NotFound("unknown_invite_code", "no fieldworker has this invite code")
    already_theirs = holder.invite_code_used and holder.telegram_user_id == account.user_id
    # The conditional spend, not the read above, decides: two links racing with one code.
    if not already_theirs and not await uow.spend_invite_code(holder.id, code):
        raise Conflict("invite_code_used", "this invite code already linked a Telegram account")
    return replace(await _link(uow, holder, account), invite_code_used=True)


async def link_by_phone(
    uow: UnitOfWork, account: TelegramAccount, phone: str | None, *, own: bool
) -> FieldworkerIdentity:
    """Link the Telegram account to the fieldworker with this phone (a shared contact).

    `own` says the transport vouches the number is the sender's own (Telegram: the contact's
    user id is the sender's); `phone` is E.164, or None when the number could not be read.
    Refusals, in this order: `Forbidden("not_own_phone")`, `Invalid("invalid_phone")`,
    `NotFound("unknown_phone")`.
    """
    if not own:
        raise Forbidden("not_own_phone", "only the sender's own phone number links an account")
    if phone is None:
        raise Invalid("invalid_phone", "the phone number could not be read", "phone")
    holder = await uow.holder_of(Identifier.PHONE, phone)
    if holder is None:
        raise NotFound("unknown_phone", f"no fieldworker has phone {phone}")
    return await _link(uow, holder, account)


async def _link(
    uow: UnitOfWork, fieldworker: FieldworkerIdentity, account: TelegramAccount
) -> FieldworkerIdentity:
    """Give the account to the fieldworker; whoever held it loses it (see the module docstring)."""
    previous = await uow.holder_of(Identifier.TELEGRAM_USER_ID, account.user_id)
    if previous is not None and previous.id != fieldworker.id:
        # First, as the user id is unique. Their username stays, as it always has.
        await uow.set_telegram(previous.id, None, None, previous.telegram_username)
    username = account.username or None
    await uow.set_telegram(fieldworker.id, account.user_id, account.chat_id, username)
    channels = fieldworker.channels
    if Channel.TELEGRAM.value not in channels:
        channels = (*channels, Channel.TELEGRAM.value)
        await uow.set_channels(fieldworker.id, channels)
    return replace(
        fieldworker,
        telegram_user_id=account.user_id,
        telegram_chat_id=account.chat_id,
        telegram_username=username,
        channels=channels,
    )
