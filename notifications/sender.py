"""Drains the notification outbox to Telegram and Twilio, with retries; safe with several processes.

A row is claimed by a conditional UPDATE (`holder`, a short `claimed_until` that a heartbeat renews
while this process is alive: `models.leases`), its attempt recorded, sent, its provider id recorded,
then marked `sent` or rescheduled (`notifications.attempts`). A row found mid-send (its holder died,
or its call ended without an answer) is decided from what is known (`_resolve`): an SMS is looked
up at Twilio before it is sent again; a Telegram message is sent again only when nothing proves it
arrived (no provider id recorded).

Each recipient's rows go in id order, one at a time, so an edit of a request message follows its
send; when a row must wait, the rest of that recipient's rows wait with it. Recipients
are served by their own tasks, several per channel at once, and the sender keeps starting new ones
while others are still busy: a slow chat or a slow provider never holds up anyone else. Every
provider call is bounded by `PROVIDER_TIMEOUT`; a row whose call may still be under way is never
decided by another process (its heartbeat keeps the claim, and a mid-send row waits until its call
has surely ended); a call that times out is a failed attempt whose outcome is unknown.
Telegram calls are paced under its limits (30 messages a second per bot, one a second per chat:
`notifications.pacing`); Telegram's `retry_after` pauses that chat and the bot, Twilio's
`Retry-After` pauses the SMS channel. Twilio and Telegram calls are never retried by their HTTP
clients: a retry here is a new attempt of a row, and a row marked sent is never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from tortoise.expressions import Q

from dispatch import delivery
from models import tables as t
from models.leases import HOLDER, LEASE, Heartbeat  # noqa: F401 - LEASE: the sender's API
from models.transactions import Transactions, is_transient
from models.views import utcnow
from notifications import attempts as att
from notifications import metrics
from notifications.pacing import CHAT_INTERVAL, FREE_PER_SECOND, TelegramPacer
from notifications.providers import (  # noqa: F401 - the errors are part of the sender's API
    PermanentError,
    ProviderCalls,
    ProviderTimeout,
    RetryLater,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 6
#: Seconds one provider call (a Telegram send or edit, a Twilio create) may take before it counts as
#: a failed attempt (whose outcome is unknown). The claim is renewed meanwhile (`LEASE` is short).
PROVIDER_TIMEOUT = 10.0
#: Seconds past `attempt_started_at + provider_timeout` before another process decides a mid-send
#: row: by then its call has surely ended, even if its holder's heartbeat stalled (clock skew).
CALL_END_GRACE = 2.0


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
        telegram_per_second: float = FREE_PER_SECOND,
        telegram_paid_broadcast: bool = False,
        telegram_chat_interval: float = CHAT_INTERVAL,
        tx: Transactions | None = None,
        provider_timeout: float = PROVIDER_TIMEOUT,
        holder: str = HOLDER,
    ):
        if not 0 < provider_timeout <= 300:
            raise ValueError("provider_timeout must be positive and at most 300 s")
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
        # Telegram's limits: per bot, per chat, and what Telegram says in a 429 (pacing.py).
        self.pacer = TelegramPacer(
            telegram_per_second,
            paid_broadcast=telegram_paid_broadcast,
            chat_interval=telegram_chat_interval,
        )
        # Enough Telegram chats at once to fill the rate while each waits out its own second.
        self._limits = {"telegram": max(concurrency, self.pacer.concurrency)}
        # Reports a message given up on to the core (fallback channel, history, staff alert).
        self.tx = tx
        # (channel, recipient) -> the task serving that recipient's due rows, in id order
        self._serving: dict[tuple[str, str], asyncio.Task[int]] = {}
        self._sms_resume_at = 0.0  # loop time before which Twilio asked not to be called
        #: Who this sender is in `notification.holder` (one per process; tests make two).
        self.holder = holder
        self._heartbeat = Heartbeat(partial(att.renew, holder))

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
            if self._busy(channel) < self._limits.get(channel, self._concurrency)
            and not (channel == "sms" and loop.time() < self._sms_resume_at)
        ]
        if not channels:
            return []
        now = utcnow()
        query = (
            t.Notification.filter(status="queued", next_attempt_at__lte=now)
            .filter(att.claimable(now))
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
            if key in self._serving or self._busy(key[0]) >= self._limits.get(
                key[0], self._concurrency
            ):
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
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.provider_timeout + 1)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self._heartbeat.stop()

    async def _serve(self, row_ids: list[int]) -> int:
        """Send one recipient's due rows in id order until one must wait; returns how many."""
        handled = 0
        try:
            async with self._heartbeat.held():  # our claims stay ours while we work
                for row_id in row_ids:
                    if self._stopping:
                        break
                    # Claimed one at a time, each with a full lease from now.
                    if not await att.claim(row_id, self.holder):
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
        begun = False
        try:
            if row.attempt_started_at is not None:
                proven = await self._resolve(row)
                if proven is not None:
                    await att.settle_sent(row, proven)
                    return True
            await att.begin(row)
            begun = True
            started = asyncio.get_running_loop().time()
            provider_id = await self._send(row)
            if provider_id is not None:
                await att.record_provider_id(row, provider_id)
                waited = asyncio.get_running_loop().time() - started
                metrics.UNCONFIRMED_SECONDS.labels(row.channel).observe(waited)
        except RetryLater as exc:
            # A rate limit or an ordering wait: the provider did not act, no attempt counted.
            await att.retry_later(row, exc.delay, str(exc), outcome_known=begun, uncount=begun)
            return False
        except PermanentError as exc:
            if begun:
                metrics.PROVIDER_FAILURES.labels(att.provider_of(row.channel), "refused").inc()
            await self._fail(row, str(exc))
            return True
        except Exception as exc:
            return await self._failed_attempt(row, exc, begun)
        await att.settle_sent(row, provider_id)
        metrics.NOTIFICATIONS_SENT.labels(row.channel).inc()
        if row.payload.get("job_request"):
            metrics.REQUESTS_SENT.labels(row.channel).inc()
        return True

    async def _failed_attempt(self, row: t.Notification, exc: Exception, begun: bool) -> bool:
        """A provider call (or a lookup) failed: retry with backoff, or give up after the last."""
        kind = att.failure_kind(exc)
        metrics.PROVIDER_FAILURES.labels(att.provider_of(row.channel), kind).inc()
        error = f"{type(exc).__name__}: {exc}"
        if not begun:  # finding out what became of the last attempt failed: that counts too
            row.attempts += 1
            await t.Notification.filter(id=row.id).update(attempts=row.attempts)
        if row.attempts >= MAX_ATTEMPTS:
            await self._fail(row, error)
            return True
        # A provider that said when to come back (Retry-After on a 503) is not asked sooner.
        delay = max(min(2 ** max(row.attempts, 1), 300), float(getattr(exc, "retry_after", 0) or 0))
        unknown = begun and att.outcome_unknown(exc)
        log.warning(
            "%s to %s failed (attempt %d, %s), retry in %ds: %s",
            row.channel,
            row.recipient,
            row.attempts,
            "it may have arrived" if unknown else kind,
            delay,
            exc,
        )
        # Without an answer the message may exist: the next attempt finds out first.
        await att.retry_later(row, delay, error, outcome_known=begun and not unknown)
        return False

    async def _resolve(self, row: t.Notification) -> str | None:
        """A row found mid-send: its provider id when it is known to have arrived, None to send.

        Raises RetryLater while its call may still be under way (in a process whose heartbeat
        stalled), or when Twilio could not be asked.
        """
        if row.provider_id:
            return row.provider_id  # the provider answered; only the bookkeeping was lost
        assert row.attempt_started_at is not None
        ends = row.attempt_started_at + timedelta(seconds=self.provider_timeout + CALL_END_GRACE)
        wait = (ends - utcnow()).total_seconds()
        if wait > 0:
            raise RetryLater(wait, "the previous attempt's call may still be under way")
        if row.channel == "sms" and self.twilio is not None:
            sid = await self._find_sms(row)
            outcome = "found" if sid else "resent"
            metrics.MID_SEND_RESOLVED.labels(row.channel, outcome).inc()
            return sid
        # Telegram has no way to ask: nothing proves the message arrived, so it goes again
        # (an edit or a button retirement is the same twice).
        metrics.MID_SEND_RESOLVED.labels(row.channel, "resent").inc()
        return None

    async def _fail(self, row: t.Notification, error: str) -> None:
        log.warning(
            "giving up on %s notification %d to %s: %s", row.channel, row.id, row.recipient, error
        )
        # Still claimed: a row queued and unclaimed here could be sent again by another process.
        await t.Notification.filter(id=row.id).update(
            attempts=max(row.attempts, 1), error=error, attempt_started_at=None
        )
        if self.tx is None:
            await t.Notification.filter(id=row.id).update(
                status="failed", claimed_until=None, holder=None
            )
        else:
            # The failed status, the fallback message and the staff alert in one transaction;
            # the move to failed is conditional, so the message is reported once.
            await self.tx.run(lambda uow: delivery.notification_failed(uow, row.id, error))
        metrics.NOTIFICATIONS_FAILED.labels(row.channel).inc()


def _log_failure(what: str, exc: BaseException) -> None:
    """A database conflict or outage is expected and passes: a warning; anything else: the trace."""
    if is_transient(exc):
        log.warning("%s: %s", what, exc)
    else:
        log.exception(what)
