"""`SMTP_URL`'s TLS modes (issue 9) against real local mail servers.

The production client (aiosmtplib, through the outbox sender and `send_email`) talks to aiosmtpd
servers started here: one that offers STARTTLS, one that requires it, one speaking TLS from the
first byte (`smtps://`), and a plain one. Their certificates are self-signed for `localhost` and
`127.0.0.1`, made with the `openssl` CLI; the client trusts one of them the way production trusts
a certificate authority, through the system's default trust store (`SSL_CERT_FILE` here). Each
server records whether the session that carried a message was encrypted, so "delivered" below
always says how. SQLite only: nothing here depends on the backend.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from emulators.smtp import SmtpSink
from models import tables as t
from models.views import utcnow
from notifications.email_transport import SmtpSettings
from notifications.sender import OutboxSender

ZOE = "zoe@example.com"
SUBJECT = "Zoë, your job in Łódź"
BODY = "Cześć Zoë,\nthe job is at ul. Piotrkowska 1, Łódź.\n"
HTML = "<p>Cześć Zoë, the job is in <b>Łódź</b>.</p>"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite database (overrides the both-backends fixture of tests/conftest.py)."""
    return f"sqlite://{tmp_path}/test.sqlite3"


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(directory: Path, name: str) -> Certificate:
    """A self-signed certificate for `localhost` and `IP:127.0.0.1`, valid for a day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl CLI is needed to make test certificates")
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    names = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    arguments += [
        "-subj",
        "/CN=localhost",
        "-addext",
        names,
        "-keyout",
        str(key),
        "-out",
        str(cert),
    ]
    subprocess.run([openssl, *arguments], check=True, capture_output=True)
    return Certificate(cert, key)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Certificate]:
    """`trusted` (the client's trust store holds it) and `stranger` (nobody vouches for it)."""
    directory = tmp_path_factory.mktemp("certificates")
    return {name: make_certificate(directory, name) for name in ("trusted", "stranger")}


@pytest.fixture(autouse=True)
def trust_store(monkeypatch: pytest.MonkeyPatch, certificates: dict[str, Certificate]) -> None:
    """The system's default trust store, as OpenSSL reads it, holds only the `trusted` one."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates["trusted"].cert))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@dataclass(frozen=True)
class Seen:
    """How the session that carried one message was protected, as the server saw it."""

    encrypted: bool  # TLS on the transport when DATA came (STARTTLS or implicit)
    starttls: bool  # upgraded by STARTTLS (aiosmtpd's `session.ssl`)
    login: str | None  # who authenticated, if anyone


class TlsSink(SmtpSink):
    """The SMTP sink, serving `plain`, `starttls` (offered), `require` (STARTTLS) or `implicit`."""

    def __init__(
        self,
        mode: str,
        certificate: Certificate | None = None,
        *,
        logins: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.certificate = certificate
        self.logins = logins
        self.seen: list[Seen] = []
        self.envelopes_started: list[tuple[str, bool]] = []  # MAIL FROM and whether encrypted
        self.raw: list[tuple[list[str], bytes]] = []  # recipients and the bytes DATA carried

    async def start(self, port: int = 0) -> int:
        context = self.certificate.server_context() if self.certificate else None
        options: dict[str, Any] = {"hostname": "smtp-tls.local"}
        if self.mode in ("starttls", "require"):
            options.update(tls_context=context, require_starttls=self.mode == "require")
        if self.logins is not None:
            options.update(authenticator=self._authenticate, auth_required=True)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, **options),
            "127.0.0.1",
            port,
            ssl=context if self.mode == "implicit" else None,
        )
        return int(self._server.sockets[0].getsockname()[1])

    def _authenticate(
        self, _server: SMTP, _session: Session, _envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.logins is not None and isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        return AuthResult(success=self.logins.get(user) == password, auth_data=user)

    async def handle_MAIL(
        self, server: SMTP, _session: Session, envelope: Envelope, address: str, _options: Any
    ) -> str:
        self.envelopes_started.append((address, _encrypted(server)))
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data if session.authenticated else None
        self.seen.append(Seen(_encrypted(server), session.ssl is not None, login))
        self.raw.append((list(envelope.rcpt_tos), bytes(envelope.original_content or b"")))
        return await super().handle_DATA(server, session, envelope)


def _encrypted(server: SMTP) -> bool:
    return (
        server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
    )


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[TlsSink], Awaitable[int]]]:
    """Start a sink (returns its port); every one started is stopped after the test."""
    started: list[TlsSink] = []

    async def start(sink: TlsSink) -> int:
        started.append(sink)
        return await sink.start()

    yield start
    for sink in started:
        await sink.stop()


async def queue_email(recipient: str = ZOE) -> int:
    """One due email row, as the deciding transaction writes it; returns its id."""
    row = await t.Notification.create(
        channel="email",
        recipient=recipient,
        template="job_request_email",
        body=BODY,
        payload={"subject": SUBJECT, "html": HTML},
        next_attempt_at=utcnow(),
    )
    return int(row.id)


async def send_through(url: str) -> t.Notification:
    """Queue one email, let the outbox sender try it once with `SMTP_URL=url`; returns the row."""
    row_id = await queue_email()
    smtp = SmtpSettings.from_url(url, "dispatch@example.com")
    await OutboxSender(smtp=smtp, provider_timeout=10).drain_once()
    return await t.Notification.get(id=row_id)


def assert_intact(sink: TlsSink) -> None:
    """One message reached Zoë, and its non-ASCII subject, text and HTML arrived unchanged."""
    [(recipients, raw)] = sink.raw
    assert recipients == [ZOE]
    head = raw.partition(b"\r\n\r\n")[0]
    head.decode("ascii")  # no SMTPUTF8 here: the headers travel RFC 2047-encoded
    received = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(received, EmailMessage)
    assert received["From"] == "dispatch@example.com" and received["To"] == ZOE
    assert received["Subject"] == SUBJECT
    text, html = received.get_body(("plain",)), received.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == BODY
    assert html.get_content().strip() == HTML


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_smtp_url_upgrades_with_starttls_when_the_server_offers_it(
    db: str, certificates: dict[str, Certificate], serve: Any, host: str
) -> None:
    sink = TlsSink("starttls", certificates["trusted"])
    port = await serve(sink)

    row = await send_through(f"smtp://{host}:{port}")

    assert row.status == "sent" and row.error is None
    assert sink.seen == [Seen(encrypted=True, starttls=True, login=None)]
    # Not even the envelope went in the clear.
    assert sink.envelopes_started == [("dispatch@example.com", True)]
    assert_intact(sink)


async def test_credentials_go_only_after_starttls_and_are_url_decoded(
    db: str, certificates: dict[str, Certificate], serve: Any
) -> None:
    user, password = "mailer@example.com", "p@ss:wörd/1"
    sink = TlsSink("require", certificates["trusted"], logins={user: password})
    port = await serve(sink)

    row = await send_through(
        f"smtp://{quote(user, safe='')}:{quote(password, safe='')}@localhost:{port}"
    )

    assert row.status == "sent", row.error
    # aiosmtpd offers AUTH only inside TLS: a login at all proves it was not sent in the clear.
    assert sink.seen == [Seen(encrypted=True, starttls=True, login=user)]
    assert_intact(sink)


async def test_smtps_url_speaks_tls_from_the_first_byte(
    db: str, certificates: dict[str, Certificate], serve: Any
) -> None:
    sink = TlsSink("implicit", certificates["trusted"])
    port = await serve(sink)

    row = await send_through(f"smtps://localhost:{port}")

    assert row.status == "sent" and row.error is None
    assert sink.seen == [Seen(encrypted=True, starttls=False, login=None)]
    assert_intact(sink)


@pytest.mark.parametrize("mode", ["require", "starttls", "implicit"])
async def test_an_untrusted_certificate_is_a_failed_attempt_never_a_send_in_the_clear(
    db: str, certificates: dict[str, Certificate], serve: Any, mode: str
) -> None:
    """Required or only offered, a STARTTLS the client cannot verify stops the send."""
    sink = TlsSink(mode, certificates["stranger"])
    port = await serve(sink)
    scheme = "smtps" if mode == "implicit" else "smtp"

    row = await send_through(f"{scheme}://localhost:{port}")

    # A failed attempt: retried later (and, once the retries run out, sent by the next channel).
    assert row.status == "queued" and row.attempts == 1
    assert row.error is not None and "CERTIFICATE_VERIFY_FAILED" in row.error
    assert row.next_attempt_at is not None and row.next_attempt_at > utcnow()
    assert sink.mails == [] and sink.envelopes_started == []


async def test_a_plain_server_without_starttls_gets_the_mail_in_the_clear(
    db: str, serve: Any
) -> None:
    """Documented: `smtp://` uses STARTTLS when offered; a server without it gets clear text."""
    sink = TlsSink("plain")
    port = await serve(sink)

    row = await send_through(f"smtp://localhost:{port}")

    assert row.status == "sent" and row.error is None
    assert sink.seen == [Seen(encrypted=False, starttls=False, login=None)]
    assert_intact(sink)


async def test_smtps_to_a_server_that_only_speaks_plain_smtp_is_a_failed_attempt(
    db: str, serve: Any
) -> None:
    """`smtps://` never falls back to plain SMTP."""
    sink = TlsSink("plain")
    port = await serve(sink)

    row = await send_through(f"smtps://localhost:{port}")

    assert row.status == "queued" and row.attempts == 1 and row.error
    assert sink.mails == [] and sink.envelopes_started == []
