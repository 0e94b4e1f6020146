"""End-to-end harness: `dispatchbot run` as a subprocess, driven the way Telegram and Twilio do.

The Bot API and Twilio emulators run in the test process on loopback; the service is pointed at them
with TELEGRAM_API_BASE_URL and TWILIO_API_BASE_URL. Tests POST real Update JSON to the webhook with
the secret header, and form posts signed exactly as Twilio signs them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from emulators import (
    TelegramEmulator,
    TwilioEmulator,
    make_callback_update,
    make_message_update,
    running,
)
from tests.conftest import require_postgres, reset_postgres

TOKEN = "123456:TEST-token"
SECRET = "webhook-secret_1"
API_TOKEN = "api-test-token"
SID = "AC" + "0" * 32
AUTH = "twilio-auth-token"
FROM = "+15550000000"
ADMIN_ID = 900001
#: TELEGRAM_CHAT_INTERVAL_S for the service under test: the Bot API emulator enforces no limits,
#: and several messages to one chat (staff alerts, a request then its result) would otherwise
#: take a second each. Telegram's own pacing is proven in tests/unit/test_pacing.py and
#: tests/integration/test_telegram_limits.py at the real limits; a test that needs them here
#: passes TELEGRAM_CHAT_INTERVAL_S="1" in `extra_env`.
CHAT_INTERVAL_S = "0.02"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """A running `dispatchbot run` and its emulators."""

    base: str
    tg: TelegramEmulator
    sms: TwilioEmulator
    http: aiohttp.ClientSession
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    update_ids: list[int] = field(default_factory=lambda: [1000])

    def next_update_id(self) -> int:
        """A fresh update id."""
        self.update_ids[0] += 1
        return self.update_ids[0]

    async def api(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        """Call the REST API with the bearer token; returns (status, JSON)."""
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with self.http.request(
            method, f"{self.base}/api/v1{path}", json=body, headers=headers, **kw
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    async def post_update(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        """POST an Update to the webhook as Telegram does; returns the status.

        Like Telegram, the emulator runs a Bot API method in the answer's body (a press's answer).
        """
        return await self.tg.deliver(
            self.http, f"{self.base}/telegram/webhook", update, secret=secret
        )

    async def message(self, user_id: int, text: str, **kw: Any) -> int:
        """A user sends a message."""
        return await self.post_update(
            make_message_update(self.next_update_id(), user_id, text, **kw)
        )

    async def press(self, user_id: int, data: str, chat_id: int, message_id: int) -> int:
        """A user presses an inline button."""
        return await self.post_update(
            make_callback_update(
                self.next_update_id(), user_id, data, message_chat_id=chat_id, message_id=message_id
            )
        )

    async def sms_in(
        self, sender: str, body: str, sid: str, *, sign: bool = True
    ) -> tuple[int, str]:
        """An inbound SMS form post, signed as Twilio signs it."""
        form = {"From": sender, "To": FROM, "Body": body, "MessageSid": sid, "AccountSid": SID}
        url = f"{self.base}/sms/inbound"
        headers = {}
        if sign:
            headers["X-Twilio-Signature"] = RequestValidator(AUTH).compute_signature(url, form)
        async with self.http.post(url, data=form, headers=headers) as resp:
            return resp.status, await resp.text()


async def add_fieldworker(
    s: Service, name: str, phone: str, lat: float, lon: float
) -> dict[str, Any]:
    """A plumbing fieldworker reachable on Telegram once linked."""
    status, fw = await s.api(
        "POST",
        "/fieldworkers",
        {
            "name": name,
            "phone": phone,
            "channels": ["telegram"],
            "services": ["plumb"],
            "base_location": {"lat": lat, "lon": lon},
            "timezone": "Europe/Berlin",
            "working_hours": None,
            "status": "active",
        },
    )
    assert status == 201, fw
    return dict(fw)


async def start_service(
    tmp_path: Path, database_url: str, **extra_env: str
) -> AsyncIterator[Service]:
    """Start the emulators and `dispatchbot run`; stop them afterwards."""
    tg = TelegramEmulator()
    sms = TwilioEmulator(account_sid=SID, auth_token=AUTH)
    async with running(tg.app) as tg_url, running(sms.app) as sms_url:
        async for svc in run_process(tmp_path, database_url, tg, sms, tg_url, sms_url, **extra_env):
            yield svc


def service_env(
    database_url: str, port: int, tg_url: str, sms_url: str, **extra_env: str
) -> dict[str, str]:
    """The environment of a `dispatchbot run` on `port`, pointed at the emulators."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TELEGRAM_"))},
        "DATABASE_URL": database_url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "API_TOKEN": API_TOKEN,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"{tg_url}/bot",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_ADMIN_IDS": str(ADMIN_ID),
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": AUTH,
        "TWILIO_FROM_NUMBER": FROM,
        "TWILIO_API_BASE_URL": sms_url,
        "TIMEZONE": "UTC",
        "TELEGRAM_CHAT_INTERVAL_S": CHAT_INTERVAL_S,
        **extra_env,
    }


#: Seconds a starting `dispatchbot run` may take to answer /healthz: about one on an idle machine,
#: many more on a busy one (the suite's workers start services at the same time).
START_TIMEOUT_S = 60.0


async def until_healthy(
    http: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]
) -> None:
    """Poll /healthz every 50 ms until it answers 200 or the process exits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while proc.poll() is None:
        try:
            async with http.get(f"{base}/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if loop.time() >= deadline:
            raise AssertionError(f"service did not become healthy within {START_TIMEOUT_S:.0f}s")
        await asyncio.sleep(0.05)


async def run_process(
    tmp_path: Path,
    database_url: str,
    tg: TelegramEmulator,
    sms: TwilioEmulator,
    tg_url: str,
    sms_url: str,
    *,
    name: str = "service",
    **extra_env: str,
) -> AsyncIterator[Service]:
    """One `dispatchbot run` process against running emulators.

    At the end it is stopped with SIGTERM, which must end it cleanly (exit 0), and its log must
    hold no secret and no traceback.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = service_env(database_url, port, tg_url, sms_url, **extra_env)
    log_path = tmp_path / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115, ASYNC230 - closed below
    proc = subprocess.Popen(  # noqa: ASYNC220 - the service outlives this call
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    async with aiohttp.ClientSession() as http:
        try:
            await until_healthy(http, base, proc)
            if proc.poll() is not None:
                log.flush()
                raise AssertionError("service exited:\n" + log_path.read_text())
            yield Service(base, tg, sms, http, proc, env)
        finally:
            proc.terminate()
            try:
                code = await asyncio.to_thread(proc.wait, 15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = None
            log.close()
    text = log_path.read_text(errors="replace")
    assert code == 0, f"SIGTERM must stop the service cleanly (exit {code}):\n{text[-3000:]}"
    leaked = [name for name in ("TOKEN", "SECRET", "API_TOKEN", "AUTH") if globals()[name] in text]
    assert not leaked, f"secrets in the log: {leaked}"
    assert "Traceback" not in text, text[-3000:]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on SQLite, and on PostgreSQL when reachable."""
    if request.param == "postgres":
        require_postgres()
        url = str(request.getfixturevalue("pg_url"))
        await reset_postgres(url)
        return url
    return f"sqlite://{tmp_path}/e2e.sqlite3"


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    """The service on each backend."""
    async for svc in start_service(tmp_path, database_url):
        yield svc
