"""The SMTP provider call of the outbox sender (`SMTP_URL`, through aiosmtplib).

`smtp://user:pass@host:port` sends in the clear unless the server offers STARTTLS (then it is
used); `smtps://` is TLS from the first byte. A 5xx answer (a refused sender, recipient or
message) is permanent: the notification fails and the core sends it on by the next channel and
alerts staff. A 4xx answer, a dropped connection or a timeout is a failed attempt, retried. A
session that never got as far as the message (refused, dropped before it, a TLS handshake that
failed: an untrusted certificate) is `MailServerUnreachable`: nothing was sent, so the retry simply
sends; only a failure once the message is under way may have delivered it.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import unquote, urlparse

from models import tables as t
from notifications.providers import PermanentError


class MailServerUnreachable(ConnectionRefusedError):
    """No session fit to carry the message: nothing of it was sent.

    A `ConnectionRefusedError` because that is what the sender knows as "the provider was never
    reached" (`notifications.attempts.outcome_unknown`); aiosmtplib's own connection errors are
    plain `OSError`s, which read as "the answer was lost after sending".
    """


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail, from `SMTP_URL` and `SMTP_FROM`."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None
    sender: str

    @classmethod
    def from_url(cls, url: str, sender: str) -> SmtpSettings:
        """Parse `SMTP_URL` (checked at start by `bot.config`)."""
        parsed = urlparse(url)
        implicit_tls = parsed.scheme == "smtps"
        return cls(
            host=parsed.hostname or "localhost",
            port=parsed.port or (465 if implicit_tls else 25),
            implicit_tls=implicit_tls,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            sender=sender,
        )


def build_message(row: t.Notification, sender: str) -> EmailMessage:
    """The email of an outbox row: its body as the plain part, `payload.html` as the HTML one."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = str(row.payload.get("subject") or "Message from dispatch")
    message["Message-ID"] = make_msgid(f"n{row.id}", domain=sender.rpartition("@")[2] or None)
    message.set_content(row.body)
    html = row.payload.get("html")
    if html:
        message.add_alternative(str(html), subtype="html")
    return message


async def send_email(smtp: SmtpSettings, row: t.Notification, seconds: float) -> str:
    """Send one outbox row by SMTP; returns its Message-ID. Raises PermanentError on a 5xx."""
    import aiosmtplib

    message = build_message(row, smtp.sender)
    kwargs: dict[str, Any] = {
        "hostname": smtp.host,
        "port": smtp.port,
        "username": smtp.username,
        "password": smtp.password,
        "use_tls": smtp.implicit_tls,
        "timeout": seconds,
    }
    if smtp.implicit_tls:
        kwargs["start_tls"] = False
    client = aiosmtplib.SMTP(**kwargs)
    try:
        try:
            # Connect, TLS (implicit or STARTTLS when offered), EHLO and login: no message yet.
            await client.connect()
        except OSError as exc:  # refused, dropped, timed out, or a TLS handshake that failed
            if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500:
                raise  # a 5xx greeting refuses the message like any other 5xx (below)
            raise MailServerUnreachable(
                f"mail server {smtp.host}:{smtp.port} not reached: {exc}"
            ) from exc
        async with client:
            await client.send_message(message)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        if all(code >= 500 for code in codes):
            text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise PermanentError(f"mail server refused: {text}") from exc
        raise
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code >= 500:
            raise PermanentError(f"mail server refused ({exc.code}): {exc.message}") from exc
        raise
    return str(message["Message-ID"])
