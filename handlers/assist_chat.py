"""Reschedule Assist on Telegram: a fieldworker picks suggested times, sends them, or types times.

The buttons (`o:` pick, `m:` send, `w:` type, `notifications.callbacks`) sit under their decline
or "No longer attending" (`notifications.assist`). The times picked so far are kept in the
`conversation` table (one row per chat and job), never in memory, so any process continues the
conversation; "Type times" awaits the chat's next text like a typed reason does. Which job and times
are acceptable is decided by `dispatch.assist.propose`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import UTC, datetime
from typing import Any

from telegram import ForceReply, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from dispatch import assist
from dispatch.errors import DispatchError
from dispatch.model import Actor, ActorKind, Channel
from dispatch.offers import OfferView
from handlers.assist_texts import refusal, typing_prompt
from handlers.context import ChatContext, chat_context
from handlers.times import UnreadableTime, read_times
from models import tables as t
from models.inbound import done_with
from models.views import load_settings, utcnow
from notifications.callbacks import PROPOSE_OPS, Op, ProposePress, unpack
from notifications.keyboards import PICKED

log = logging.getLogger(__name__)

#: The conversation state of a chat whose next text is the times to propose.
STATE_TIMES = "assist_times"
#: Routing for PTB's `CallbackQueryHandler`: the Reschedule Assist buttons.
PRESS_DATA = re.compile(rf"^(?:{'|'.join(sorted(op.value for op in PROPOSE_OPS))}):")
NOT_ANY_MORE = "You can no longer propose times for this job."


def _picks(chat_id: int, job_id: int) -> str:
    """The `conversation` address under which the times picked for one job in one chat are kept
    (channel `telegram`; a chat's own address is its id alone)."""
    return f"{chat_id}:picks:{job_id}"


def _actor(fw: t.Fieldworker) -> Actor:
    return Actor(ActorKind.FIELDWORKER, fw.id, fw.name)


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A Reschedule Assist button: validate, check it is theirs, act, and always answer."""
    query = update.callback_query
    if query is None:
        return
    try:
        await _on_press(query, chat_context(context), context)
    except Exception:
        with contextlib.suppress(Exception):
            await query.answer("Something went wrong; please try again.")
        raise


async def _on_press(query: Any, app: ChatContext, context: ContextTypes.DEFAULT_TYPE) -> None:
    press = unpack(query.data or "")
    if not isinstance(press, ProposePress):
        await query.answer("This button is not valid any more.")
        return
    fw = await t.Fieldworker.get_or_none(telegram_user_id=query.from_user.id)
    if fw is None:
        await query.answer("Your Telegram account is not linked to a fieldworker. Send /start.")
        return
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    job_id = press.job_id
    if not await app.tx.run(lambda uow: assist.may_propose(uow, job_id, fw.id)):
        await query.answer(NOT_ANY_MORE)
        await _set_markup(query, None)
        return
    settings = await load_settings()
    max_slots = settings.reschedule_assist.max_slots
    if press.op is Op.PROPOSE_PICK:
        await _pick(query, app, chat_id, press, max_slots)
    elif press.op is Op.PROPOSE_SEND:
        await _send(query, app, fw, chat_id, job_id)
    else:
        await app.tx.run(done_with(lambda _uow: await_times(chat_id, job_id)))
        await query.answer()
        prompt = typing_prompt(max_slots, job_id, fw.timezone)
        placeholder = ForceReply(input_field_placeholder="Tue 10:00, 25/11 14:30")
        await context.bot.send_message(chat_id, prompt, reply_markup=placeholder)


async def _pick(
    query: Any, app: ChatContext, chat_id: int, press: ProposePress, max_slots: int
) -> None:
    """Tick or untick one suggested time (at most `max_slots` ticked)."""
    minute = press.minute
    assert minute is not None  # a pick always names its time

    async def toggle(_uow: Any) -> list[int] | None:
        where = _picks(chat_id, press.job_id)
        row = await t.Conversation.get_or_none(channel="telegram", address=where)
        picked = [int(m) for m in (row.data.get("picked", []) if row else [])]
        if minute in picked:
            picked.remove(minute)
        elif len(picked) >= max_slots:
            return None
        else:
            picked.append(minute)
        if row is None:
            await t.Conversation.create(
                channel="telegram", address=where, state="assist_picks", data={"picked": picked}
            )
        else:
            await t.Conversation.filter(id=row.id).update(data={"picked": picked})
        return picked

    picked = await app.tx.run(done_with(toggle))
    if picked is None:
        await query.answer(f"You can propose up to {max_slots} times.")
        return
    await query.answer("Picked." if minute in picked else "Removed.")
    keyboard = query.message.reply_markup if query.message is not None else None
    markup = keyboard.to_dict() if keyboard is not None else None
    if markup:
        for row in markup.get("inline_keyboard", []):
            for button in row:
                pick = unpack(str(button.get("callback_data", "")))
                if isinstance(pick, ProposePress) and pick.minute is not None:
                    label = str(button["text"]).removeprefix(PICKED)
                    button["text"] = PICKED + label if pick.minute in picked else label
        await _set_markup(query, markup)


async def _send(query: Any, app: ChatContext, fw: t.Fieldworker, chat_id: int, job_id: int) -> None:
    """Propose the picked times: the customer gets them, the buttons go."""
    starts: list[datetime] = []

    async def act(uow: Any) -> OfferView | None:
        row = await t.Conversation.get_or_none(channel="telegram", address=_picks(chat_id, job_id))
        minutes = sorted(int(m) for m in (row.data.get("picked", []) if row else []))
        starts[:] = [datetime.fromtimestamp(m * 60, UTC) for m in minutes]
        if not starts:
            return None
        offer = await assist.propose(uow, job_id, fw.id, starts, _actor(fw), Channel.TELEGRAM)
        await t.Conversation.filter(channel="telegram", address=_picks(chat_id, job_id)).delete()
        return offer

    try:
        offer = await app.tx.run(done_with(act))
    except DispatchError as exc:
        await query.answer(refusal(exc, starts, fw.timezone), show_alert=True)
        return
    if offer is None:
        await query.answer("Pick at least one time first, or press “Type times”.")
        return
    await query.answer("Sent to the customer.")
    await _set_markup(query, None)


async def await_times(chat_id: int, job_id: int) -> None:
    """Remember, in the database, that this chat's next text is the times to propose."""
    await t.Conversation.filter(channel="telegram", address=str(chat_id)).delete()
    await t.Conversation.create(
        channel="telegram", address=str(chat_id), state=STATE_TIMES, data={"job_id": job_id}
    )


async def typed_times(app: ChatContext, message: Any, fw: t.Fieldworker, state: Any) -> None:
    """The chat's text after "Type times": read the times and propose them."""
    job_id = int(state.data["job_id"])
    try:
        starts = read_times(message.text[:500], utcnow(), fw.timezone)
    except UnreadableTime as exc:
        await message.reply_text(f"I could not read that: {exc.message} Please type them again.")
        return

    async def act(uow: Any) -> OfferView:
        await t.Conversation.filter(id=state.id).delete()
        return await assist.propose(uow, job_id, fw.id, starts, _actor(fw), Channel.TELEGRAM)

    try:
        await app.tx.run(done_with(act))  # the outbox confirms it (`notifications.assist`)
    except DispatchError as exc:
        await message.reply_text(refusal(exc, starts, fw.timezone))


async def _set_markup(query: Any, markup: dict[str, Any] | None) -> None:
    try:
        keyboard = InlineKeyboardMarkup.de_json(markup, query.get_bot()) if markup else None
        await query.edit_message_reply_markup(keyboard)
    except BadRequest as exc:  # not modified, or the message is gone: nothing to fix
        log.info("could not edit buttons: %s", exc)
