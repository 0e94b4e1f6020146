"""Fieldworker SMS replies and Twilio status callbacks (CONTRACT §3, §6).

Every request is checked against `X-Twilio-Signature` computed over `PUBLIC_URL` + path (not the
URL aiohttp sees behind a proxy) and recorded by `MessageSid` before it acts: a redelivery answers
an empty TwiML and changes nothing. The reply to the sender is the TwiML `<Message>`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast
from xml.sax.saxutils import escape

from aiohttp import web

from dispatch import commands, delivery, reasons, reminders, replies, responding
from dispatch.commands import Action, Outcome
from dispatch.errors import DispatchError
from dispatch.model import Actor, ActorKind, Channel
from dispatch.reasons import Pick
from handlers import sms_assist
from handlers.context import CHAT, ChatContext
from models import tables as t
from models.inbound import claim, finish, record, unstorable
from models.views import load_settings
from notifications.catalogue import SMS
from notifications.templates import answer as answer_text
from notifications.templates import help_text

log = logging.getLogger(__name__)

COMMAND_RE = re.compile(
    r"^\s*(?P<word>[A-Za-z]+)\b(?:\s+#?(?P<code>\d{4}))?(?:\s+(?P<rest>.*))?\s*$", re.S
)
ACCEPT_WORDS = {"YES", "Y", "ACCEPT"}
DECLINE_WORDS = {"NO", "N", "DECLINE"}
OPT_OUT_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT"}
OPT_IN_WORDS = {"START", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
STATE_DECLINE_REASON = "decline_reason"
STATE_CANCEL_REASON = "cancel_reason"
#: The width of the outbox's `provider_id` column: a longer sid names no row.
PROVIDER_ID_MAX = 64


#: What each refusal adds so the fieldworker knows how to answer again.
REQUEST_HINTS = {
    "no_such_code": " " + help_text(SMS),
    "several_open_requests": " Reply YES or NO with the code.",
}
CANCEL_HINTS = {"several_assigned_jobs": " Reply CANCEL with the job's code and a reason."}
CONFIRM_HINTS = {"several_assigned_jobs": " Reply CONFIRM with the job's code."}


def _code(text: str | None) -> int | None:
    return int(text) if text is not None else None


def twiml(text: str | None) -> web.Response:
    """A TwiML answer with one message, or none."""
    body = f"<Message>{escape(text)}</Message>" if text else ""
    return web.Response(
        text=f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
        content_type="text/xml",
    )


async def _verified_form(request: web.Request, path: str) -> dict[str, str] | None:
    from twilio.request_validator import RequestValidator

    config = request.app[CHAT]
    form = {k: str(v) for k, v in (await request.post()).items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    if not (config.twilio_auth_token and config.public_url and signature):
        return None
    url = config.public_url.rstrip("/") + path
    if not RequestValidator(config.twilio_auth_token).validate(url, form, signature):
        return None
    return form


async def sms_status(request: web.Request) -> web.Response:
    """Twilio's delivery report: the outbox row is delivered, or failed (`dispatch.delivery`)."""
    form = await _verified_form(request, "/sms/status")
    if form is None:
        return web.json_response({"error": "invalid signature"}, status=403)
    sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
    if unstorable(f"sms:{sid}", form) is not None:  # NUL, or a SID no message of ours has
        return web.json_response({"error": "not a Twilio status callback"}, status=400)
    if not sid or status not in ("delivered", "failed", "undelivered"):
        return web.Response(text="", status=200)
    rows = await _outbox_rows_of(sid)
    if status == "delivered":
        await t.Notification.filter(id__in=rows).update(status="delivered")
    else:
        code = "".join(c for c in form.get("ErrorCode", "") if c in "0123456789")[:10] or "?"
        error = f"Twilio {status} (error {code})"
        for notification_id in rows:
            # A redelivered callback finds the row failed already: nothing happens again.
            await request.app[CHAT].tx.run(
                partial(delivery.notification_failed, notification_id=notification_id, error=error)
            )
    return web.Response(text="", status=200)


#: Seconds between the looks for the outbox row of a report's SID (1.9 s in all).
REPORT_LOOKS = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0)


async def _outbox_rows_of(sid: str) -> list[int]:
    """The outbox rows sent as `sid`. Twilio's answer to the send (which the sender records the
    SID from) and a quick report about it can cross: a report that finds no row looks again for
    up to 1.9 s before it is taken to be about a message that is not ours."""
    for pause in REPORT_LOOKS:
        if pause:
            await asyncio.sleep(pause)
        rows = await t.Notification.filter(provider_id=sid).values_list("id", flat=True)
        if rows:
            return cast("list[int]", rows)
    return []


async def sms_inbound(request: web.Request) -> web.Response:
    """An SMS to our number: verify, record by MessageSid, act, answer with TwiML."""
    form = await _verified_form(request, "/sms/inbound")
    if form is None:
        return web.json_response({"error": "invalid signature"}, status=403)
    sid = form.get("MessageSid") or form.get("SmsSid")
    if not sid:
        return web.json_response({"error": "MessageSid missing"}, status=400)
    key = f"sms:{sid}"
    problem = unstorable(key, form)
    if problem is not None:  # a SID longer than its key column, or NUL (PostgreSQL refuses it)
        return web.json_response({"error": f"not a Twilio message: {problem}"}, status=400)
    if not await record(key, form):
        return twiml(None)
    event = await claim(key)
    if event is None:
        return twiml(None)
    try:
        reply = await handle_sms(request.app[CHAT], form.get("From", ""), form.get("Body", ""))
    except Exception as exc:
        log.exception("inbound SMS %s failed", sid)
        await finish(event, f"{type(exc).__name__}: {exc}")
        return twiml("Sorry, something went wrong. Please try again in a minute.")
    await finish(event)
    return twiml(reply)


async def handle_sms(app_ctx: ChatContext, sender: str, body: str) -> str | None:
    """What an SMS from `sender` does; returns the reply text."""
    word_match = COMMAND_RE.match(body or "")
    word = word_match["word"].upper() if word_match else ""
    fw = await t.Fieldworker.get_or_none(phone=sender)
    if word in OPT_OUT_WORDS or (word == "CANCEL" and not (word_match and word_match["code"])):
        await app_ctx.tx.run(lambda uow: replies.set_sms_opt_out(uow, sender, True))
        return None  # Twilio answers STOP itself; a second message would be refused anyway
    if word in OPT_IN_WORDS:
        await app_ctx.tx.run(lambda uow: replies.set_sms_opt_out(uow, sender, False))
        return "You will receive messages again. " + help_text(SMS)
    # HELP alone is the keyword; a customer's "Help, the pipe burst" is words for staff.
    if word in HELP_WORDS and (fw is not None or (body or "").strip().upper() in HELP_WORDS):
        return help_text(SMS)
    if fw is None:  # a customer: an answer to a reschedule offer, else forwarded to staff
        return await sms_assist.customer_reply(app_ctx, sender, body)
    return await _fieldworker_sms(app_ctx, fw, word, word_match, body)


async def _confirm(app_ctx: ChatContext, fw: t.Fieldworker, code: int | None, actor: Actor) -> str:
    """`CONFIRM [code]`: the fieldworker confirms they will attend a job (the day before)."""
    try:
        job_id = await app_ctx.tx.run(lambda uow: replies.job_meant_by_confirm(uow, fw.id, code))
    except DispatchError as exc:
        return exc.message + CONFIRM_HINTS.get(exc.code, "")
    result = await app_ctx.tx.run(
        lambda uow: reminders.confirm_attendance(uow, job_id, fw.id, actor, Channel.SMS)
    )
    return answer_text(SMS, "not_assigned" if result.outcome is Outcome.CLOSED else result.outcome)


async def _fieldworker_sms(
    app_ctx: ChatContext, fw: t.Fieldworker, word: str, word_match: re.Match[str] | None, body: str
) -> str:
    """A fieldworker's answer: YES/NO/CANCEL/CONFIRM with a code, or a reason we asked for."""
    actor = Actor(ActorKind.FIELDWORKER, fw.id, fw.name)
    state = await t.Conversation.get_or_none(channel="sms", address=fw.phone)
    if word in ACCEPT_WORDS or word in DECLINE_WORDS:
        assert word_match is not None
        code = _code(word_match["code"])
        try:
            request = await app_ctx.tx.run(lambda uow: replies.request_meant(uow, fw.id, code))
        except DispatchError as exc:
            return exc.message + REQUEST_HINTS.get(exc.code, "")
        if word in ACCEPT_WORDS:
            result = await app_ctx.tx.run(
                lambda uow: responding.respond(uow, request.id, Action.ACCEPT, actor, Channel.SMS)
            )
            return answer_text(SMS, result.outcome)
        text = (word_match["rest"] or "").strip()
        return await _with_reason(app_ctx, fw, text, _decline_step(request.id, actor))
    if word == "CANCEL":
        assert word_match is not None
        code = _code(word_match["code"])
        try:
            job_id = await app_ctx.tx.run(lambda uow: replies.job_meant_by_cancel(uow, fw.id, code))
        except DispatchError as exc:
            return exc.message + CANCEL_HINTS.get(exc.code, "")
        text = (word_match["rest"] or "").strip()
        return await _with_reason(app_ctx, fw, text, _cancel_step(job_id, fw.id, actor))
    if word == "CONFIRM":  # the day-before confirmation (`dispatch.reminders`)
        assert word_match is not None
        return await _confirm(app_ctx, fw, _code(word_match["code"]), actor)
    if word == "PROPOSE":
        assert word_match is not None
        rest = (word_match["rest"] or "").strip()
        return await sms_assist.propose(app_ctx, fw, _code(word_match["code"]), rest, state)
    if state is not None:
        return await _continue(app_ctx, fw, body, state, actor)
    return help_text(SMS)


async def _continue(
    app_ctx: ChatContext, fw: t.Fieldworker, body: str, state: t.Conversation, actor: Actor
) -> str:
    """A reply to a question we asked (a reason, numbered times to propose)."""
    if state.state == sms_assist.STATE_PICK:
        return await sms_assist.picked(app_ctx, fw, body, state)
    if state.state == STATE_DECLINE_REASON:
        step = _decline_step(int(state.data["request_id"]), actor)
        return await _with_reason(app_ctx, fw, body.strip(), step, from_prompt=True)
    if state.state == STATE_CANCEL_REASON:
        step = _cancel_step(int(state.data["job_id"]), fw.id, actor)
        return await _with_reason(app_ctx, fw, body.strip(), step, from_prompt=True)
    return help_text(SMS)


@dataclass(frozen=True)
class _Step:
    """What a reason completes: the state that waits for it, and the core call that records it."""

    state: str
    data: dict[str, int]
    act: Callable[[Any, str | None], Awaitable[commands.RespondResult]]
    question: str  # how the reason is asked for


def _decline_step(request_id: int, actor: Actor) -> _Step:
    return _Step(
        STATE_DECLINE_REASON,
        {"request_id": request_id},
        lambda uow, reason: responding.respond(
            uow, request_id, Action.DECLINE, actor, Channel.SMS, reason=reason
        ),
        "Why are you declining?",
    )


def _cancel_step(job_id: int, fieldworker_id: int, actor: Actor) -> _Step:
    return _Step(
        STATE_CANCEL_REASON,
        {"job_id": job_id},
        lambda uow, reason: responding.no_longer_attending(
            uow, job_id, fieldworker_id, actor, Channel.SMS, reason=reason
        ),
        "Why can't you attend?",
    )


async def _with_reason(
    app_ctx: ChatContext, fw: t.Fieldworker, text: str, step: _Step, *, from_prompt: bool = False
) -> str:
    """Record `step` with the reason in `text`; ask for one (numbered) when it is missing."""
    settings = await load_settings()
    answer = reasons.from_reply(settings, text, answering_prompt=from_prompt)
    if answer.pick is Pick.ASK_AGAIN:
        return _reason_prompt(settings.decline_reasons, step.question, bad=True)
    # A missing reason goes to the command too: it answers a closed request as such before it asks
    # for one (REASON_REQUIRED), and then this chat's next reply is awaited as the reason.
    reason = answer.reason

    async def act(uow: Any) -> commands.RespondResult:
        await t.Conversation.filter(channel="sms", address=fw.phone).delete()
        result = await step.act(uow, reason)
        if result.outcome is Outcome.REASON_REQUIRED:
            await t.Conversation.create(
                channel="sms", address=fw.phone, state=step.state, data=step.data
            )
        return result

    result = await app_ctx.tx.run(act)
    if result.outcome is Outcome.REASON_REQUIRED:
        return _reason_prompt(settings.decline_reasons, step.question)
    text = answer_text(SMS, result.outcome)
    if result.outcome in (Outcome.DECLINED, Outcome.CANCELLED):
        text += await sms_assist.hint(app_ctx, fw, result)
    return text


def _reason_prompt(reasons: list[str], question: str, bad: bool = False) -> str:
    numbered = ", ".join(f"{i} {r}" for i, r in enumerate(reasons, 1))
    prefix = "Please pick a number from the list. " if bad else f"{question} "
    return f"{prefix}Reply with a number or your reason: {numbered}."
