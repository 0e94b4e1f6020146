"""Fieldworker chat over Telegram: buttons, decline reasons, typed replies (`/jobs` and
`/requests`: `handlers/listing.py`; onboarding: `handlers/onboarding.py`).

Handlers parse and answer; the dispatch core decides. Conversation state ("awaiting a typed decline
reason") lives in the `conversation` table, never in PTB's memory, so any process can continue it.

Buttons (`a:`/`d:`/`r:`/`b:` on a request, `n:`/`x:`/`k:` on an assigned job) are packed and
validated in `notifications.callbacks`; which reason a press or a typed reply names is decided by
`dispatch.reasons`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from telegram import (
    ForceReply,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from dispatch import commands, reasons, responding
from dispatch.commands import Action, Outcome
from dispatch.model import Actor, ActorKind, Channel, JobStatus, RequestStatus
from dispatch.reasons import Pick, ReasonAnswer
from handlers import assist_chat, attendance, listing, onboarding
from handlers.context import ChatContext, chat_context
from handlers.listing import fieldworker_for
from models import tables as t
from models.inbound import done_with
from models.views import load_settings, press_state
from notifications.callbacks import NOT_STAFF_DATA, JobPress, Op, RequestPress, unpack
from notifications.catalogue import TELEGRAM
from notifications.keyboards import (
    attending_reason_keyboard,
    reason_keyboard,
    request_keyboard,
)
from notifications.templates import answer as answer_text
from notifications.templates import help_text

log = logging.getLogger(__name__)

STATE_DECLINE_REASON = "decline_reason"
STATE_CANCEL_REASON = "cancel_reason"
REASON_STATES = (STATE_DECLINE_REASON, STATE_CANCEL_REASON)

FIELDWORKER_COMMANDS = [
    ("jobs", "Your assigned jobs"),
    ("requests", "Job requests waiting for your answer"),
    ("help", "How this bot works"),
    ("start", "Link your Telegram account"),
]


_ctx = chat_context


def _actor(fw: t.Fieldworker) -> Actor:
    return Actor(ActorKind.FIELDWORKER, fw.id, fw.name)


def _answering(
    query: Any, rid: int, action: Action, actor: Actor, reason: str | None = None
) -> Callable[[Any], Awaitable[commands.RespondResult]]:
    """A press's answer to a request, ending its update and recording the query's answer in the
    same transaction (`done_with`)."""
    return done_with(
        lambda uow: responding.respond(uow, rid, action, actor, Channel.TELEGRAM, reason=reason),
        answers=str(query.id),
    )


#: What `read_press` read for an Accept on the presser's own pending request, for the handler
#: that then runs it: (request id, Telegram user id, the fieldworker as actor).
_READ: ContextVar[tuple[int, int, Actor] | None] = ContextVar("press_read", default=None)


async def settled_answer(update: Update) -> str | None:
    """The answer to a press on the presser's own request that can change nothing
    (`responding.settled_press`), from one read outside any transaction; None when the press
    needs `on_callback` (a pending request, someone else's, an unknown or other button).

    The answer is the one `on_callback` gives such a press, which writes nothing for it either
    (no history, no message edit): only its update is then done.
    """
    return (await read_press(update))[0]


async def read_press(update: Update) -> tuple[str | None, int | None]:
    """`settled_answer`, and the job of an Accept on the presser's own pending request (its press
    may win: presses on one job are then taken one at a time in a process, `bot.inbound`)."""
    query = update.callback_query
    if query is None or query.from_user is None:
        return None, None
    press = unpack(query.data or "")
    if not isinstance(press, RequestPress):
        return None, None
    state = await press_state(press.request_id, query.from_user.id)
    if state is None:
        return None, None
    accept = press.op is Op.ACCEPT
    outcome = responding.settled_press(accept, state.request, state.job)
    if outcome is not None:
        return answer_text(TELEGRAM, outcome), None
    if not accept:
        return None, None
    # The handler that runs this update (a task started in this context) need not read it again.
    actor = Actor(ActorKind.FIELDWORKER, state.fieldworker_id, state.fieldworker_name)
    _READ.set((press.request_id, query.from_user.id, actor))
    return None, state.job_id


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button press: validate, check it is theirs, act, and always answer the query."""
    query = update.callback_query
    if query is None:
        return
    try:
        await _on_press(query, context)
    except Exception:
        # Never leave the button spinning; PTB's error handler then logs the error. When the
        # press was answered already, Telegram refuses a second answer: nothing more to do.
        with contextlib.suppress(Exception):
            await query.answer("Something went wrong; please try again.")
        raise


async def _on_press(query: Any, context: ContextTypes.DEFAULT_TYPE) -> None:
    press = unpack(query.data or "")
    if not isinstance(press, RequestPress | JobPress):
        await query.answer("This button is not valid any more.")
        return
    user_id = query.from_user.id
    read = _READ.get()
    if (
        isinstance(press, RequestPress)
        and press.op is Op.ACCEPT
        and read is not None
        and read[:2] == (press.request_id, user_id)
    ):
        # The webhook read this request a moment ago (`read_press`): theirs, and pending then.
        accepting = _answering(query, press.request_id, Action.ACCEPT, read[2])
        result = await _ctx(context).tx.run(accepting)
        await query.answer(answer_text(TELEGRAM, result.outcome))
        return
    # The usual press, the presser's own request, costs one query (the press's latency).
    request = None
    if isinstance(press, RequestPress):
        request = await t.JobRequest.get_or_none(
            id=press.request_id, fieldworker__telegram_user_id=user_id
        ).select_related("fieldworker")
    fw = request.fieldworker if request is not None else await fieldworker_for(user_id)
    if fw is None:
        await query.answer("Your Telegram account is not linked to a fieldworker. Send /start.")
        return
    if isinstance(press, JobPress):
        await _on_attendance_button(query, context, fw, press)
        return
    rid = press.request_id
    if request is None:
        await query.answer("This request is not for you, or it no longer exists.")
        return
    app = _ctx(context)
    if press.op is Op.ACCEPT:
        result = await app.tx.run(_answering(query, rid, Action.ACCEPT, _actor(fw)))
        await query.answer(answer_text(TELEGRAM, result.outcome))
        return
    if request.status != RequestStatus.PENDING.value:
        await query.answer(answer_text(TELEGRAM, Outcome.CLOSED))
        return
    await _on_decline_button(query, context, fw, press)


async def _on_decline_button(
    query: Any, context: ContextTypes.DEFAULT_TYPE, fw: t.Fieldworker, press: RequestPress
) -> None:
    """`Decline` (asks the reason), a reason button, or back to Accept/Decline."""
    rid = press.request_id
    app = _ctx(context)
    settings = await load_settings()
    if press.op is Op.DECLINE_BACK:
        await query.answer()
        await _edit_markup(query, request_keyboard(rid))
        return
    keyboard = reason_keyboard(rid, settings.decline_reasons, settings.decline_reason_required)
    if press.op is Op.DECLINE:
        await query.answer("Why are you declining?")
        await _edit_markup(query, keyboard)
        return
    # Op.DECLINE_REASON: a reason button.
    assert press.index is not None
    answer = reasons.from_button(settings, press.index)
    if await _asked_again(query, answer, keyboard):
        return
    if answer.pick is Pick.OTHER:
        await _ask_typed_reason(
            query,
            context,
            STATE_DECLINE_REASON,
            {"request_id": rid},
            f"Please type your reason for declining request #{rid}:",
        )
        return
    result = await app.tx.run(_answering(query, rid, Action.DECLINE, _actor(fw), answer.reason))
    await query.answer(answer_text(TELEGRAM, result.outcome))


async def _asked_again(query: Any, answer: ReasonAnswer, keyboard: dict[str, Any]) -> bool:
    """Answer a reason press that names no usable reason; True when it did (nothing to record)."""
    if answer.pick is Pick.REQUIRED:
        await query.answer("Please pick a reason.")
        return True
    if answer.pick is Pick.ASK_AGAIN:
        await query.answer("The list of reasons changed; please choose again.")
        await _edit_markup(query, keyboard)
        return True
    return False


async def _ask_typed_reason(
    query: Any, context: ContextTypes.DEFAULT_TYPE, state: str, data: dict[str, Any], prompt: str
) -> None:
    # A press on an inline message has no message: the private chat's id is the user's.
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    await _ctx(context).tx.run(
        done_with(lambda _uow: _await_text(chat_id, state, data), answers=str(query.id))
    )
    await query.answer()
    await context.bot.send_message(
        chat_id, prompt, reply_markup=ForceReply(input_field_placeholder="Reason")
    )


async def _on_attendance_button(
    query: Any, context: ContextTypes.DEFAULT_TYPE, fw: t.Fieldworker, press: JobPress
) -> None:
    """`n:`/`w:` No longer attending/Can't attend, `x:` a reason, `k:`/`y:` back, `f:` Confirm."""
    job_id = press.job_id
    job = await t.Job.get_or_none(id=job_id)
    if job is None or job.fieldworker_id != fw.id or job.status != JobStatus.ASSIGNED.value:
        await query.answer("This job is no longer assigned to you.")
        return
    if press.op is Op.CONFIRM:  # the day-before confirmation (`handlers.attendance`)
        await attendance.confirm(query, _ctx(context).tx, fw, job_id)
        return
    settings = await load_settings()
    if press.op in (Op.NOT_ATTENDING_BACK, Op.CANT_ATTEND_BACK):
        await query.answer()
        await _edit_markup(query, attendance.back_keyboard(press))
        return
    keyboard = attending_reason_keyboard(
        job_id,
        settings.decline_reasons,
        settings.decline_reason_required,
        day_before=press.op is Op.CANT_ATTEND,
    )
    if press.op in (Op.NOT_ATTENDING, Op.CANT_ATTEND):  # Can't attend is No longer attending
        await query.answer("Why can't you attend?")
        await _edit_markup(query, keyboard)
        return
    # Op.NOT_ATTENDING_REASON: a reason button.
    assert press.index is not None
    answer = reasons.from_button(settings, press.index)
    if await _asked_again(query, answer, keyboard):
        return
    if answer.pick is Pick.OTHER:
        await _ask_typed_reason(
            query,
            context,
            STATE_CANCEL_REASON,
            {"job_id": job_id},
            f"Please type why you can no longer attend job {job_id}:",
        )
        return
    result = await _ctx(context).tx.run(
        done_with(
            lambda uow: responding.no_longer_attending(
                uow, job_id, fw.id, _actor(fw), Channel.TELEGRAM, reason=answer.reason
            ),
            answers=str(query.id),
        )
    )
    await query.answer(answer_text(TELEGRAM, result.outcome))


async def _edit_markup(query: Any, markup: dict[str, Any]) -> None:
    try:
        await query.edit_message_reply_markup(InlineKeyboardMarkup.de_json(markup, query.get_bot()))
    except BadRequest as exc:  # not modified, or the message is gone: nothing to fix
        log.info("could not edit buttons: %s", exc)


async def _await_text(chat_id: int, state: str, data: dict[str, Any]) -> None:
    """Remember, in the database, that this chat's next text answers `state`."""
    await t.Conversation.filter(channel="telegram", address=str(chat_id)).delete()
    await t.Conversation.create(channel="telegram", address=str(chat_id), state=state, data=data)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Free text: a typed reason when one is awaited (decline, no longer attending), else a hint."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or not message.text:
        return
    app = _ctx(context)
    fw = await fieldworker_for(user.id)
    state = await t.Conversation.get_or_none(channel="telegram", address=str(message.chat.id))
    if fw is not None and state is not None and state.state == assist_chat.STATE_TIMES:
        await assist_chat.typed_times(app, message, fw, state)
        return
    if fw is not None and state is not None and state.state in REASON_STATES:
        reason = message.text.strip()[:500]
        data = dict(state.data)

        async def answer(uow: Any) -> commands.RespondResult:
            await t.Conversation.filter(id=state.id).delete()
            if state.state == STATE_CANCEL_REASON:
                return await responding.no_longer_attending(
                    uow, int(data["job_id"]), fw.id, _actor(fw), Channel.TELEGRAM, reason=reason
                )
            return await responding.respond(
                uow,
                int(data["request_id"]),
                Action.DECLINE,
                _actor(fw),
                Channel.TELEGRAM,
                reason=reason,
            )

        result = await app.tx.run(answer)
        await message.reply_text(answer_text(TELEGRAM, result.outcome))
        return
    await message.reply_text("I did not understand that. " + help_text(TELEGRAM))


async def on_help(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """How the bot works."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(help_text(TELEGRAM))


def register(application: Application, chat: ChatContext) -> None:  # type: ignore[type-arg]
    """Add the fieldworker handlers (group 1: admin commands in group 0 answer first)."""
    application.bot_data["chat"] = chat
    private = filters.ChatType.PRIVATE
    # Reschedule Assist's buttons first: the next handler takes every other fieldworker press.
    assist = CallbackQueryHandler(assist_chat.on_press, pattern=assist_chat.PRESS_DATA)
    application.add_handler(assist, group=1)
    application.add_handler(CallbackQueryHandler(on_callback, pattern=NOT_STAFF_DATA), group=1)
    application.add_handler(CommandHandler("start", onboarding.on_start, filters=private), group=1)
    application.add_handler(CommandHandler("jobs", listing.on_jobs, filters=private), group=1)
    application.add_handler(
        CommandHandler("requests", listing.on_requests, filters=private), group=1
    )
    application.add_handler(CommandHandler("help", on_help, filters=private), group=1)
    application.add_handler(
        MessageHandler(private & filters.CONTACT, onboarding.on_contact), group=1
    )
    application.add_handler(
        MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_text), group=1
    )
