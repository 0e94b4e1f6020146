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
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from prometheus_client import Counter
from tortoise.expressions import Q

from dispatch import delivery
from models import tables as t
from models.transactions import Transactions, is_transient
from models.views import utcnow
from notifications.providers import (  # noqa: F401 - the errors are part of the sender's API
    PermanentError,
    ProviderCalls,
    ProviderTimeout,
    RetryLater,
)

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


class OutboxSender(ProviderCalls):
    """Sends queued notifications; `wake()` after a commit makes it look at once."""

    def __init__(
        self,
        *,
        bot: Any | None = None,
        twilio: Any | None = None,
        twilio_from: str | None = None,
        smtp: Any | None = None,
        status_callback_url: str | None = None,
        poll_interval: float = 1.0,
        concurrency: int = 8,
        telegram_per_second: float = 25.0,
        tx: Transactions | None = None,
        provider_timeout: float = PROVIDER_TIMEOUT,
    ):
        if not 0 < provider_timeout < LEASE.total_seconds():
            raise ValueError("provider_timeout must be positive and shorter than the claim lease")
        self.bot = bot
        self.twilio = twilio
        self.twilio_from = twilio_from
        #: `notifications.email_transport.SmtpSettings` when SMTP_URL is set.
        self.smtp = smtp
        self.status_callback_url = status_callback_url
        self.poll_interval = poll_interval
        self.provider_timeout = provider_timeout
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._concurrency = concurrency
        self._telegram_gap = 1.0 / telegram_per_second
        self._telegram_next = 0.0
        self._pace_lock = asyncio.Lock()
        # Reports a message given up on to the core (fallback channel, history, staff alert).
        self.tx = tx
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
            task.add_done_callback(partial(self._served, key))
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

    async def _fail(self, row: t.Notification, error: str, attempts: int | None = None) -> None:
        log.warning(
            "giving up on %s notification %d to %s: %s", row.channel, row.id, row.recipient, error
        )
        # Still claimed: a row queued and unclaimed here could be sent again by another process.
        await t.Notification.filter(id=row.id).update(
            attempts=attempts if attempts is not None else row.attempts + 1, error=error
        )
        if self.tx is None:
            await t.Notification.filter(id=row.id).update(status="failed", claimed_until=None)
        else:
            # The failed status, the fallback message and the staff alert in one transaction;
            # the move to failed is conditional, so the message is reported once.
            await self.tx.run(lambda uow: delivery.notification_failed(uow, row.id, error))
        FAILED.labels(row.channel).inc()


def _log_failure(what: str, exc: BaseException) -> None:
    """A database conflict or outage is expected and passes: a warning; anything else: the trace."""
    if is_transient(exc):
        log.warning("%s: %s", what, exc)
    else:
        log.exception(what)
