"""A notification that could not be delivered: recorded once, staff told, sent on another way.

The sender reports a permanent refusal (Telegram 403: the user never started the bot or blocked
it; a message Twilio refused) and Twilio's status callback an SMS that was `undelivered` or
`failed`. Either report may come twice (a redelivered callback, two processes): only the call that
moves the notification to failed acts, so each failed message records one `delivery_failed` and
alerts staff once, however often it is reported or retried.
"""

from __future__ import annotations

from dispatch.events import DeliveryFailed
from dispatch.model import Actor, Channel, HistoryAction, RequestStatus
from dispatch.ports import Audience, UnitOfWork
from dispatch.reachability import fallback_channel

#: How much of a provider's error text is kept (it is stored with the notification and history).
ERROR_MAX = 500


async def notification_failed(uow: UnitOfWork, notification_id: int, error: str) -> Channel | None:
    """Record that a notification failed; returns the channel it goes by now, if any.

    A fieldworker's message goes by the next of their channels that has not refused it
    (`dispatch.reachability.fallback_channel`), except a job request whose request is no longer
    pending: there is nothing left to answer. Every failure with a booking is a `delivery_failed`
    history row (actor system) and an alert to staff, unless the message was itself a staff
    alert. A repeated report changes nothing.
    """
    # The text comes from outside (a provider's answer): bounded, and without the NUL PostgreSQL
    # refuses.
    error = error.replace("\x00", "")[:ERROR_MAX]
    failed = await uow.fail_notification(notification_id, error)
    if failed is None or failed.booking_id is None:
        return None
    refused = (*failed.refused, failed.channel)
    request = await uow.get_request(failed.request_id) if failed.request_id is not None else None
    fieldworker_id = failed.fieldworker_id
    if fieldworker_id is None and failed.audience is Audience.FIELDWORKER and request is not None:
        fieldworker_id = request.fieldworker_id  # a row that predates naming its fieldworker
    fallback = None
    if fieldworker_id is not None:
        contact = await uow.contact(fieldworker_id)
        still_open = request is not None and request.status is RequestStatus.PENDING
        if contact is not None and (still_open or not failed.job_request):
            fallback = fallback_channel(contact, uow.channels_on, refused)
    job_id = request.job_id if request is not None else None
    await uow.add_history(
        failed.booking_id,
        HistoryAction.DELIVERY_FAILED,
        Actor.system(),
        job_id=job_id,
        request_id=failed.request_id,
        channel=failed.channel,
        details={
            "notification_id": failed.id,
            "audience": failed.audience.value,
            "fieldworker_id": fieldworker_id,
            "error": error,
            "fallback": fallback.value if fallback is not None else None,
        },
    )
    uow.emit(
        DeliveryFailed(
            failed.booking_id,
            notification_id=failed.id,
            channel=failed.channel,
            fieldworker_id=fieldworker_id,
            request_id=failed.request_id,
            job_id=job_id,
            fallback=fallback,
            refused=refused,
            alert_staff=failed.audience is not Audience.STAFF,
        )
    )
    return fallback
