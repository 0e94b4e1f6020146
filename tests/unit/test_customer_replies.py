"""`dispatch.customer_replies`: a customer's SMS is filed under a booking, forwarded, recorded,
and acknowledged once per conversation (until 24 hours pass without a message)."""

from __future__ import annotations

from datetime import timedelta

from dispatch import customer_replies
from dispatch.events import CustomerReplied
from dispatch.model import HistoryAction
from tests.unit.fakes import START, FakeUnitOfWork, book, company

PHONE = "+4915100000000"  # the customer of `book`


def replied(uow: FakeUnitOfWork) -> list[CustomerReplied]:
    return [e for e in uow.events if isinstance(e, CustomerReplied)]


async def test_a_customers_sms_is_forwarded_recorded_and_acknowledged_once() -> None:
    uow = company(1)
    booked = await book(uow)
    first = await customer_replies.customer_replied(uow, PHONE, "  Is the plumber coming? ")
    assert first is not None and (first.booking_id, first.acknowledge) == (booked.id, True)
    [event] = replied(uow)
    assert (event.booking_id, event.phone, event.text) == (
        booked.id,
        PHONE,
        "Is the plumber coming?",
    )
    rows = [h for h in uow.history if h.action is HistoryAction.CUSTOMER_REPLIED]
    assert len(rows) == 1 and rows[0].details["text"] == "Is the plumber coming?"

    # More messages of the same conversation: forwarded and recorded, not acknowledged again.
    uow.clock.advance(hours=23)
    second = await customer_replies.customer_replied(uow, PHONE, "Hello?")
    assert second is not None and not second.acknowledge
    assert len(replied(uow)) == 2
    # A day of silence ends the conversation: the next message is acknowledged again.
    uow.clock.advance(hours=24)
    third = await customer_replies.customer_replied(uow, PHONE, "New question")
    assert third is not None and third.acknowledge


async def test_the_booking_meant_is_the_next_upcoming_one_else_the_newest() -> None:
    uow = company(1)
    later = await book(uow, start=START + timedelta(days=5))
    sooner = await book(uow, start=START + timedelta(days=2))
    outcome = await customer_replies.customer_replied(uow, PHONE, "hi")
    assert outcome is not None and outcome.booking_id == sooner.id
    uow.clock.advance(days=30)  # both are past: the newest booking
    outcome = await customer_replies.customer_replied(uow, PHONE, "hi again")
    assert outcome is not None and outcome.booking_id == sooner.id != later.id


async def test_an_unknown_number_is_nobodys_and_an_opted_out_customer_is_not_answered() -> None:
    uow = company(1)
    booked = await book(uow)
    assert await customer_replies.customer_replied(uow, "+4915199999999", "hi") is None
    assert replied(uow) == []
    uow.bookings[booked.id].customer_sms_opt_out = True
    outcome = await customer_replies.customer_replied(uow, PHONE, "hi")
    assert outcome is not None and not outcome.acknowledge
    assert len(replied(uow)) == 1  # still forwarded


async def test_a_long_or_nul_text_is_bounded() -> None:
    uow = company(1)
    await book(uow)
    await customer_replies.customer_replied(uow, PHONE, "a\x00b" + "x" * 5000)
    [event] = replied(uow)
    assert "\x00" not in event.text and len(event.text) == customer_replies.TEXT_MAX
