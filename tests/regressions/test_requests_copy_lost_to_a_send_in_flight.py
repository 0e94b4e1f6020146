"""Bug: `/requests` while the request's first message was still being sent left two live copies.

`/requests` sends a copy of a pending request with its buttons and makes it the request's message
(the first one loses its buttons). When the first message's send was still in flight (Telegram
had it, our record of its id had not been written), its record came after and overwrote the copy
as the request's message: later edits (taken, expired) went to the first message and the copy
kept live Accept/Decline buttons. Now a send whose message is older than the request's recorded
one (Telegram's message ids grow within a chat) leaves the record alone and loses its buttons.
"""

from __future__ import annotations

from models import tables as t
from notifications import attempts, live_buttons
from tests.factories import add_fieldworker, add_service, create_booking, transactions

ANN = 621


async def first_send() -> tuple[t.Notification, t.JobRequest]:
    await add_service()
    await add_fieldworker("Ann Smith", telegram=ANN)
    booking_id = await create_booking(transactions(outbox=True), phone=None)
    row = await t.Notification.get(booking_id=booking_id, template="job_request")
    return row, await t.JobRequest.get(id=row.request_id)


async def test_a_send_settled_after_a_newer_copy_keeps_the_copy_and_loses_its_buttons(
    db: str,
) -> None:
    row, request = await first_send()
    # `/requests` sent copy 200 while message 100 was in flight, and recorded the copy.
    await t.JobRequest.filter(id=request.id).update(telegram_chat_id=ANN, telegram_message_id=200)

    await attempts.settle_sent(row, "100")

    request = await t.JobRequest.get(id=request.id)
    assert request.telegram_message_id == 200, "later edits go to the copy"
    retire = await t.Notification.get(template=live_buttons.RETIRE_TEMPLATE)
    assert retire.payload == {"method": "retire", "chat_id": ANN, "message_id": 100}
    assert (await t.Notification.get(id=row.id)).status == "sent"


async def test_a_send_settled_first_or_a_newer_message_becomes_the_requests(db: str) -> None:
    row, request = await first_send()
    await attempts.settle_sent(row, "100")
    assert (await t.JobRequest.get(id=request.id)).telegram_message_id == 100

    # A request asked again (a pend): its new message replaces the older one.
    await attempts.settle_sent(row, "150")
    assert (await t.JobRequest.get(id=request.id)).telegram_message_id == 150
    assert not await t.Notification.filter(template=live_buttons.RETIRE_TEMPLATE).exists()
