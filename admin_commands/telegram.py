"""Admin commands over Telegram (CONTRACT §5): permission check, parse, call the core, answer.

Registered in group 0, private chats only, before the fieldworker handlers (group 1). Every
command and every button press reads the sender's staff row and role afresh. Refusals are logged
and, when the first argument is a booking id, recorded as a `permission_refused` history row on
that booking. Anyone who is not staff gets one short note and nothing else. Replies are plain text.

Buttons (callback data packed and validated in `notifications.callbacks`): `s:<booking>:<fw>`
"Assign anyway" and `p:<view>:<arg>:<page>` list pages, edited in place; under an assignment
timeout alert `e:<booking>` "Re-broadcast to everyone" (the alert loses that button, the result is
a new message) and `v:<job>` "Show available" (a new message). Every press is answered, and checks
the same permission as the command it stands for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    filters,
)

from dispatch import assignment
from dispatch.errors import DispatchError
from dispatch.model import Permission
from models import tables as t
from models.access import role_named, staff_by_telegram_id, staff_may
from notifications.callbacks import (
    STAFF_DATA,
    ForceAssign,
    PageRef,
    PageView,
    RebroadcastAll,
    ShowAvailable,
    day_of,
)

from . import operations as ops
from . import views
from .commands import (
    COMMANDS,
    assigned_text,
    help_text,
    rebroadcast_text,
)
from .invocation import (
    ASSIGN_ANYWAY,
    AdminCommand,
    Buttons,
    Invocation,
    Reply,
    StaffContext,
    record_refusal,
    refusal_text,
)
from .parsing import (
    FieldworkerRef,
    UsageError,
    booking_id_of,
    parse_callback,
)
from .texts import (
    STAFF_ONLY,
)

log = logging.getLogger(__name__)


def _ctx(context: ContextTypes.DEFAULT_TYPE) -> StaffContext:
    return context.application.bot_data["staff"]  # type: ignore[no-any-return]


def _markup(buttons: Buttons) -> InlineKeyboardMarkup | None:
    rows = [
        [InlineKeyboardButton(label, callback_data=data) for label, data in row]
        for row in buttons
        if row
    ]
    return InlineKeyboardMarkup(rows) if rows else None


# -- PTB glue ------------------------------------------------------------------------------------


async def _execute(command: AdminCommand, inv: Invocation) -> Reply:
    try:
        return await command.run(inv)
    except UsageError as exc:
        return Reply(f"{str(exc)[:1].upper()}{str(exc)[1:]}.\nUsage: {command.usage}")
    except ops.CommandError as exc:
        return Reply(str(exc))
    except DispatchError as exc:
        return Reply(f"Not done: {exc.message}")


def command_handler(
    command: AdminCommand,
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    """The PTB callback for one admin command."""

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        args = list(context.args or [])
        staff = await staff_by_telegram_id(user.id)
        if staff is None:
            await message.reply_text(STAFF_ONLY)
            return
        app = _ctx(context)
        if not await staff_may(staff, command.permission):
            booking_id = booking_id_of(args) if command.takes_booking else None
            await record_refusal(
                app, staff, command.permission, f"/{command.name}", booking_id, args
            )
            await message.reply_text(refusal_text(staff, command.permission))
            return
        try:
            reply = await _execute(command, Invocation(app, staff, args))
        except Exception:
            # Answer the person, then let PTB's error handler log it.
            await message.reply_text("Something went wrong; the error was logged.")
            raise
        await message.reply_text(reply.text, reply_markup=_markup(reply.buttons))

    handle.__name__ = f"admin_{command.name}"
    return handle


async def on_help(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/help` from staff: the admin command list, and no fieldworker help after it."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    staff = await staff_by_telegram_id(user.id)
    if staff is None:
        return  # fieldworkers and strangers: the fieldworker /help (group 1) answers
    await message.reply_text(help_text(staff, (await role_named(staff.role)).permissions))
    raise ApplicationHandlerStop


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An admin button press: validate, re-check permission, act, and always answer."""
    query = update.callback_query
    if query is None:
        return
    answer = "Something went wrong; please try the command again."
    try:
        answer = await _press(query, _ctx(context))
    finally:  # on an error too (PTB's error handler logs it): never leave a spinning button
        await query.answer(answer[:200])


async def _press(query: CallbackQuery, app: StaffContext) -> str:
    parsed = parse_callback(query.data or "")
    if parsed is None:
        return "This button is not valid any more."
    staff = await staff_by_telegram_id(query.from_user.id)
    if staff is None:
        return STAFF_ONLY
    if isinstance(parsed, ForceAssign):
        return await _press_force_assign(query, app, staff, parsed)
    if isinstance(parsed, RebroadcastAll):
        return await _press_rebroadcast(query, app, staff, parsed)
    if isinstance(parsed, ShowAvailable):
        return await _press_show_available(query, app, staff, parsed)
    return await _press_page(query, app, staff, parsed)


async def _press_force_assign(
    query: CallbackQuery, app: StaffContext, staff: t.Staff, press: ForceAssign
) -> str:
    if not await staff_may(staff, Permission.ASSIGN):
        await record_refusal(
            app, staff, Permission.ASSIGN, ASSIGN_ANYWAY, press.booking_id, [query.data or ""]
        )
        return refusal_text(staff, Permission.ASSIGN)
    actor = ops.staff_actor(staff)
    job_ids = list(press.job_ids) or None  # none: every job still to assign
    try:
        booking = await ops.get_booking(press.booking_id)
        fw = await ops.resolve_fieldworker(FieldworkerRef(id=press.fieldworker_id))
        results = await app.tx.run(
            lambda uow: assignment.assign_booking(
                uow, booking.id, fw.id, actor, ops.CHANNEL, job_ids=job_ids, force=True
            )
        )
    except ops.CommandError as exc:
        return str(exc)
    except DispatchError as exc:
        return f"Not done: {exc.message}"
    await _edit(query, assigned_text(booking.id, fw, results, forced=True), None)
    return "Assigned."


async def _press_rebroadcast(
    query: CallbackQuery, app: StaffContext, staff: t.Staff, press: RebroadcastAll
) -> str:
    """`/rebroadcast BOOKING all` from the timeout alert's button."""
    if not await staff_may(staff, Permission.SEND_REQUESTS):
        await record_refusal(
            app, staff, Permission.SEND_REQUESTS, "re-broadcast button", press.booking_id
        )
        return refusal_text(staff, Permission.SEND_REQUESTS)
    actor = ops.staff_actor(staff)
    try:
        booking = await ops.get_booking(press.booking_id)
        asked = await app.tx.run(
            lambda uow: ops.rebroadcast_booking(uow, booking.id, actor, include_expired=True)
        )
    except ops.CommandError as exc:
        return str(exc)
    except DispatchError as exc:
        return f"Not done: {exc.message}"
    await _drop_pressed_button(query)
    await _send(query, await rebroadcast_text(booking.id, asked, include_expired=True), None)
    return f"Asked {len(asked)} fieldworker(s)." if asked else "Nobody to ask."


async def _press_show_available(
    query: CallbackQuery, app: StaffContext, staff: t.Staff, press: ShowAvailable
) -> str:
    """`/available` for the alert's job, as a new message."""
    if not await staff_may(staff, Permission.VIEW):
        job = await t.Job.get_or_none(id=press.job_id)
        booking_id = job.booking_id if job is not None else None
        await record_refusal(app, staff, Permission.VIEW, "show available button", booking_id)
        return refusal_text(staff, Permission.VIEW)
    page = await views.available_page(app.tx, press.job_id, 1, app.timezone)
    await _send(query, page.text, _markup(page.buttons))
    return ""


async def _press_page(
    query: CallbackQuery, app: StaffContext, staff: t.Staff, press: PageRef
) -> str:
    booking_id: int | None = None
    if press.view is PageView.HISTORY:
        booking_id = press.arg
    elif press.view is PageView.AVAILABLE:
        job = await t.Job.get_or_none(id=press.arg)
        booking_id = job.booking_id if job is not None else None
    if not await staff_may(staff, Permission.VIEW):
        await record_refusal(
            app, staff, Permission.VIEW, "page button", booking_id, [query.data or ""]
        )
        return refusal_text(staff, Permission.VIEW)
    tz = app.timezone
    if press.view is PageView.UNASSIGNED:
        page = await views.unassigned_page(press.page, tz)
    elif press.view is PageView.TODAY:
        page = await views.day_page(day_of(press.arg), press.page, tz)
    elif press.view is PageView.HISTORY:
        page = await views.history_page(press.arg, press.page, tz)
    else:
        page = await views.available_page(app.tx, press.arg, press.page, tz)
    await _edit(query, page.text, _markup(page.buttons))
    return ""


async def _send(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """A new message in the chat of the pressed button (a staff member's private chat)."""
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    await query.get_bot().send_message(chat_id, text, reply_markup=markup)


async def _drop_pressed_button(query: CallbackQuery) -> None:
    """Take the pressed button off its message (done; pressing it again would mislead)."""
    message = query.message
    markup = getattr(message, "reply_markup", None)
    if markup is None:
        return
    rows = [[b for b in row if b.callback_data != query.data] for row in markup.inline_keyboard]
    kept = [row for row in rows if row]
    try:
        await query.edit_message_reply_markup(InlineKeyboardMarkup(kept) if kept else None)
    except BadRequest as exc:  # not modified (a double press), or the message is gone
        log.info("could not edit admin message: %s", exc)


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:  # not modified (a double press), or the message is gone
        log.info("could not edit admin message: %s", exc)


def register(
    application: Application[Any, Any, Any, Any, Any, Any], staff_ctx: StaffContext
) -> None:
    """Add the admin command handlers (group 0, before the fieldworker handlers)."""
    application.bot_data["staff"] = staff_ctx
    private = filters.ChatType.PRIVATE
    for command in COMMANDS:
        application.add_handler(
            CommandHandler(command.name, command_handler(command), filters=private), group=0
        )
    application.add_handler(CommandHandler("help", on_help, filters=private), group=0)
    application.add_handler(CallbackQueryHandler(on_callback, pattern=STAFF_DATA), group=0)
