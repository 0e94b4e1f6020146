"""Reschedule Assist in words: refusals of a proposal, and the answers to a customer's reply.

Shared by the Telegram and SMS adapters; the rules behind each outcome are in `dispatch.assist`
and `dispatch.assist_choice`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dispatch.assist_choice import Choice, ChoiceOutcome
from dispatch.errors import DispatchError
from handlers.times import EXAMPLES
from notifications.assist import choices
from notifications.templates import format_when

#: What a refused time says, by the refusal's code (`{when}`: the time in the fieldworker's zone).
SLOT_REFUSALS = {
    "slot_in_past": "{when} is in the past.",
    "slot_too_far": "{when} is too far ahead.",
    "slot_unchanged": "{when} is the time already booked.",
    "slot_outside_working_hours": "{when} is outside your working hours.",
    "slot_time_off": "You are off at {when}.",
    "slot_schedule_conflict": "You have another job at {when}.",
}


def _when(start: datetime, timezone: str) -> str:
    return format_when(start, start, timezone).split("-")[0]


def refusal(exc: DispatchError, starts: Sequence[datetime], timezone: str) -> str:
    """Why a proposal was refused, naming the time it is about."""
    text = SLOT_REFUSALS.get(exc.code)
    if text is not None and exc.field and exc.field.startswith("slots."):
        index = int(exc.field.split(".")[1])
        if 0 <= index < len(starts):
            return text.format(when=_when(starts[index], timezone)) + " Propose other times."
    return exc.message


def typing_prompt(max_slots: int, job_id: int, timezone: str) -> str:
    """How to type times (Telegram's ForceReply prompt, the SMS hint)."""
    return (
        f"Type up to {max_slots} times for job {job_id}, separated by commas, e.g. {EXAMPLES} "
        f"(your time zone: {timezone})."
    )


def customer_answer(choice: Choice, company_timezone: str) -> str | None:
    """The SMS answer to a customer's reply to an offer; None when it needs none (the move is
    confirmed by its own SMS, and an SMS about no offer is not ours to answer)."""
    offer = choice.offer
    count = len(offer.slots) if offer is not None else 0
    reply = f"Reply {choices(count)} to choose one of the times we sent." if count else ""
    outcome = choice.outcome
    if outcome in (ChoiceOutcome.MOVED, ChoiceOutcome.NO_OFFER):
        return None
    if outcome is ChoiceOutcome.NOT_A_CHOICE:
        return f"Sorry, we did not understand. {reply}"
    if outcome is ChoiceOutcome.OUT_OF_RANGE:
        return f"Sorry, that is not one of the times. {reply}"
    if outcome is ChoiceOutcome.SLOT_PASSED:
        return f"Sorry, that time has already begun. {reply}"
    if outcome is ChoiceOutcome.EXPIRED:
        return "Sorry, that offer expired: your booking stays as it was. We will be in touch."
    if outcome is ChoiceOutcome.ALREADY_CHOSEN:
        assert offer is not None and offer.chosen is not None
        slot = offer.slots[offer.chosen - 1]
        when = format_when(slot.start, slot.end, company_timezone)
        return f"Your booking is already moved to {when}."
    return "Sorry, those times are no longer on offer: your booking stays as it was."
