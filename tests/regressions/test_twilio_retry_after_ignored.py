"""Bug: Twilio's `Retry-After` was ignored.

A 429 from Twilio counted as a failed attempt and was retried on the sender's own backoff, while
the other SMS rows went on calling Twilio at once. Now the twilio client keeps the header, and the
sender calls Twilio for no SMS before that time; a rate limit costs the row no attempt.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from models import tables as t
from notifications.sender import OutboxSender
from notifications.twilio_transport import MAX_RETRY_AFTER, parse_retry_after
from tests.regressions.conftest import FROM, Providers, queue, until

FIRST, SECOND = "+4915100000003", "+4915100000004"


async def test_no_sms_is_sent_before_twilio_s_retry_after(providers: Providers) -> None:
    p = providers
    p.sms.fail_next(status=429, retry_after=2)
    sender = OutboxSender(twilio=p.twilio, twilio_from=FROM, poll_interval=0.05)
    limited = await queue("sms", FIRST, "first")
    task = asyncio.create_task(sender.run())
    try:
        await until(lambda: bool(p.sms.requests), what="the rate-limited call")
        other = await queue("sms", SECOND, "second")
        sender.wake()
        await p.sms.wait_for(lambda messages: len(messages) == 2, timeout=15)

        first, *later = p.sms.requests
        assert first["status"] == 429 and [r["status"] for r in later] == [201, 201]
        assert all(r["at"] >= first["at"] + 2 for r in later), "Twilio was called too early"

        async def settled() -> bool:
            return not await t.Notification.exclude(status="sent").exists()

        await until(settled, what="both rows marked sent")
        row = await t.Notification.get(id=limited)
        assert row.attempts == 1, "a rate limit costs no attempt"
        assert (await t.Notification.get(id=other)).attempts == 1
    finally:
        sender.stop()
        await task


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        (" 0.5 ", 0.5),
        ("-3", 0.0),
        ("99999999", MAX_RETRY_AFTER),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_and_bounded(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(header, now=now) == 30.0
