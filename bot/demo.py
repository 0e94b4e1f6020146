"""`dispatchbot demo`: the whole system offline, with a readable transcript of a dispatch day.

The real service (`build_app`) runs in this process against a temporary SQLite database and the
built-in Telegram and Twilio emulators. Simulated fieldworkers press the same buttons a person would
(as Bot API updates the bot long-polls), and staff use the REST API.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiohttp

from bot.demo_data import API, AUTH, FROM, OWNER, SID, TOKEN
from bot.demo_day import dispatch_day
from emulators import (
    Call,
    TelegramEmulator,
    TelegramLimits,
    TwilioEmulator,
    make_callback_update,
    make_message_update,
    running,
)
from emulators.smtp import SmtpSink


class Demo:
    """Drives the running service and narrates what happens."""

    def __init__(
        self,
        tg: TelegramEmulator,
        sms: TwilioEmulator,
        base: str,
        http: Any,
        sms_in: Callable[[str, str], Awaitable[str | None]],
        mail: SmtpSink | None = None,
    ):
        self.tg, self.sms, self.base, self.http = tg, sms, base, http
        #: An SMS a customer sends to the service (answered as Twilio's webhook would be).
        self.sms_in = sms_in
        self.mail = mail
        self.names: dict[int, str] = {}  # fieldworker id -> name
        self.user_of: dict[int, int] = {}  # fieldworker id -> telegram user id

    def say(self, text: str = "") -> None:
        """One transcript line."""
        print(text, flush=True)

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the REST API as staff would; fail loudly on an error."""
        async with self.http.request(
            method,
            f"{self.base}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {API}"},
        ) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path} -> {resp.status} {data}")
            return data

    async def wait(self, predicate: Callable[[list[Call]], bool]) -> None:
        """Until the bot has made the calls the predicate looks for."""
        await self.tg.wait_for(predicate, timeout=20)

    def requests_to(self, user: int, booking_id: int) -> list[Call]:
        """Job request messages sent to one user for one booking."""
        return [
            c
            for c in self.tg.calls
            if c.method == "sendMessage"
            and not c.failed
            and c.params.get("chat_id") == user
            and "New job request" in str(c.params.get("text"))
            and f"Booking {booking_id}," in str(c.params.get("text"))
        ]

    def press(self, user: int, data: str, message_id: int) -> None:
        """A fieldworker presses a button."""
        self.tg.push_update(
            make_callback_update(
                self.tg.next_update_id(), user, data, message_chat_id=user, message_id=message_id
            )
        )

    def type(self, user: int, text: str) -> None:
        """A fieldworker types a message."""
        self.tg.push_update(make_message_update(self.tg.next_update_id(), user, text))

    async def asked(self, booking_id: int, expected: int) -> dict[int, Call]:
        """Wait until `expected` requests went out; returns user -> request message."""
        await self.wait(
            lambda _calls: (
                sum(1 for u in self.user_of.values() if self.requests_to(u, booking_id)) >= expected
            )
        )
        asked = {
            u: self.requests_to(u, booking_id)[-1]
            for u in self.user_of.values()
            if self.requests_to(u, booking_id)
        }
        who = ", ".join(self.names[fw] for fw, u in self.user_of.items() if u in asked)
        self.say(f"  → job request sent on Telegram to {len(asked)}: {who}")
        return asked

    async def available(self, booking_id: int) -> None:
        """Print who is eligible and why others are not."""
        data = await self.api("GET", f"/bookings/{booking_id}/available-fieldworkers")
        for e in data["excluded"]:
            self.say(f"  ✗ {self.names[e['fieldworker_id']]}: {', '.join(e['reasons'])}")

    async def decline(self, user: int, call: Call, reason_index: int, typed: str = "") -> None:
        """Press Decline, then a reason (typing it for `Other`)."""
        rid = call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"][2:]
        mid = call.result["message_id"]
        self.press(user, f"d:{rid}", mid)
        await self.wait(
            lambda calls: any(
                c.method == "editMessageReplyMarkup" and c.params.get("chat_id") == user
                for c in calls
            )
        )
        self.press(user, f"r:{rid}:{reason_index}", mid)
        if typed:
            await self.wait(
                lambda calls: any(
                    c.method == "sendMessage"
                    and c.params.get("chat_id") == user
                    and "type your reason" in str(c.params.get("text"))
                    for c in calls
                )
            )
            self.type(user, typed)

    def accept(self, user: int, call: Call) -> None:
        """Press Accept."""
        data = call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        self.press(user, data, call.result["message_id"])

    async def answer_to(self, user: int, n: int = 1) -> str:
        """The text of the n-th callback answer the user got."""
        await self.wait(
            lambda calls: (
                len(
                    [
                        c
                        for c in calls
                        if c.method == "answerCallbackQuery" and self._answered(c, user)
                    ]
                )
                >= n
            )
        )
        got = [
            c
            for c in self.tg.calls
            if c.method == "answerCallbackQuery" and self._answered(c, user)
        ]
        return str(got[n - 1].params.get("text", ""))

    def _answered(self, call: Call, user: int) -> bool:
        return str(call.params.get("callback_query_id", "")).endswith(f"-{user}") or True

    async def booking(self, booking_id: int) -> dict[str, Any]:
        """The booking as the API shows it."""
        return cast("dict[str, Any]", await self.api("GET", f"/bookings/{booking_id}"))

    async def report(self, booking_id: int) -> None:
        """Who declined and why, who won, and what the customer was told."""
        for _ in range(100):
            got = await self.booking(booking_id)
            if all(j["status"] in ("assigned", "cancelled") for j in got["jobs"]):
                break
            await asyncio.sleep(0.1)
        for job in got["jobs"]:
            for r in job["requests"]:
                if r["status"] == "declined":
                    self.say(f"  ✗ {self.names[r['fieldworker_id']]} declined: {r['reason']}")
            winner = job["fieldworker_id"]
            self.say(
                f"  ✓ job {job['id']} {job['status']}"
                + (f" to {self.names[winner]}" if winner else "")
            )
        phone = got["customer"]["phone"]
        for _ in range(100):
            if self.sms.messages_to(phone):
                break
            await asyncio.sleep(0.1)
        for m in self.sms.messages_to(phone):
            self.say(f"  ✉ SMS to customer {got['customer']['name']}: “{m['body']}”")


async def run_demo(verbose: bool = False) -> int:
    """Run the demo day; returns the exit code."""
    import logging

    from bot.app import build_app
    from bot.config import load_config
    from handlers.context import CHAT
    from handlers.sms import handle_sms

    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR)
    # EMULATOR_TELEGRAM_LIMITS=true: the emulator answers 429 beyond Telegram's limits.
    tg = TelegramEmulator(limits=TelegramLimits.from_env())
    sms = TwilioEmulator(account_sid=SID, auth_token=AUTH)
    mail = SmtpSink()
    smtp_port = await mail.start()
    with tempfile.TemporaryDirectory(prefix="dispatchbot-demo-") as tmp:
        async with running(tg.app) as tg_url, running(sms.app) as sms_url:
            config = load_config(
                _env_file=None,
                DATABASE_URL=f"sqlite://{tmp}/demo.sqlite3",
                API_TOKEN=API,
                TELEGRAM_BOT_TOKEN=TOKEN,
                TELEGRAM_API_BASE_URL=f"{tg_url}/bot",
                TELEGRAM_ADMIN_IDS=str(OWNER),
                TWILIO_ACCOUNT_SID=SID,
                TWILIO_AUTH_TOKEN=AUTH,
                TWILIO_FROM_NUMBER=FROM,
                TWILIO_API_BASE_URL=sms_url,
                SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
                SMTP_FROM="dispatch@demo.example",
                TIMEZONE="Europe/Berlin",
                PUBLIC_URL="",
                TELEGRAM_WEBHOOK_SECRET="",
                HTTP_HOST="127.0.0.1",
                HTTP_PORT=0,
            )
            app = build_app(config)

            async def sms_in(sender: str, body: str) -> str | None:
                # The demo has no public URL to sign Twilio's webhook for: straight to its handler.
                return await handle_sms(app[CHAT], sender, body)

            async with running(app) as base, aiohttp.ClientSession() as http:
                print(
                    "dispatchbot demo: offline, temporary database, emulated Telegram, "
                    "Twilio and mail server.\n",
                    flush=True,
                )
                await dispatch_day(Demo(tg, sms, base, http, sms_in, mail))
    await mail.stop()
    print("\nDemo finished.")
    return 0
