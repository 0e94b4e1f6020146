"""The outbox's record of each attempt: written before a provider call and after it, so a restart
decides from what it knows (`OutboxSender._resolve`).

A row's life: claimed (`holder`, `claimed_until`, renewed by the holder's heartbeat) -> attempt
begun (`attempt_started_at`, `attempts + 1`) -> provider called -> provider id recorded
(`provider_id`, `sent_at`: one single-row UPDATE, the first write after the answer) -> settled
(`status` sent, the request's message id). A row found queued with `attempt_started_at` set was
mid-send: its call died with its process, or ended without an answer (a timeout, a connection
reset). With `provider_id` set too, only the bookkeeping was lost.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import aiohttp
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models import tables as t
from models.leases import LEASE
from models.views import utcnow
from notifications import live_buttons


def claimable(now: datetime) -> Q:
    """Rows nobody holds: never claimed, released, or whose holder stopped renewing."""
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


async def claim(row_id: int, holder: str) -> bool:
    """Take a queued row for `holder` by a conditional UPDATE; False when someone has it."""
    now = utcnow()
    taken = (
        await t.Notification.filter(id=row_id, status="queued")
        .filter(claimable(now))
        .update(claimed_until=now + LEASE, holder=holder, heartbeat_at=now)
    )
    return bool(taken)


async def renew(holder: str) -> int:
    """The heartbeat: move on every claim `holder` has on a queued row."""
    now = utcnow()
    return await t.Notification.filter(
        holder=holder, status="queued", claimed_until__not_isnull=True
    ).update(claimed_until=now + LEASE, heartbeat_at=now)


async def begin(row: t.Notification) -> None:
    """Record an attempt before the provider is called (counted even if the process dies now)."""
    row.attempts += 1
    row.attempt_started_at = utcnow()
    await t.Notification.filter(id=row.id).update(
        attempts=F("attempts") + 1, attempt_started_at=row.attempt_started_at
    )


async def record_provider_id(row: t.Notification, provider_id: str) -> None:
    """The provider answered: its id, first and alone, so the window of doubt stays small."""
    row.sent_at = utcnow()
    await t.Notification.filter(id=row.id).update(provider_id=provider_id, sent_at=row.sent_at)


async def settle_sent(row: t.Notification, provider_id: str | None) -> None:
    """Mark a row sent, with what the provider's answer makes possible (the message to edit)."""
    async with in_transaction():
        if (
            row.channel == "telegram"
            and row.template == "job_request"
            and row.request_id is not None
            and provider_id
            and provider_id.isdigit()
        ):
            await _request_message(row, int(provider_id))
        await t.Notification.filter(id=row.id).update(
            status="sent",
            provider_id=provider_id,
            sent_at=row.sent_at or utcnow(),
            claimed_until=None,
            holder=None,
            error=None,
        )


async def _request_message(row: t.Notification, message_id: int) -> None:
    """The message to edit when this request is answered, taken or withdrawn: the one just sent,
    unless a newer copy of it was sent meanwhile (`/requests` while this send was in flight;
    Telegram's message ids grow within a chat). Then the copy stays the request's message and
    this one loses its buttons, as the copy's sender would have done had it seen this id."""
    chat = int(row.recipient)
    request = await t.JobRequest.get_or_none(id=row.request_id)
    if request is None:
        return
    newer = request.telegram_message_id
    if request.telegram_chat_id == chat and newer is not None and newer > message_id:
        await t.Notification.create(
            booking_id=row.booking_id,
            channel="telegram",
            recipient=str(chat),
            template=live_buttons.RETIRE_TEMPLATE,
            body="(buttons removed)",
            payload={"method": live_buttons.RETIRE, "chat_id": chat, "message_id": message_id},
            next_attempt_at=utcnow(),
        )
        return
    await t.JobRequest.filter(id=row.request_id).update(
        telegram_chat_id=chat, telegram_message_id=message_id
    )


async def retry_later(
    row: t.Notification, delay: float, error: str, *, outcome_known: bool, uncount: bool = False
) -> None:
    """Release the row until `delay` seconds from now.

    `outcome_known`: the provider surely did not act (it answered with an error, or was not
    called), so the next attempt may simply send. Otherwise `attempt_started_at` stays: the next
    attempt first finds out whether this one arrived. `uncount`: take back the attempt `begin`
    counted (a rate limit is no fault of the row).
    """
    changes: dict[str, object] = {
        "claimed_until": None,
        "holder": None,
        "next_attempt_at": utcnow() + timedelta(seconds=delay),
        "error": error[:2000],
    }
    if outcome_known:
        changes["attempt_started_at"] = None
    if uncount:
        changes["attempts"] = max(0, row.attempts - 1)
    await t.Notification.filter(id=row.id).update(**changes)


def transport_cause(exc: BaseException) -> BaseException | None:
    """The network error under a provider client's exception, if any."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, aiohttp.ClientError | OSError | TimeoutError | asyncio.TimeoutError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def outcome_unknown(exc: BaseException) -> bool:
    """True when the provider may have acted although we got no answer.

    A timeout or a connection lost after the request went out: the message may exist. A refused
    connection (nothing was sent) or an HTTP error answer (the provider said no) is known.
    """
    from notifications.providers import ProviderTimeout

    if isinstance(exc, ProviderTimeout):
        return True
    cause = transport_cause(exc)
    if cause is None:
        return False
    return not isinstance(cause, aiohttp.ClientConnectorError | ConnectionRefusedError)


def failure_kind(exc: BaseException) -> str:
    """A bounded label for `dispatch_provider_failures`."""
    from notifications.providers import ProviderTimeout

    if isinstance(exc, ProviderTimeout):
        return "timeout"
    cause = transport_cause(exc)
    if isinstance(cause, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    if cause is not None:
        return "connection"
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status >= 500:
        return "server_error"
    if "(5" in str(exc) or "Bad Gateway" in str(exc) or "Internal Server Error" in str(exc):
        return "server_error"
    return "error"


def provider_of(channel: str) -> str:
    """The provider behind a channel, as a label."""
    return {"telegram": "telegram", "sms": "twilio"}.get(channel, channel)
