"""Reschedule Assist by SMS: a fieldworker proposes times, a customer answers an offer.

Fieldworker: the answer to their `NO` or `CANCEL` says how (`hint`): `PROPOSE 4821` answers with
numbered suggestions, and their next reply picks by number (`1 3`) or types times (`Tue 10:00,
25/11 14:30`); `PROPOSE 4821 1 3` or `PROPOSE 4821 Tue 10:00` does it in one go. The code is the
declined request's; the chat remembers the job of their last decline or dropout, so `PROPOSE` alone
works too. Customer: `1`, ` 2 `, `#2`, `option 2` choose; what that does is
`dispatch.assist_choice`. State lives in the `conversation` table.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from dispatch import assist, assist_choice, customer_replies
from dispatch.assist_choice import ChoiceOutcome
from dispatch.commands import RespondResult
from dispatch.errors import DispatchError
from dispatch.model import Actor, ActorKind, Channel, Interval
from handlers.assist_texts import customer_answer, refusal
from handlers.context import ChatContext
from handlers.times import EXAMPLES, UnreadableTime, read_times
from models import tables as t
from models.views import utcnow
from notifications.assist import numbered
from notifications.templates import text as text_of

#: The chat remembers the job its fieldworker just declined or dropped (for a bare `PROPOSE`).
STATE_JOB = "assist_job"
#: The chat was sent numbered suggestions: the next reply picks them or types times.
STATE_PICK = "assist_pick"
#: A customer's choice: a number, maybe as `#2`, `option 2`, `no. 2`, `2.`.
CHOICE_RE = re.compile(
    r"\s*(?:(?:option|opt|choice|number|nr|no)\.?\s*)?#?\s*(\d{1,3})\s*[.!)]?\s*", re.I
)
_NUMBERS = re.compile(r"\s*\d{1,2}(?:[\s,]+\d{1,2})*\s*")


def _actor(fw: t.Fieldworker) -> Actor:
    return Actor(ActorKind.FIELDWORKER, fw.id, fw.name)


async def _remember(phone: str, state: str, data: dict[str, Any]) -> None:
    await t.Conversation.filter(channel="sms", address=phone).delete()
    await t.Conversation.create(channel="sms", address=phone, state=state, data=data)


async def hint(app_ctx: ChatContext, fw: t.Fieldworker, result: RespondResult) -> str:
    """What the answer to a decline or dropout adds when they may propose other times."""
    job_id = result.job_id
    if job_id is None or fw.phone is None:
        return ""
    if not await app_ctx.tx.run(lambda uow: assist.may_propose(uow, job_id, fw.id)):
        return ""
    request = await t.JobRequest.get_or_none(id=result.request_id) if result.request_id else None
    await app_ctx.tx.run(lambda _uow: _remember(str(fw.phone), STATE_JOB, {"job_id": job_id}))
    code = f" {request.reply_code}" if request is not None else ""
    return f" Could the customer have another time? Reply PROPOSE{code} for times to offer."


async def propose(
    app_ctx: ChatContext, fw: t.Fieldworker, code: int | None, rest: str, state: Any
) -> str:
    """`PROPOSE [code] [numbers or times]`."""
    remembered = (
        int(state.data["job_id"])
        if state is not None and state.state in (STATE_JOB, STATE_PICK)
        else None
    )
    try:
        job_id = await app_ctx.tx.run(
            lambda uow: assist.job_meant_by_propose(uow, fw.id, code, remembered)
        )
        slots = await app_ctx.tx.run(lambda uow: assist.suggestions(uow, job_id, fw.id))
    except DispatchError as exc:
        return exc.message
    if rest:
        return await _answer(app_ctx, fw, job_id, rest, slots)
    data = {"job_id": job_id, "slots": [s.start.isoformat() for s in slots]}
    await app_ctx.tx.run(lambda _uow: _remember(str(fw.phone), STATE_PICK, data))
    if not slots:
        return (
            "You have no free time in your working hours this week. Reply with the times you "
            f"could come, e.g. {EXAMPLES}."
        )
    return (
        f"Times you could offer: {numbered(slots, fw.timezone)}. Reply with their numbers "
        f"(e.g. 1 3) or type your own times (e.g. {EXAMPLES})."
    )


async def picked(app_ctx: ChatContext, fw: t.Fieldworker, body: str, state: Any) -> str:
    """The reply to the numbered suggestions: numbers, or typed times."""
    job_id = int(state.data["job_id"])
    starts = [datetime.fromisoformat(s) for s in state.data.get("slots", [])]
    job = await t.Job.get_or_none(id=job_id).select_related("appointment")
    length = job.appointment.end - job.appointment.start if job is not None else None
    slots = [Interval(s, s + length) for s in starts] if length is not None else []
    return await _answer(app_ctx, fw, job_id, body.strip(), slots)


async def _answer(
    app_ctx: ChatContext, fw: t.Fieldworker, job_id: int, text: str, slots: list[Interval]
) -> str:
    """Propose the suggestions `text` numbers, or the times it types."""
    if _NUMBERS.fullmatch(text):
        numbers = [int(n) for n in re.findall(r"\d+", text)]
        if not slots or not all(1 <= n <= len(slots) for n in numbers):
            return f"Please pick numbers from 1 to {len(slots)}, or type times (e.g. {EXAMPLES})."
        starts = [slots[n - 1].start for n in numbers]
    else:
        try:
            starts = read_times(text[:500], utcnow(), fw.timezone)
        except UnreadableTime as exc:
            return f"I could not read that: {exc.message} Please reply with the times again."

    async def act(uow: Any) -> tuple[Interval, ...]:
        offer = await assist.propose(uow, job_id, fw.id, starts, _actor(fw), Channel.SMS)
        await t.Conversation.filter(channel="sms", address=fw.phone).delete()
        return offer.slots

    try:
        sent = await app_ctx.tx.run(act)
    except DispatchError as exc:
        return refusal(exc, starts, fw.timezone)
    return f"Sent to the customer: {numbered(sent, fw.timezone)}. You will hear what they choose."


async def customer_reply(app_ctx: ChatContext, sender: str, body: str) -> str | None:
    """A customer's SMS: their answer to a reschedule offer; anything else is forwarded to staff
    and recorded (`dispatch.customer_replies`), acknowledged once per conversation."""
    match = CHOICE_RE.fullmatch(body or "")
    number = int(match[1]) if match else None
    choice = await app_ctx.tx.run(
        lambda uow: assist_choice.choose(uow, sender, number, Channel.SMS)
    )
    answer = customer_answer(choice, app_ctx.timezone)
    if choice.outcome not in (ChoiceOutcome.NO_OFFER, ChoiceOutcome.NOT_A_CHOICE):
        return answer
    text = body or ""
    forwarded = await app_ctx.tx.run(
        lambda uow: customer_replies.customer_replied(uow, sender, text)
    )
    if answer is None and forwarded is not None and forwarded.acknowledge:
        return text_of("customer_reply_ack")
    return answer
