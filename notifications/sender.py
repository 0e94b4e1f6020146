"""Drains the notification outbox to Telegram and Twilio, with retries; safe with several processes.

A row is claimed by a conditional UPDATE (`claimed_until` lease), sent, then marked `sent` or
rescheduled. Each recipient's rows go in id order, one at a time, so an edit of a request message
follows its send; when a row must wait, the rest of that recipient's rows wait with it. Recipients
are served by their own tasks, several per channel at once, and the sender keeps starting new ones
while others are still busy: a slow chat or a slow provider never holds up anyone else. Every
provider call is bounded by `PROVIDER_TIMEOUT`, well inside the lease, so a row is never claimed by
a second process while its call may still be under way; a call that times out is a failed attempt.
Telegram sends are paced under its global limit (about 30 messages a second per bot); Telegram's
`retry_after` pauses that chat, Twilio's `Retry-After` pauses the SMS channel. Twilio and Telegram
calls are never retried by their HTTP clients: a retry here is a new attempt of a row, and a row
marked sent is never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from prometheus_client import Counter
from tortoise.expressions import Q

from models import tables as t
from models.transactions import is_transient
from models.views import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 6
LEASE = timedelta(seconds=60)
#: Seconds one provider call (a Telegram send or edit, a Twilio create) may take before it counts as
#: a failed attempt. Far inside LEASE: the row stays ours until its call has surely ended.
PROVIDER_TIMEOUT = 10.0
if not 0 < PROVIDER_TIMEOUT * 3 <= LEASE.total_seconds():
    raise RuntimeError("PROVIDER_TIMEOUT must stay well inside the claim LEASE")
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


class ProviderTimeout(Exception):
    """A provider call got no answer within the sender's timeout: a failed attempt."""


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
        provider_timeout: float = PROVIDER_TIMEOUT,
    ):
        if not 0 < provider_timeout < LEASE.total_seconds():
            raise ValueError("provider_timeout must be positive and shorter than the claim lease")
        self.bot = bot
        self.twilio = twilio
        self.twilio_from = twilio_from
        self.status_callback_url = status_callback_url
        self.poll_interval = poll_interval
        self.provider_timeout = provider_timeout
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._concurrency = concurrency
        self._telegram_gap = 1.0 / telegram_per_second
        self._telegram_next = 0.0
        self._pace_lock = asyncio.Lock()
        # (channel, recipient) -> the task serving that recipient's due rows, in id order
        self._serving: dict[tuple[str, str], asyncio.Task[int]] = {}
        self._sms_resume_at = 0.0  # loop time before which Twilio asked not to be called

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        """Loop until `stop()`: start serving what is due, then wait for a wake-up or the poll.

        The loop never waits for a send: recipients are served by their own tasks, and a task that
        got something done wakes the loop, so its slot and the recipient's next rows go at once.
        """
        try:
            while not self._stopping:
                self._wakeup.clear()
                try:
                    await self._start_due()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    _log_failure("outbox poll failed; retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
        finally:
            await self._finish_serving()

    def stop(self) -> None:
        """Ask `run()` to return once the rows being sent now are settled."""
        self._stopping = True
        self._wakeup.set()

    async def drain_once(self, limit: int = 200) -> int:
        """Send what is due now (and what falls due meanwhile); returns how many rows it handled."""
        handled = 0
        pending = set(await self._start_due(limit))
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            handled += sum(task.result() for task in done)
            pending |= set(await self._start_due(limit))
        return handled

    async def _start_due(self, limit: int = 200) -> list[asyncio.Task[int]]:
        """Start a task for each recipient with due rows and a free slot; returns the new tasks."""
        loop = asyncio.get_running_loop()
        channels = [
            channel
            for channel in ("telegram", "sms")
            if self._busy(channel) < self._concurrency
            and not (channel == "sms" and loop.time() < self._sms_resume_at)
        ]
        if not channels:
            return []
        now = utcnow()
        query = (
            t.Notification.filter(status="queued", next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .filter(Q(channel__in=channels) | Q(channel__not_in=["telegram", "sms"]))
        )
        if self._serving:
            # Rows of recipients being served wait for their task, in order, and must not fill
            # the limit ahead of other recipients.
            query = query.exclude(recipient__in=sorted({r for _, r in self._serving}))
        due = await query.order_by("id").limit(limit).values_list("id", "channel", "recipient")
        by_recipient: dict[tuple[str, str], list[int]] = {}
        for row_id, channel, recipient in due:
            by_recipient.setdefault((f"{channel}", f"{recipient}"), []).append(row_id)
        started = []
        for key, row_ids in by_recipient.items():
            if key in self._serving or self._busy(key[0]) >= self._concurrency:
                continue
            task = asyncio.create_task(self._serve(row_ids), name=f"outbox {key[0]} {key[1]}")
            self._serving[key] = task
            task.add_done_callback(lambda done, key=key: self._served(key, done))
            started.append(task)
        return started

    def _busy(self, channel: str) -> int:
        return sum(1 for key in self._serving if key[0] == channel)

    def _served(self, key: tuple[str, str], task: asyncio.Task[int]) -> None:
        """A recipient's task ended: free its slot and look again if it got anything done."""
        self._serving.pop(key, None)
        if not task.cancelled() and task.result() > 0:
            self._wakeup.set()

    async def _finish_serving(self) -> None:
        """Let the calls under way end (they are bounded), then cancel what is left."""
        self._stopping = True
        tasks = list(self._serving.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self.provider_timeout + 1)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _serve(self, row_ids: list[int]) -> int:
        """Send one recipient's due rows in id order until one must wait; returns how many."""
        handled = 0
        try:
            for row_id in row_ids:
                if self._stopping:
                    break
                # A fresh clock per row: a lease counted from the poll would be shorter by the
                # time the recipient's earlier rows took.
                now = utcnow()
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
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The row keeps its claim until the lease ends, then it is tried again.
            _log_failure("outbox row failed to settle", exc)
        return handled

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
        try:
            provider_id = await self._send(row)
        except RetryLater as exc:
            await t.Notification.filter(id=row.id).update(
                claimed_until=None,
                next_attempt_at=utcnow() + timedelta(seconds=exc.delay),
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
            # A provider that said when to come back (Retry-After on a 503) is not asked sooner.
            delay = max(min(2**attempts, 300), float(getattr(exc, "retry_after", 0) or 0))
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
                next_attempt_at=utcnow() + timedelta(seconds=delay),
                error=f"{type(exc).__name__}: {exc}",
            )
            return False
        await t.Notification.filter(id=row.id).update(
            status="sent",
            attempts=row.attempts + 1,
            sent_at=utcnow(),
            claimed_until=None,
            provider_id=provider_id,
            error=None,
        )
        SENT.labels(row.channel).inc()
        return True

    async def _call(self, provider: str, call: Awaitable[T]) -> T:
        """Await one provider call, bounded by the provider timeout (a failed attempt after it)."""
        try:
            async with asyncio.timeout(self.provider_timeout):
                return await call
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"no answer from {provider} within {self.provider_timeout:g}s"
            ) from exc

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
                        await self._call(
                            "Telegram",
                            self.bot.edit_message_text(
                                row.body,
                                chat_id=chat_id,
                                message_id=message_id,
                                reply_markup=markup,
                            ),
                        )
                    except BadRequest as exc:
                        if "not modified" in str(exc).lower():
                            return str(message_id)
                        raise
                    return str(message_id)
            message = await self._call(
                "Telegram", self.bot.send_message(chat_id, row.body, reply_markup=markup)
            )
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

    def _sms_pause(self) -> float:
        """Seconds Twilio still asked us to wait (0 when the SMS channel may be called)."""
        return max(0.0, self._sms_resume_at - asyncio.get_running_loop().time())

    def _pause_sms(self, seconds: float) -> None:
        """Call Twilio for no SMS before `seconds` from now (its Retry-After)."""
        resume_at = asyncio.get_running_loop().time() + seconds
        self._sms_resume_at = max(self._sms_resume_at, resume_at)

    async def _send_sms(self, row: t.Notification) -> str | None:
        from twilio.base.exceptions import TwilioRestException

        if self.twilio is None or not self.twilio_from:
            raise PermanentError("SMS channel is off")
        wait = self._sms_pause()
        if wait > 0:
            raise RetryLater(wait, f"Twilio asked to wait: retry after {wait:.1f}s")
        kwargs: dict[str, Any] = {"to": row.recipient, "from_": self.twilio_from, "body": row.body}
        if self.status_callback_url:
            kwargs["status_callback"] = self.status_callback_url
        try:
            message = await self._call("Twilio", self.twilio.messages.create_async(**kwargs))
        except TwilioRestException as exc:
            retry_after = getattr(exc, "retry_after", None)  # notifications.twilio_transport
            if retry_after is not None:
                self._pause_sms(retry_after)
                if exc.status == 429:
                    # A rate limit is no fault of the row: no attempt counted.
                    raise RetryLater(
                        retry_after, f"Twilio rate limit: retry after {retry_after:g}s"
                    ) from exc
            if exc.status == 429 or exc.status >= 500:
                raise
            raise PermanentError(f"Twilio refused ({exc.status} {exc.code}): {exc.msg}") from exc
        return str(message.sid)


def _log_failure(what: str, exc: BaseException) -> None:
    """A database conflict or outage is expected and passes: a warning; anything else: the trace."""
    if is_transient(exc):
        log.warning("%s: %s", what, exc)
    else:
        log.exception(what)
