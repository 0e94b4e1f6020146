"""Bug (issue 7): a job request Telegram refused (403, the fieldworker blocked the bot or never
started it) was dropped without a word.

The sender marked the message failed and that was all: the fieldworker, reachable by SMS too, got
nothing; staff were not told; the booking's history did not show it. Now the core records
`delivery_failed` (actor system) once per failed message, the request goes by the fieldworker's
next channel (an SMS with its reply code), and staff get one alert, however often the failure is
reported. Checked where the bug lived: the real sender against the Bot API emulator.
"""

from __future__ import annotations

from dispatch import delivery
from models import tables as t
from notifications.sender import OutboxSender
from tests.factories import (
    SmsSink,
    add_fieldworker,
    add_service,
    add_staff,
    create_booking,
    transactions,
)
from tests.regressions.conftest import Telegram

BEN, OWNER = 702, 900  # Telegram user ids
PHONE = "+4915100000702"


async def test_a_refused_request_goes_by_sms_and_staff_are_told_once(telegram: Telegram) -> None:
    await add_staff("Owen Owner", role="owner", telegram=OWNER)
    await add_service()
    ben = await add_fieldworker(
        "Ben Cole", channels=["telegram", "sms"], telegram_user_id=BEN, phone=PHONE
    )
    tx = transactions(outbox=True)
    booking_id = await create_booking(tx, phone=None)
    request = await t.JobRequest.get(booking_id=booking_id, fieldworker_id=ben.id)
    telegram.emu.fail_next("sendMessage", status=403)
    sms = SmsSink()
    sender = OutboxSender(
        bot=telegram.bot, twilio=sms, twilio_from="+15550000000", telegram_per_second=1000, tx=tx
    )
    while await sender.drain_once():
        pass

    refused = await t.Notification.get(booking_id=booking_id, template="job_request")
    assert refused.status == "failed" and "blocked" in (refused.error or "")
    [by_sms] = sms.sent
    assert by_sms["to"] == PHONE and f"YES {request.reply_code}" in by_sms["body"]
    alerts = telegram.emu.calls_of("sendMessage", ok_only=True)
    assert [c.params["chat_id"] for c in alerts] == [OWNER]
    text = alerts[0].params["text"]
    assert "Ben Cole" in text and f"booking {booking_id}" in text
    assert "could not be delivered by Telegram" in text and "sent by SMS instead" in text
    [failed] = await t.History.filter(booking_id=booking_id, action="delivery_failed")
    assert (failed.actor_kind, failed.channel, failed.request_id) == (
        "system",
        "telegram",
        request.id,
    )
    assert failed.details["fallback"] == "sms"

    # Reported again (another process, a retry): nothing more happens.
    assert await tx.run(lambda uow: delivery.notification_failed(uow, refused.id, "again")) is None
    assert await sender.drain_once() == 0
    assert await t.History.filter(booking_id=booking_id, action="delivery_failed").count() == 1
    assert await t.Notification.filter(template="staff_delivery_failed").count() == 1
