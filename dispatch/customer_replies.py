"""A customer's SMS that is not an answer to anything (CONTRACT §6): forwarded and recorded.

It concerns the customer's booking most likely meant (`UnitOfWork.customer_by_phone`), is
recorded in that booking's history (`customer_replied`) and goes to the staff who receive alerts.
The customer is acknowledged once per conversation, not per SMS: a conversation is their messages
until 24 hours pass without one (then the next message starts a new one and is acknowledged
again). A customer who opted out (STOP) is never acknowledged; their message is still forwarded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dispatch.events import CustomerReplied
from dispatch.model import Actor, Channel, HistoryAction
from dispatch.ports import UnitOfWork

#: A customer's messages belong to one conversation until this long passes without one.
CONVERSATION_GAP = timedelta(hours=24)
#: How much of a customer's text is kept (an SMS of ten segments).
TEXT_MAX = 1600


@dataclass(frozen=True)
class ReplyOutcome:
    """What became of a customer's SMS: the booking it was filed under, and whether to answer."""

    booking_id: int
    acknowledge: bool


async def customer_replied(uow: UnitOfWork, phone: str, text: str) -> ReplyOutcome | None:
    """Forward and record a customer's SMS; None when the number is no customer's."""
    customer = await uow.customer_by_phone(phone)
    if customer is None:
        return None
    text = text.replace("\x00", "").strip()[:TEXT_MAX]
    starts_conversation = await uow.note_customer_message(phone, CONVERSATION_GAP)
    acknowledge = starts_conversation and not customer.sms_opt_out
    await uow.add_history(
        customer.booking_id,
        HistoryAction.CUSTOMER_REPLIED,
        Actor.system(),
        channel=Channel.SMS,
        details={
            "customer_id": customer.customer_id,
            "customer": customer.name,
            "text": text,
            "acknowledged": acknowledge,
        },
    )
    uow.emit(CustomerReplied(customer.booking_id, customer.customer_id, phone, text))
    return ReplyOutcome(customer.booking_id, acknowledge)
