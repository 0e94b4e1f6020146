"""The provider calls of the outbox sender: Telegram send/edit and Twilio create, each bounded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from models import tables as t
from notifications.pacing import TelegramPacer

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How many of the recipient's latest messages Twilio is asked for when looking one up.
LOOKUP_LIMIT = 50
#: Twilio's `date_created` has whole seconds and its clock is not ours.
LOOKUP_CLOCK_SKEW = timedelta(seconds=5)


class PermanentError(Exception):
    """Retrying cannot help (bad recipient, message gone, bot blocked)."""


class RetryLater(Exception):
    """Try again after `delay` seconds without counting an attempt (rate limit, ordering)."""

    def __init__(self, delay: float, why: str):
        super().__init__(why)
        self.delay = delay


class ProviderTimeout(Exception):
    """A provider call got no answer within the sender's timeout: a failed attempt."""


class ProviderCalls:
    """Sends one outbox row to its provider; mixed into `OutboxSender` (which holds the state)."""

    bot: Any
    twilio: Any
    smtp: Any
    twilio_from: str | None
    status_callback_url: str | None
    provider_timeout: float
    _sms_resume_at: float
    pacer: TelegramPacer

    async def _call(self, provider: str, call: Awaitable[T]) -> T:
        """Await one provider call, bounded by the provider timeout (a failed attempt after it)."""
        try:
            async with asyncio.timeout(self.provider_timeout):
                return await call
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"no answer from {provider} within {self.provider_timeout:g}s"
            ) from exc

    async def _send(self, row: t.Notification) -> str | None:
        if row.channel == "telegram" and row.payload.get("method") == "retire":
            return await self._retire_buttons(row)
        if row.channel == "telegram":
            return await self._send_telegram(row)
        if row.channel == "sms":
            return await self._send_sms(row)
        if row.channel == "email":
            return await self._send_email(row)
        raise PermanentError(f"channel {row.channel} is not configured")

    async def _send_email(self, row: t.Notification) -> str | None:
        from notifications.email_transport import send_email

        if self.smtp is None:
            raise PermanentError("email channel is off")
        return await self._call("SMTP", send_email(self.smtp, row, self.provider_timeout))

    async def _send_telegram(self, row: t.Notification) -> str | None:
        from telegram import InlineKeyboardMarkup
        from telegram.error import BadRequest, Forbidden, RetryAfter

        if self.bot is None:
            raise PermanentError("Telegram channel is off")
        markup_json = row.payload.get("reply_markup")
        markup = InlineKeyboardMarkup.de_json(markup_json, self.bot) if markup_json else None
        chat_id = int(row.recipient)
        # The parse mode the template declared; its merge values were escaped for it.
        parse_mode = row.payload.get("parse_mode")
        target = None
        if row.payload.get("method") == "edit" and row.request_id is not None:
            target = await self._edit_target(row)
        # Paid broadcast (TELEGRAM_PAID_BROADCAST) lifts the bot-wide limit for job requests only.
        paid = self.pacer.paid_broadcast and row.template == "job_request" and target is None
        extra: dict[str, Any] = {"allow_paid_broadcast": True} if paid else {}
        # Looked up before the pacer's turn: a place is held for the call only.
        reply = await self._reply_to(row, chat_id) if target is None else None
        try:
            async with self.pacer.slot(
                target[0] if target else chat_id, paid=paid, edit=target is not None
            ):
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
                                parse_mode=parse_mode,
                            ),
                        )
                    except BadRequest as exc:
                        if "not modified" in str(exc).lower():
                            return str(message_id)
                        raise
                    return str(message_id)
                message = await self._call(
                    "Telegram",
                    self.bot.send_message(
                        chat_id,
                        row.body,
                        reply_markup=markup,
                        reply_parameters=reply,
                        parse_mode=parse_mode,
                        **extra,
                    ),
                )
        except RetryAfter as exc:
            raise self._telegram_rate_limited(chat_id, exc) from exc
        except (BadRequest, Forbidden) as exc:
            raise PermanentError(f"Telegram refused: {exc}") from exc
        # The request's message id is stored with the row's settlement (`attempts.settle_sent`).
        return str(message.message_id)

    def _telegram_rate_limited(self, chat_id: int, exc: Any) -> RetryLater:
        """Telegram's 429: keep that chat and the bot quiet for its `retry_after`; the row waits."""
        delay = exc.retry_after
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        self.pacer.hold(chat_id, seconds)
        return RetryLater(seconds, f"Telegram rate limit: retry after {seconds:g}s")

    async def _reply_to(self, row: t.Notification, chat_id: int) -> Any:
        """The request's message a row answers (a nudge, `reply_to_request`), when it is in this
        chat; None otherwise. Sent even if that message is gone (`allow_sending_without_reply`)."""
        if not row.payload.get("reply_to_request") or row.request_id is None:
            return None
        from telegram import ReplyParameters

        request = await t.JobRequest.get_or_none(id=row.request_id)
        if request is None or request.telegram_message_id is None:
            return None
        if int(request.telegram_chat_id or chat_id) != chat_id:
            return None
        return ReplyParameters(request.telegram_message_id, allow_sending_without_reply=True)

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
        chat = int(chat_id if chat_id is not None else row.recipient)
        try:
            async with self.pacer.slot(chat, edit=True):
                await self._call(
                    "Telegram",
                    self.bot.edit_message_reply_markup(
                        chat_id=chat_id, message_id=message_id, reply_markup=None
                    ),
                )
        except RetryAfter as exc:
            raise self._telegram_rate_limited(chat, exc) from exc
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

    async def _find_sms(self, row: t.Notification) -> str | None:
        """The SID of this row's SMS if Twilio has it (an attempt whose answer was lost), or None.

        Twilio has no idempotency key, so the row is its own client reference: Twilio's Messages
        list, filtered by `To` and `From`, newest first, is searched for a message with the row's
        body created since the row was, whose SID no other row of ours has recorded. A lookup
        Twilio refuses (a compatible provider without the list) finds nothing: the SMS is sent.
        """
        from twilio.base.exceptions import TwilioRestException

        listing = self.twilio.messages.list_async(
            to=row.recipient, from_=self.twilio_from, limit=LOOKUP_LIMIT, page_size=LOOKUP_LIMIT
        )
        try:
            found = await self._call("Twilio", listing)
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise
            log.warning("Twilio message lookup refused (%s): sending again", exc.status)
            return None
        since = row.created_at - LOOKUP_CLOCK_SKEW
        candidates = [
            m
            for m in found
            if m.sid
            and (m.body or "").endswith(row.body)  # a trial account prefixes the body
            and (m.date_created is None or m.date_created >= since)
        ]
        if not candidates:
            return None
        taken = set(
            await t.Notification.filter(provider_id__in=[m.sid for m in candidates])
            .exclude(id=row.id)
            .values_list("provider_id", flat=True)
        )
        for message in reversed(candidates):  # the oldest first: the first attempt's
            if message.sid not in taken:
                log.info(
                    "SMS %d to %s was sent already (%s): not sending it again",
                    row.id,
                    row.recipient,
                    message.sid,
                )
                return str(message.sid)
        return None
