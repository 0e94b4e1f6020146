"""Drains the notification outbox to Telegram and Twilio, with retries; safe with several processes.

A row is claimed by a conditional UPDATE (`claimed_until` lease), sent, then marked `sent` or
rescheduled. Several recipients are served at once, but each recipient's rows go in id order, one
at a time, so an edit of a request message follows its send; when a row must wait, the rest of that
recipient's rows wait with it. Telegram sends are paced under its global limit (about 30 messages a
second per bot). Twilio and Telegram calls are never retried by their HTTP clients: a retry here is
a new attempt of a row, and a row marked sent is never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from prometheus_client import Counter
from tortoise.expressions import Q

from models import tables as t
from models.views import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
LEASE = timedelta(seconds=60)
SENT = Counter(
    "dispatch_notifications_sent", "Outbox messages delivered to a provider", ["channel"]
)
FAILED = Counter("dispatch_notifications_failed", "Outbox messages given up on", ["channel"])


class PermanentError(Exception):
    """Retrying cannot help (bad recipient, message gone, bot blocked)."""


class RetryLater(Exception):
    """Try again after `delay` seconds without counting an attempt (rate limit, ordering)."""

    def __init__(self, delay: float, why: str):
        super().__init__(why)
        self.delay = delay


class OutboxSender:
    """Sends queued notifications; `wake()` after a commit makes it look at once."""

    def __init__(
        self,
        *,
        bot: Any | None = None,
        twilio: Any | None = None,
        twilio_from: str | None = None,
        status_callback_url: str | None = None,
        poll_interval: float = 1.0,
        concurrency: int = 8,
        telegram_per_second: float = 25.0,
    ):
        self.bot = bot
        self.twilio = twilio
        self.twilio_from = twilio_from
        self.status_callback_url = status_callback_url
        self.poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._concurrency = concurrency
        self._telegram_gap = 1.0 / telegram_per_second
        self._telegram_next = 0.0
        self._pace_lock = asyncio.Lock()

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        """Loop until `stop()`: drain what is due, then wait for a wake-up or the poll interval."""
        while not self._stopping:
            try:
                busy = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox drain failed; retrying")
                busy = 0
            if busy:
                continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)

    def stop(self) -> None:
        """Ask `run()` to return after the current row."""
        self._stopping = True
        self._wakeup.set()

    async def drain_once(self, limit: int = 200) -> int:
        """Send up to `limit` due rows, several recipients at once; returns how many it handled."""
        now = utcnow()
        due = (
            await t.Notification.filter(status="queued", next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("id")
            .limit(limit)
            .values_list("id", "recipient")
        )
        by_recipient: dict[str, list[int]] = {}
        for row_id, recipient in due:
            by_recipient.setdefault(f"{recipient}", []).append(row_id)
        gate = asyncio.Semaphore(self._concurrency)

        async def serve(row_ids: list[int]) -> int:
            handled = 0
            async with gate:
                for row_id in row_ids:
                    if self._stopping:
                        break
                    claimed = (
                        await t.Notification.filter(id=row_id, status="queued")
                        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
                        .update(claimed_until=now + LEASE)
                    )
                    if not claimed:
                        break  # another process serves this recipient now: keep the order
                    handled += 1
                    if not await self._deliver(await t.Notification.get(id=row_id)):
                        break  # this one waits, and the recipient's later rows with it
            return handled

        return sum(await asyncio.gather(*(serve(ids) for ids in by_recipient.values())))

    async def _pace_telegram(self) -> None:
        """Wait for the next send slot under Telegram's global rate."""
        loop = asyncio.get_running_loop()
        async with self._pace_lock:
            slot = max(loop.time(), self._telegram_next)
            self._telegram_next = slot + self._telegram_gap
        delay = slot - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _deliver(self, row: t.Notification) -> bool:
        """Send one claimed row; True when it is settled (sent or failed), False when it waits."""
        now = utcnow()
        try:
            provider_id = await self._send(row)
        except RetryLater as exc:
            await t.Notification.filter(id=row.id).update(
                claimed_until=None,
                next_attempt_at=now + timedelta(seconds=exc.delay),
                error=str(exc),
            )
            return False
        except PermanentError as exc:
            await self._fail(row, str(exc))
            return True
        except Exception as exc:
            attempts = row.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                await self._fail(row, f"{type(exc).__name__}: {exc}", attempts)
                return True
            delay = min(2**attempts, 300)
            log.warning(
                "%s to %s failed (attempt %d), retry in %ds: %s",
                row.channel,
                row.recipient,
                attempts,
                delay,
                exc,
            )
            await t.Notification.filter(id=row.id).update(
                attempts=attempts,
                claimed_until=None,
                next_attempt_at=now + timedelta(seconds=delay),
                error=f"{type(exc).__name__}: {exc}",
            )
            return False
        await t.Notification.filter(id=row.id).update(
            status="sent",
            attempts=row.attempts + 1,
            sent_at=now,
            claimed_until=None,
            provider_id=provider_id,
            error=None,
        )
        SENT.labels(row.channel).inc()
        return True

    async def _fail(self, row: t.Notification, error: str, attempts: int | None = None) -> None:
        log.warning(
            "giving up on %s notification %d to %s: %s", row.channel, row.id, row.recipient, error
        )
        await t.Notification.filter(id=row.id).update(
            status="failed",
            attempts=attempts if attempts is not None else row.attempts + 1,
            claimed_until=None,
            error=error,
        )
        FAILED.labels(row.channel).inc()

    async def _send(self, row: t.Notification) -> str | None:
        if row.channel == "telegram" and row.payload.get("method") == "retire":
            return await self._retire_buttons(row)
        if row.channel == "telegram":
            return await self._send_telegram(row)
        if row.channel == "sms":
            return await self._send_sms(row)
        raise PermanentError(f"channel {row.channel} is not configured")

    async def _send_telegram(self, row: t.Notification) -> str | None:
        from telegram import InlineKeyboardMarkup
        from telegram.error import BadRequest, Forbidden, RetryAfter

        if self.bot is None:
            raise PermanentError("Telegram channel is off")
        markup_json = row.payload.get("reply_markup")
        markup = InlineKeyboardMarkup.de_json(markup_json, self.bot) if markup_json else None
        chat_id = int(row.recipient)
        await self._pace_telegram()
        try:
            if row.payload.get("method") == "edit" and row.request_id is not None:
                target = await self._edit_target(row)
                if target is not None:
                    chat_id, message_id = target
                    try:
                        await self.bot.edit_message_text(
                            row.body, chat_id=chat_id, message_id=message_id, reply_markup=markup
                        )
                    except BadRequest as exc:
                        if "not modified" in str(exc).lower():
                            return str(message_id)
                        raise
                    return str(message_id)
            message = await self.bot.send_message(chat_id, row.body, reply_markup=markup)
        except RetryAfter as exc:
            delay = exc.retry_after
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            raise RetryLater(seconds, f"Telegram rate limit: retry after {seconds}s") from exc
        except (BadRequest, Forbidden) as exc:
            raise PermanentError(f"Telegram refused: {exc}") from exc
        if row.template == "job_request" and row.request_id is not None:
            # The message to edit when this request is answered, taken or withdrawn.
            await t.JobRequest.filter(id=row.request_id).update(
                telegram_chat_id=chat_id, telegram_message_id=message.message_id
            )
        return str(message.message_id)

    async def _retire_buttons(self, row: t.Notification) -> str | None:
        """Take the buttons off an older message (`notifications.live_buttons`).

        The message is named by its chat and id, or by the row that sent it (`of`). A message that
        never went out, is gone, or has no buttons left is settled: nothing to take off.
        """
        from telegram.error import BadRequest, Forbidden, RetryAfter

        if self.bot is None:
            raise PermanentError("Telegram channel is off")
        chat_id, message_id = row.payload.get("chat_id"), row.payload.get("message_id")
        if message_id is None:
            older = await t.Notification.get_or_none(id=row.payload.get("of"))
            if older is not None and older.status == "queued":
                raise RetryLater(1.0, "waiting for the message to retire to be sent first")
            if older is None or older.status == "failed" or not older.provider_id:
                return None
            chat_id, message_id = int(older.recipient), int(older.provider_id)
        await self._pace_telegram()
        try:
            await self.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=None
            )
        except RetryAfter as exc:
            delay = exc.retry_after
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            raise RetryLater(seconds, f"Telegram rate limit: retry after {seconds}s") from exc
        except (BadRequest, Forbidden) as exc:
            # Not modified (no buttons left), deleted, or the chat blocked us: nothing to retire.
            log.info("message %s in chat %s keeps its buttons: %s", message_id, chat_id, exc)
            return None
        return str(message_id)

    async def _edit_target(self, row: t.Notification) -> tuple[int, int] | None:
        """The request's message, or None to send a new one; waits while its send is queued."""
        request = await t.JobRequest.get_or_none(id=row.request_id)
        if request is not None and request.telegram_message_id is not None:
            return int(request.telegram_chat_id or row.recipient), request.telegram_message_id
        unsent = await t.Notification.filter(
            request_id=row.request_id, template="job_request", status="queued", id__lt=row.id
        ).exists()
        if unsent:
            raise RetryLater(1.0, "waiting for the request message to be sent first")
        return None

    async def _send_sms(self, row: t.Notification) -> str | None:
        from twilio.base.exceptions import TwilioRestException

        if self.twilio is None or not self.twilio_from:
            raise PermanentError("SMS channel is off")
        kwargs: dict[str, Any] = {"to": row.recipient, "from_": self.twilio_from, "body": row.body}
        if self.status_callback_url:
            kwargs["status_callback"] = self.status_callback_url
        try:
            message = await self.twilio.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise
            raise PermanentError(f"Twilio refused ({exc.status} {exc.code}): {exc.msg}") from exc
        return str(message.sid)
