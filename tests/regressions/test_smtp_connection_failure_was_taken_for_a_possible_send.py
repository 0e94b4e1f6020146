"""Bug: an email whose connection failed was treated as one that may have arrived.

aiosmtplib's connection errors are `OSError`s, which the sender reads as "the call went out and
the answer was lost". A refused connection or a failed TLS handshake (an untrusted certificate,
`smtps://` to a plain server) sends nothing, yet the log said "it may have arrived", the retry,
once due, was held back until the whole provider timeout of the failed attempt had passed, and
`dispatch_outbox_mid_send_resolved_total{channel="email"}` counted it as found mid-send. Now
`send_email` says when the session never got as far as the message, and the retry goes when due.
"""

from __future__ import annotations

import asyncio

import pytest

from emulators.smtp import SmtpSink
from models import tables as t
from models.views import utcnow
from notifications import metrics
from notifications.email_transport import SmtpSettings
from notifications.sender import OutboxSender
from tests.e2e.conftest import free_port
from tests.regressions.conftest import queue

ANN = "ann@example.com"


def mid_send_resends() -> float:
    return metrics.MID_SEND_RESOLVED.labels("email", "resent")._value.get()


async def send_once(url: str) -> None:
    smtp = SmtpSettings.from_url(url, "dispatch@example.com")
    await OutboxSender(smtp=smtp, provider_timeout=10).drain_once()


@pytest.mark.parametrize("failure", ["nothing listening", "smtps to a plain server"])
async def test_a_retry_after_a_failed_connection_goes_as_soon_as_it_is_due(
    db: str, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    sink = SmtpSink()
    port = free_port()
    row_id = await queue("email", ANN, "Your job on Monday")
    resent_before = mid_send_resends()
    try:
        if failure == "nothing listening":
            await send_once(f"smtp://127.0.0.1:{port}")
            await sink.start(port)  # the mail server is back
        else:
            await sink.start(port)
            await send_once(f"smtps://127.0.0.1:{port}")  # SMTP_URL is corrected below

        first = await t.Notification.get(id=row_id)
        assert (first.status, first.attempts) == ("queued", 1) and sink.mails == []
        [warning] = [
            r.getMessage() for r in caplog.records if "failed (attempt 1" in r.getMessage()
        ]
        assert "it may have arrived" not in warning and "connection" in warning

        # Once due (the backoff is the sender's schedule), the retry sends at once.
        await t.Notification.filter(id=row_id).update(next_attempt_at=utcnow())
        await send_once(f"smtp://127.0.0.1:{port}")
        [mail] = await sink.wait_for(ANN)
        assert mail.text.strip() == "Your job on Monday"
        row = await t.Notification.get(id=row_id)
        assert (row.status, row.attempts) == ("sent", 2)
        assert mid_send_resends() == resent_before
    finally:
        await sink.stop()


@pytest.mark.parametrize(("greeting", "status"), [("421", "queued"), ("554", "failed")])
async def test_a_greeting_refusal_keeps_its_meaning(
    db: str, caplog: pytest.LogCaptureFixture, greeting: str, status: str
) -> None:
    """A 4xx greeting is a retry of a message never sent; a 5xx greeting still fails it at once."""

    async def refuse(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{greeting} mail.example.com not now\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    row_id = await queue("email", ANN, "Your job on Monday")
    try:
        await send_once(f"smtp://127.0.0.1:{port}")
    finally:
        server.close()
        await server.wait_closed()

    row = await t.Notification.get(id=row_id)
    assert (row.status, row.attempts) == (status, 1)
    assert greeting in (row.error or "")
    assert not any("it may have arrived" in r.getMessage() for r in caplog.records)
