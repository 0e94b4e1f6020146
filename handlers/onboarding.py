"""Linking a Telegram account to a fieldworker: `/start CODE`, or sharing their phone number.

The rules (who may hold an account, invite codes, matching a shared phone) are
`dispatch.linking`'s; this module parses the update and words the answer.
"""

from __future__ import annotations

import phonenumbers
from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import ContextTypes

from dispatch import linking
from dispatch.errors import DispatchError
from handlers.context import chat_context as _ctx
from models import tables as t
from notifications.catalogue import TELEGRAM
from notifications.templates import help_text


async def _fieldworker_for(user_id: int) -> t.Fieldworker | None:
    return await t.Fieldworker.get_or_none(telegram_user_id=user_id)


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/start CODE` links by invite code; `/start` asks for the phone number."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    fw = await _fieldworker_for(user.id)
    if context.args:
        code = context.args[0]
        account = linking.TelegramAccount(user.id, message.chat.id, user.username)
        try:
            target = await _ctx(context).tx.run(
                lambda uow: linking.link_by_invite_code(uow, code, account)
            )
        except DispatchError as exc:
            await message.reply_text(CODE_REFUSALS.get(exc.code, CODE_REFUSALS[""]))
            return
        await message.reply_text(
            f"Welcome, {target.name}! You will get job requests here.",
            reply_markup=ReplyKeyboardRemove(),
        )
        return
    if fw is not None:
        await message.reply_text(f"You are linked as {fw.name}. " + help_text(TELEGRAM))
        return
    if await t.Staff.filter(telegram_user_id=user.id).exists():
        await message.reply_text("You are registered as staff. Send /help for commands.")
        return
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton("📱 Share my phone number", request_contact=True)]],
        one_time_keyboard=True,
        resize_keyboard=True,
    )
    await message.reply_text(
        "Hi! To receive job requests, share your phone number (the one staff have on file), "
        "or send /start with your invite code.",
        reply_markup=keyboard,
    )


async def on_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A shared contact links the account when it is the sender's own number of a fieldworker."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.contact is None:
        return
    contact = message.contact
    try:
        number = phonenumbers.parse("+" + contact.phone_number.lstrip("+"), None)
        phone: str | None = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        phone = None
    own = contact.user_id == user.id
    account = linking.TelegramAccount(user.id, message.chat.id, user.username)
    try:
        target = await _ctx(context).tx.run(
            lambda uow: linking.link_by_phone(uow, account, phone, own=own)
        )
    except DispatchError as exc:
        text, remove_keyboard = CONTACT_REFUSALS[exc.code]
        await message.reply_text(
            text, reply_markup=ReplyKeyboardRemove() if remove_keyboard else None
        )
        return
    await message.reply_text(
        f"Welcome, {target.name}! You will get job requests here.",
        reply_markup=ReplyKeyboardRemove(),
    )


#: How a refused invite code is answered: error code -> text ("" for any other refusal).
CODE_REFUSALS = {
    "invite_code_used": (
        "This invite code was already used. Ask staff for a new one, or send /start and share "
        "your phone number."
    ),
    "": "That invite code is not valid. Ask staff for yours.",
}


#: How a refused shared contact is answered: error code -> (text, remove the phone button).
CONTACT_REFUSALS = {
    "not_own_phone": ("Please share your own phone number with the button.", False),
    "invalid_phone": ("I could not read that phone number.", False),
    "unknown_phone": (
        "No fieldworker has this phone number. Ask staff to add you, or use your "
        "invite code with /start CODE.",
        True,
    ),
}
