"""A notification that could not be delivered (`dispatch.delivery`), through the fake.

Recorded once (`delivery_failed`, actor system), staff alerted unless it was a staff alert, and a
fieldworker's message sent on by the next of their channels that has not refused it.
"""

from __future__ import annotations

from dispatch import delivery
from dispatch.events import DeliveryFailed, RequestSent
from dispatch.model import Actor, ActorKind, Channel, HistoryAction, RequestStatus
from dispatch.ports import Audience
from dispatch.reachability import ChannelsOn
from tests.unit.fakes import SITE, FakeUnitOfWork, book, company, near

BOTH_ON = ChannelsOn(telegram=True, sms=True)
PHONE = "+4915100000001"
BLOCKED = "Telegram refused: Forbidden: bot was blocked by the user"


async def offered(channels: list[str], **contact: object) -> tuple[FakeUnitOfWork, int, int]:
    """A company whose one fieldworker has these channels was asked for a job.

    Returns the unit of work, the fieldworker's id and the id of their request.
    """
    uow = company(0)
    uow.channels_on = BOTH_ON
    contact = {"telegram_user_id": 71, "phone": PHONE, **contact}
    fw = uow.add_fieldworker(
        services=frozenset({"plumb"}), base_location=near(SITE, 0.1), channels=channels, **contact
    )
    booked = await book(uow, "plumb")
    return uow, fw, uow.request_of(booked.job_id, fw).id


def request_message(uow: FakeUnitOfWork, fw: int, request_id: int, channel: Channel) -> int:
    """The job request message the renderer wrote for this request."""
    booking_id = uow.requests[request_id].booking_id
    return uow.add_notification(
        booking_id, channel, fieldworker_id=fw, request_id=request_id, job_request=True
    )


async def test_a_fieldworker_known_only_by_telegram_user_id_is_asked() -> None:
    uow, fw, _request_id = await offered(["telegram"], phone=None)
    assert uow.contacts[fw].telegram_chat_id is None
    assert [e.fieldworker_id for e in uow.emitted(RequestSent)] == [fw]


async def test_a_refused_request_goes_by_sms_is_recorded_and_alerts_staff() -> None:
    uow, fw, request_id = await offered(["telegram", "sms"])
    message = request_message(uow, fw, request_id, Channel.TELEGRAM)

    assert await delivery.notification_failed(uow, message, BLOCKED) is Channel.SMS

    assert uow.notifications[message].status == "failed"
    assert uow.notifications[message].error == BLOCKED
    [row] = uow.rows(HistoryAction.DELIVERY_FAILED)
    assert row.actor == Actor.system() and row.actor.kind is ActorKind.SYSTEM
    assert (row.channel, row.request_id, row.job_id) == (
        Channel.TELEGRAM,
        request_id,
        uow.requests[request_id].job_id,
    )
    assert row.details["fallback"] == "sms" and row.details["error"] == BLOCKED
    [event] = uow.emitted(DeliveryFailed)
    assert (event.fallback, event.refused, event.alert_staff) == (
        Channel.SMS,
        (Channel.TELEGRAM,),
        True,
    )
    assert (event.fieldworker_id, event.request_id, event.notification_id) == (
        fw,
        request_id,
        message,
    )


async def test_a_failure_reported_again_changes_nothing() -> None:
    uow, fw, request_id = await offered(["telegram", "sms"])
    message = request_message(uow, fw, request_id, Channel.TELEGRAM)
    await delivery.notification_failed(uow, message, BLOCKED)
    history, events = len(uow.history), len(uow.events)

    assert await delivery.notification_failed(uow, message, "again") is None

    assert (len(uow.history), len(uow.events)) == (history, events)
    assert uow.notifications[message].error == BLOCKED


async def test_the_fallback_follows_their_order_and_never_returns_to_a_refusing_channel() -> None:
    uow, fw, request_id = await offered(["sms", "telegram"])
    booking_id = uow.requests[request_id].booking_id
    # Telegram went first (buttons beat codes) and refused: their next channel is SMS.
    first = request_message(uow, fw, request_id, Channel.TELEGRAM)
    assert await delivery.notification_failed(uow, first, BLOCKED) is Channel.SMS
    # The SMS sent instead was undelivered too: Telegram refused it already, nothing is left.
    second = uow.add_notification(
        booking_id,
        Channel.SMS,
        fieldworker_id=fw,
        request_id=request_id,
        job_request=True,
        refused=(Channel.TELEGRAM,),
    )
    assert await delivery.notification_failed(uow, second, "Twilio undelivered") is None
    last = uow.emitted(DeliveryFailed)[-1]
    assert (last.fallback, last.refused, last.alert_staff) == (
        None,
        (Channel.TELEGRAM, Channel.SMS),
        True,
    )
    assert [h.details["fallback"] for h in uow.rows(HistoryAction.DELIVERY_FAILED)] == ["sms", None]


async def test_no_fallback_without_another_channel_that_reaches_them() -> None:
    uow, fw, request_id = await offered(["telegram"])
    message = request_message(uow, fw, request_id, Channel.TELEGRAM)
    assert await delivery.notification_failed(uow, message, BLOCKED) is None
    assert uow.emitted(DeliveryFailed)[0].alert_staff

    uow, fw, request_id = await offered(["telegram", "sms"], sms_opt_out=True)
    message = request_message(uow, fw, request_id, Channel.TELEGRAM)
    assert await delivery.notification_failed(uow, message, BLOCKED) is None


async def test_a_request_no_longer_open_is_not_sent_again_but_staff_are_told() -> None:
    uow, fw, request_id = await offered(["telegram", "sms"])
    message = request_message(uow, fw, request_id, Channel.TELEGRAM)
    uow.requests[request_id].status = RequestStatus.WITHDRAWN  # taken meanwhile

    assert await delivery.notification_failed(uow, message, BLOCKED) is None
    [event] = uow.emitted(DeliveryFailed)
    assert event.fallback is None and event.alert_staff
    # Any other message about it still goes by the next channel.
    update = uow.add_notification(
        uow.requests[request_id].booking_id,
        Channel.TELEGRAM,
        fieldworker_id=fw,
        request_id=request_id,
    )
    assert await delivery.notification_failed(uow, update, BLOCKED) is Channel.SMS


async def test_a_failed_staff_alert_is_recorded_but_alerts_nobody() -> None:
    uow, _fw, request_id = await offered(["telegram"])
    booking_id = uow.requests[request_id].booking_id
    alert = uow.add_notification(booking_id, Channel.TELEGRAM, audience=Audience.STAFF)

    assert await delivery.notification_failed(uow, alert, BLOCKED) is None

    [event] = uow.emitted(DeliveryFailed)
    assert (event.alert_staff, event.fallback, event.fieldworker_id) == (False, None, None)
    assert uow.rows(HistoryAction.DELIVERY_FAILED)[0].details["audience"] == "staff"


async def test_a_customer_sms_undelivered_alerts_staff_and_goes_nowhere_else() -> None:
    uow, _fw, request_id = await offered(["telegram"])
    booking_id = uow.requests[request_id].booking_id
    sms = uow.add_notification(booking_id, Channel.SMS, audience=Audience.CUSTOMER)

    assert await delivery.notification_failed(uow, sms, "Twilio undelivered (error 30003)") is None

    [event] = uow.emitted(DeliveryFailed)
    assert (event.alert_staff, event.fallback, event.channel) == (True, None, Channel.SMS)


async def test_a_row_naming_only_its_request_is_the_requests_fieldworker() -> None:
    uow, fw, request_id = await offered(["telegram", "sms"])
    booking_id = uow.requests[request_id].booking_id
    old = uow.add_notification(booking_id, Channel.TELEGRAM, request_id=request_id)

    assert await delivery.notification_failed(uow, old, BLOCKED) is Channel.SMS
    assert uow.emitted(DeliveryFailed)[0].fieldworker_id == fw


async def test_a_message_without_a_booking_is_only_marked_failed() -> None:
    uow = FakeUnitOfWork()
    message = uow.add_notification(None, Channel.TELEGRAM)
    assert await delivery.notification_failed(uow, message, BLOCKED) is None
    assert uow.notifications[message].status == "failed"
    assert (uow.history, uow.events) == ([], [])
    assert await delivery.notification_failed(uow, 999, BLOCKED) is None


async def test_the_error_is_bounded_and_without_nul() -> None:
    uow, fw, request_id = await offered(["telegram"])
    message = request_message(uow, fw, request_id, Channel.TELEGRAM)
    await delivery.notification_failed(uow, message, "bad\x00" + "x" * 2000)
    error = uow.notifications[message].error
    assert error is not None and "\x00" not in error and len(error) == delivery.ERROR_MAX
