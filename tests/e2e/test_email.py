"""Email through the real process (issue 9): `dispatchbot run` with `SMTP_URL` pointing at a real
local SMTP server (the aiosmtpd sink), job requests by email, their links clicked (POST), and a
link accept racing a Telegram accept for the same job: exactly one winner."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emulators.smtp import SmtpSink
from tests.e2e.conftest import Service, start_service
from tests.e2e.test_reaching_fieldworkers import add, book

ANN_MAIL = "ann@example.com"
BEN = 7101  # Telegram user id


@pytest.fixture
async def mail() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture
async def svc(database_url: str, tmp_path: Path, mail: SmtpSink) -> AsyncIterator[Service]:
    assert mail._server is not None
    port = mail._server.sockets[0].getsockname()[1]
    async for s in start_service(
        tmp_path,
        database_url,
        SMTP_URL=f"smtp://127.0.0.1:{port}",
        SMTP_FROM="dispatch@example.com",
    ):
        yield s


def to_ben(call: Any) -> bool:
    return call.method == "sendMessage" and not call.failed and call.params.get("chat_id") == BEN


def links_in(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(Accept|Decline): (\S+)$", text, re.M))


async def test_an_email_request_round_trip_and_a_race_with_telegram(
    svc: Service, mail: SmtpSink
) -> None:
    s = svc
    status, _ = await s.api("POST", "/services", {"code": "plumb", "name": "Plumbing"})
    assert status == 201
    ann = await add(s, "Ann Mailer", email=ANN_MAIL, channels=["email"])
    await add(s, "Ben Chat", telegram_user_id=BEN, channels=["telegram"])
    booking_id = await book(s, phone=None)

    [request_mail] = await mail.wait_for(ANN_MAIL)
    assert request_mail.sender == "dispatch@example.com"
    assert "Plumbing" in request_mail.subject and "Alexanderplatz 1" in request_mail.text
    links = links_in(request_mail.text)
    assert links["Accept"].startswith(f"{s.base}/r/") and links["Decline"].startswith(s.base)
    assert request_mail.html is not None and links["Accept"] in request_mail.html
    calls = await s.tg.wait_for(lambda calls: any(to_ben(c) for c in calls))
    [chat] = [c for c in calls if to_ben(c)]
    page = await s.http.get(links["Accept"])
    assert page.status == 200 and "Accept" in await page.text()

    # Ann clicks Accept while Ben presses Accept on Telegram: one of them gets the job.
    ben_accept = chat.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    by_link, _ = await asyncio.gather(
        s.http.post(links["Accept"], data={"action": "accept"}),
        s.press(BEN, ben_accept, BEN, chat.result["message_id"]),
    )
    answer = await by_link.text()
    assert by_link.status == 200
    status, booking = await s.api("GET", f"/bookings/{booking_id}")
    [job] = booking["jobs"]
    assert job["status"] == "assigned"
    winners = [r for r in job["requests"] if r["status"] == "accepted"]
    assert len(winners) == 1
    if job["fieldworker_id"] == ann["id"]:
        assert "the job is yours" in answer and winners[0]["channel"] == "email"
    else:
        assert "another fieldworker already took this job" in answer
    status, history = await s.api("GET", f"/bookings/{booking_id}/history")
    assert [h["action"] for h in history].count("job_assigned") == 1

    # The link still works as a page: it says what happened, and changes nothing.
    again = await s.http.post(links["Decline"], data={"action": "decline", "reason": "Too far"})
    assert again.status == 200
    status, after = await s.api("GET", f"/bookings/{booking_id}")
    assert after["jobs"][0]["fieldworker_id"] == job["fieldworker_id"]
    forged = await s.http.get(links["Accept"][:-3] + "xyz")
    assert forged.status == 404 and "not valid" in await forged.text()
