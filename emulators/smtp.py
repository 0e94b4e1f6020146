"""An SMTP sink on aiosmtpd: records every message it accepts, and can refuse the next ones.

Used by `dispatchbot demo` and the tests as the mail server behind `SMTP_URL`. It speaks real
SMTP (the production client, aiosmtplib, talks to it unchanged), binds to 127.0.0.1 only, and
runs on the caller's event loop::

    sink = SmtpSink()
    port = await sink.start()        # SMTP_URL = f"smtp://127.0.0.1:{port}"
    ...
    [mail] = await sink.wait_for("ann@example.com")
    await sink.stop()
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from emulators.common import _poll_until


@dataclass
class Mail:
    """One accepted message: envelope, headers and its plain and HTML parts."""

    sender: str
    recipients: list[str]
    subject: str
    text: str
    html: str | None
    message: EmailMessage = field(repr=False)


class SmtpSink:
    """The mail server of the demo and the tests."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self._refusals: list[tuple[int, str]] = []
        self._server: asyncio.Server | None = None

    def refuse_next(self, code: int = 550, text: str = "5.1.1 mailbox unavailable") -> None:
        """Refuse the next recipient with `code` (5xx permanent, 4xx temporary)."""
        self._refusals.append((code, text))

    def mails_to(self, address: str) -> list[Mail]:
        """Messages accepted for `address`, oldest first."""
        return [m for m in self.mails if address in m.recipients]

    async def wait_for(
        self,
        address: str,
        timeout: float = 10.0,  # noqa: ASYNC109 - test-helper API, mirrors asyncio.wait_for
        *,
        count: int = 1,
    ) -> list[Mail]:
        """Wait until `count` messages for `address` arrived; returns them."""
        await _poll_until(
            lambda: len(self.mails_to(address)) >= count,
            timeout,
            lambda: f"mails so far: {[(m.recipients, m.subject) for m in self.mails]}",
        )
        return self.mails_to(address)

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1 (`port` 0: any free one); returns the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="smtp-sink.local"), "127.0.0.1", port
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close open sessions."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # aiosmtpd handler hooks

    async def handle_RCPT(
        self,
        _server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        _options: Any,
    ) -> str:
        if self._refusals:
            code, text = self._refusals.pop(0)
            return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        # SMTP lines end in CRLF; the parts read as text end theirs in LF.
        raw = raw.replace(b"\r\n", b"\n")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        text_part = message.get_body(("plain",))
        html_part = message.get_body(("html",))
        self.mails.append(
            Mail(
                sender=str(envelope.mail_from),
                recipients=list(envelope.rcpt_tos),
                subject=str(message["Subject"] or ""),
                text=text_part.get_content() if text_part is not None else "",
                html=html_part.get_content() if html_part is not None else None,
                message=message,
            )
        )
        return "250 Message accepted"
