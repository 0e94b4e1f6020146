"""What an operator meets: start-up errors, migrations, polling, onboarding, retries, timers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.e2e.conftest import ADMIN_ID, API_TOKEN, SECRET, TOKEN, Service, start_service
from tests.e2e.test_core_loop import book, requests_sent, seed


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` with only the given settings (no .env in tmp_path)."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_stops_with_one_line_naming_the_missing_variable(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "run",
        TELEGRAM_BOT_TOKEN=TOKEN,
        PUBLIC_URL="https://dispatch.example.com",
        HTTP_PORT="0",
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TELEGRAM_WEBHOOK_SECRET" in lines[0], result.stderr
    assert TOKEN not in result.stderr, "a secret never appears in a log line"

    result = run_cli(tmp_path, "run", HTTP_PORT="eighty")
    assert result.returncode != 0 and "HTTP_PORT" in result.stderr
    result = run_cli(tmp_path, "run", TIMEZONE="Mars/Olympus")
    assert result.returncode != 0 and "TIMEZONE" in result.stderr


def test_db_upgrade_creates_then_reports_up_to_date(tmp_path: Path, database_url: str) -> None:
    url = database_url
    first = run_cli(tmp_path, "db", "upgrade", DATABASE_URL=url)
    assert first.returncode == 0, first.stderr
    assert "0001_initial" in first.stdout and "0002_history_append_only" in first.stdout
    again = run_cli(tmp_path, "db", "upgrade", DATABASE_URL=url)
    assert again.returncode == 0 and "up to date" in again.stdout


async def test_long_polling_without_twilio_and_phone_onboarding(
    tmp_path: Path, database_url: str
) -> None:
    """No PUBLIC_URL: the bot long-polls getUpdates; no Twilio settings: SMS off, nothing fails."""
    env = {
        "PUBLIC_URL": "",
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_AUTH_TOKEN": "",
        "TWILIO_FROM_NUMBER": "",
    }
    async for s in start_service(tmp_path, database_url, **env):
        assert s.tg.webhook is None and s.tg.calls_of("deleteWebhook")
        published = {c["command"] for c in s.tg.commands()}
        assert {"jobs", "requests", "help", "start"} <= published
        owner_menu = {c["command"] for c in s.tg.commands({"type": "chat", "chat_id": ADMIN_ID})}
        assert {"accept_for", "decline_for", "pend", "assign", "unassigned"} <= owner_menu

        status, _ = await s.api(
            "POST", "/services", {"code": "plumb", "name": "Plumbing", "required_skills": []}
        )
        status, fw = await s.api(
            "POST",
            "/fieldworkers",
            {
                "name": "Pia Poll",
                "phone": "+4915130000001",
                "channels": ["telegram"],
                "services": ["plumb"],
                "base_location": {"lat": 52.52, "lon": 13.40},
                "working_hours": None,
            },
        )
        assert status == 201, fw
        from emulators import make_message_update

        # /start without a code offers the phone button; sharing one's own contact links.
        s.tg.push_update(make_message_update(s.tg.next_update_id(), 6001, "/start"))
        await s.tg.wait_for(
            lambda calls: any(
                c.method == "sendMessage" and "request_contact" in str(c.params.get("reply_markup"))
                for c in calls
            )
        )
        s.tg.push_update(
            make_message_update(
                s.tg.next_update_id(),
                6001,
                None,
                contact={"phone_number": "4915130000001", "user_id": 6001},
            )
        )
        await s.tg.wait_for(
            lambda calls: any("Welcome, Pia Poll" in str(c.params.get("text")) for c in calls)
        )
        # Someone else's contact does not link.
        s.tg.push_update(
            make_message_update(
                s.tg.next_update_id(),
                6002,
                None,
                contact={"phone_number": "4915130000001", "user_id": 6001},
            )
        )
        await s.tg.wait_for(
            lambda calls: any("your own phone number" in str(c.params.get("text")) for c in calls)
        )

        booking = await book(s)
        await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 1)
        s.tg.push_update(make_message_update(s.tg.next_update_id(), 6001, "/requests"))
        await s.tg.wait_for(
            lambda calls: any("Request #" in str(c.params.get("text")) for c in calls)
        )
        call = requests_sent(s.tg.calls)[0]
        from emulators import make_callback_update

        s.tg.push_update(
            make_callback_update(
                s.tg.next_update_id(),
                6001,
                call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
                message_chat_id=6001,
                message_id=call.result["message_id"],
            )
        )
        await s.tg.wait_for("answerCallbackQuery")
        _, got = await s.api("GET", f"/bookings/{booking['id']}")
        assert got["jobs"][0]["status"] == "assigned"
        s.tg.push_update(make_message_update(s.tg.next_update_id(), 6001, "/jobs"))
        await s.tg.wait_for(
            lambda calls: any(
                "Your jobs" in str(c.params.get("text"))
                and "Alexanderplatz" in str(c.params.get("text"))
                for c in calls
            )
        )
        s.tg.push_update(make_message_update(s.tg.next_update_id(), 6001, "/help"))
        await s.tg.wait_for(
            lambda calls: any(
                "/requests" in str(c.params.get("text")) for c in calls if c.method == "sendMessage"
            )
        )
        assert s.sms.messages == [], "SMS channel off: nothing sent, nothing failed"
        _, notes = await s.api("GET", f"/notifications?booking_id={booking['id']}")
        assert all(n["channel"] == "telegram" for n in notes)


async def test_sender_retries_rate_limits_and_server_errors(service: Service) -> None:
    s = service
    await seed(s)
    s.tg.fail_next("sendMessage", status=429, count=1, retry_after=1)
    s.tg.fail_next("sendMessage", status=500, count=1)
    booking = await book(s)
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 3, timeout=20)
    failed = [c for c in s.tg.calls_of("sendMessage") if c.failed]
    assert [c.status for c in failed] == [429, 500]
    # The emulator sees a send a moment before the sender records it: wait for the record.
    for _ in range(100):
        _, notes = await s.api("GET", f"/notifications?booking_id={booking['id']}")
        requests = [n for n in notes if n["message_key"] == "job_request"]
        if all(n["status"] == "sent" for n in requests):
            break
        await asyncio.sleep(0.05)
    assert len(requests) == 3 and all(n["status"] == "sent" for n in requests), requests
    assert sorted(n["attempts"] for n in requests)[-1] == 2, "the 500 cost one attempt"


async def test_unanswered_request_expires_and_its_message_says_so(service: Service) -> None:
    s = service
    await seed(s)
    status, settings = await s.api("PUT", "/settings", {"assignment_timeout_s": 1})
    assert status == 200 and settings["assignment_timeout_s"] == 1
    booking = await book(s)
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 3)
    await s.tg.wait_for(
        lambda calls: (
            sum(
                1
                for c in calls
                if c.method == "editMessageText" and "expired" in str(c.params.get("text"))
            )
            == 3
        ),
        timeout=20,
    )
    _, got = await s.api("GET", f"/bookings/{booking['id']}")
    job = got["jobs"][0]
    assert {r["status"] for r in job["requests"]} == {"expired"}
    assert job["status"] == "unassigned"
    _, history = await s.api("GET", f"/bookings/{booking['id']}/history")
    assert [h["action"] for h in history].count("request_expired") == 3
    # Staff get one assignment-timeout alert, recorded in the history.
    await s.tg.wait_for(
        lambda calls: any(
            c.params.get("chat_id") == ADMIN_ID
            and "nobody accepted in time (3 asked)" in str(c.params.get("text"))
            for c in calls
        )
    )
    _, history = await s.api("GET", f"/bookings/{booking['id']}/history")
    assert [h["action"] for h in history].count("timeout_alerted") == 1


async def test_health_and_metrics(service: Service) -> None:
    s = service
    async with s.http.get(f"{s.base}/healthz") as resp:
        assert resp.status == 200 and await resp.json() == {"status": "ok"}
    # A body that is not a Telegram update is refused and recorded nowhere.
    assert await s.post_update({"update_id": 5, "message": {}}, secret=SECRET) == 400
    assert await s.post_update({"no": "update"}, secret=SECRET) == 400
    async with s.http.post(
        f"{s.base}/telegram/webhook",
        data=b"{not json",
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    ) as resp:
        assert resp.status == 400
    assert await s.post_update({"update_id": 6}, secret=SECRET) == 200
    async with s.http.get(f"{s.base}/metrics") as resp:
        text = await resp.text()
        assert resp.status == 200 and "dispatch_inbound_updates" in text
    async with s.http.get(f"{s.base}/api/v1/settings") as resp:
        assert resp.status == 401
    async with (
        aiohttp.ClientSession() as other,
        other.get(
            f"{s.base}/api/v1/settings", headers={"Authorization": f"Bearer {API_TOKEN}"}
        ) as resp,
    ):
        assert resp.status == 200
