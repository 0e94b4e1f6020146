"""Reminders through the real process (CONTRACT §5): the nudge arrives as a reply to the request's
message, the assignee is reminded before the start, and the day-before confirmation's Confirm and
Can't attend presses act through the webhook. Short durations via PUT /settings; the day-before
deadline (18:00 local, the evening before) is brought forward in the database, the one clock the
test cannot wait for."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.e2e.conftest import ADMIN_ID, Service
from tests.e2e.test_staff_control import (
    CHAT,
    CUSTOMER,
    first_job,
    history,
    requests_to,
    seed,
    sent_to,
    wait_sent,
    wait_text,
)
from tests.e2e.test_stale_buttons_and_missed_jobs import live, press_first


async def put_settings(s: Service, **values: Any) -> None:
    status, body = await s.api("PUT", "/settings", values)
    assert status == 200, body


async def book_at(s: Service, start: datetime) -> int:
    """An auto-mode plumbing booking in Berlin from `start`, for two hours."""
    body = {
        "customer": {"name": "Carla Customer", "phone": CUSTOMER, "email": None},
        "address": "Alexanderplatz 1, Berlin",
        "location": {"lat": 52.5219, "lon": 13.4132},
        "services": ["plumb"],
        "appointments": [
            {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}
        ],
    }
    status, booking = await s.api("POST", "/bookings", body)
    assert status == 201, booking
    return int(booking["id"])


async def bring_forward(s: Service, kind: str) -> None:
    """Make the pending timers of a kind due now (their creation time is in the past)."""
    url = s.env["DATABASE_URL"]
    sql = "UPDATE timer SET due_at = created_at WHERE kind = {} AND status = 'pending'"
    if url.startswith("sqlite://"):

        def update() -> None:
            with sqlite3.connect(url.removeprefix("sqlite://"), timeout=10) as conn:
                conn.execute(sql.format("?"), (kind,))

        await asyncio.to_thread(update)
        return
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(sql.format("$1"), kind)
    finally:
        await conn.close()


def texts_to(s: Service, chat: int, words: str) -> list[Any]:
    return [c for c in sent_to(s, chat) if words in str(c.params.get("text", ""))]


async def reminders_sent(s: Service, booking_id: int) -> list[dict[str, Any]]:
    return [h for h in await history(s, booking_id) if h["action"] == "reminder_sent"]


async def test_nudge_replies_to_the_request_and_the_assignee_is_reminded(service: Service) -> None:
    s = service
    w = await seed(s)
    await put_settings(s, nudge_after_s=1, reminder_before_s=3600, unassigned_alert_lead_s=0)
    start = (datetime.now(UTC) + timedelta(seconds=3600 + 8)).replace(microsecond=0)
    booking_id = await book_at(s, start)
    chats = (CHAT, CHAT + 1, CHAT + 2)
    await s.tg.wait_for(lambda _: all(requests_to(s, c) for c in chats))
    request_messages = {c: requests_to(s, c)[0].result["message_id"] for c in chats}

    # One nudge each, as a reply to that fieldworker's own request message.
    nudge = "still waiting for your answer"
    await s.tg.wait_for(lambda _: all(texts_to(s, c, nudge) for c in chats), 15)
    for chat in chats:
        (call,) = texts_to(s, chat, nudge)
        replied = s.tg.message(chat, call.result["message_id"])["reply_to_message"]
        assert replied["message_id"] == request_messages[chat]
        assert "New job request" in replied["text"]
    rows = await reminders_sent(s, booking_id)
    assert sorted(r["details"]["fieldworker_id"] for r in rows) == sorted(w.fw(i) for i in range(3))
    assert {r["details"]["kind"] for r in rows} == {"nudge"}
    assert {r["channel"] for r in rows} == {"telegram"}

    # Anna takes it: she alone is reminded, an hour before the start, in her zone (Berlin).
    await press_first(s, CHAT, request_messages[CHAT], "Accept")
    reminder = await wait_sent(s, CHAT, "your job starts soon", within=20)
    assert "Alexanderplatz 1, Berlin" in reminder.params["text"]
    assert "CET" in reminder.params["text"]
    # The reminder is the newest message about her job: it alone offers No longer attending.
    reminded = reminder.result["message_id"]
    await s.tg.wait_for(lambda _: live(s, CHAT) == [(reminded, ["No longer attending"])])
    await asyncio.sleep(1)
    assert len(texts_to(s, CHAT, nudge)) == 1  # one nudge per request, never again
    assert not texts_to(s, CHAT + 1, "starts soon") and not texts_to(s, CHAT + 2, "starts soon")
    rows = await reminders_sent(s, booking_id)
    kinds = [(r["details"]["kind"], r["details"]["fieldworker_id"]) for r in rows]
    assert kinds.count(("reminder", w.fw(0))) == 1 and len(kinds) == 4


async def test_day_before_confirm_and_cant_attend_through_the_webhook(service: Service) -> None:
    s = service
    w = await seed(s)
    await put_settings(s, nudge_after_s=0, day_before_confirmation=True)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=10, minute=0, second=0)
    anna_booking, ben_booking = (
        await book_at(s, start),
        await book_at(s, start + timedelta(hours=3)),
    )
    await s.tg.wait_for(lambda _: all(len(requests_to(s, CHAT + i)) == 2 for i in range(3)))
    await press_first(s, CHAT, requests_to(s, CHAT)[0].result["message_id"], "Accept")
    await press_first(s, CHAT + 1, requests_to(s, CHAT + 1)[1].result["message_id"], "Accept")
    assert (await first_job(s, anna_booking))["fieldworker_id"] == w.fw(0)
    assert (await first_job(s, ben_booking))["fieldworker_id"] == w.fw(1)

    await bring_forward(s, "day_before")
    question = "Please confirm you will attend"
    asked = {c: await wait_sent(s, c, question, within=15) for c in (CHAT, CHAT + 1)}
    ids = {c: call.result["message_id"] for c, call in asked.items()}
    for chat in (CHAT, CHAT + 1):
        # The question now holds the job's only live buttons.
        await s.tg.wait_for(lambda _, c=chat: live(s, c) == [(ids[c], ["Confirm", "Can't attend"])])
    assert {r["details"]["kind"] for r in await reminders_sent(s, anna_booking)} == {"day_before"}

    # Anna confirms: recorded once, the message says so and keeps No longer attending.
    await press_first(s, CHAT, ids[CHAT], "Confirm")
    await wait_text(s, CHAT, ids[CHAT], "Confirmed")
    assert live(s, CHAT) == [(ids[CHAT], ["No longer attending"])]
    confirmed = [h for h in await history(s, anna_booking) if h["action"] == "reminder_confirmed"]
    assert len(confirmed) == 1 and confirmed[0]["actor"]["id"] == w.fw(0)
    assert (await first_job(s, anna_booking))["status"] == "assigned"

    # Ben can't attend: the reasons, exactly as No longer attending; Back returns to the question.
    await press_first(s, CHAT + 1, ids[CHAT + 1], "Can't attend")
    await s.tg.wait_for(lambda _: "Personal" in str(s.tg.message(CHAT + 1, ids[CHAT + 1])))
    await press_first(s, CHAT + 1, ids[CHAT + 1], "↩ Back")
    await s.tg.wait_for(
        lambda _: live(s, CHAT + 1) == [(ids[CHAT + 1], ["Confirm", "Can't attend"])]
    )
    await press_first(s, CHAT + 1, ids[CHAT + 1], "Can't attend")
    await s.tg.wait_for(lambda _: "Personal" in str(s.tg.message(CHAT + 1, ids[CHAT + 1])))
    await press_first(s, CHAT + 1, ids[CHAT + 1], "Personal")
    # No attendance button is left (Reschedule Assist may offer its "propose times" buttons).
    attendance = {"Confirm", "Can't attend", "No longer attending"}
    await s.tg.wait_for(
        lambda _: all(not attendance & set(texts) for _, texts in live(s, CHAT + 1))
    )
    job = await first_job(s, ben_booking)
    assert job["fieldworker_id"] is None and job["status"] in ("missed", "offered")
    rows = await history(s, ben_booking)
    missed = [h for h in rows if h["action"] == "job_missed"]
    assert len(missed) == 1 and missed[0]["details"]["reason"] == "Personal"
    await wait_sent(s, ADMIN_ID, "is no longer attending")
    texts = [m["body"] for m in await s.sms.wait_for(CUSTOMER, count=3)]
    assert any("Ben can no longer come" in t for t in texts), texts

    # A stale press: Ben's Confirm on the question of a job no longer his changes nothing.
    before = len(await history(s, ben_booking))
    data = "f:" + str(job["id"])
    answers = len(s.tg.calls_of("answerCallbackQuery"))
    assert await s.press(CHAT + 1, data, CHAT + 1, ids[CHAT + 1]) == 200
    await s.tg.wait_for("answerCallbackQuery", count=answers + 1)
    answer = s.tg.calls_of("answerCallbackQuery")[-1].params
    assert "no longer assigned to you" in answer["text"]
    assert len(await history(s, ben_booking)) == before


async def test_by_sms_the_nudge_names_the_code_and_confirm_answers_the_day_before(
    service: Service,
) -> None:
    s = service
    status, _ = await s.api(
        "POST", "/services", {"code": "plumb", "name": "Plumbing", "required_skills": []}
    )
    assert status == 201
    phone = "+4915120000009"
    status, fw = await s.api(
        "POST",
        "/fieldworkers",
        {
            "name": "Sam Sms",
            "phone": phone,
            "channels": ["sms"],
            "services": ["plumb"],
            "base_location": {"lat": 52.52, "lon": 13.40},
            "timezone": "Europe/Berlin",
            "status": "active",
        },
    )
    assert status == 201, fw
    await put_settings(s, nudge_after_s=1, day_before_confirmation=True)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=10, minute=0, second=0)
    booking_id = await book_at(s, start)
    (request_sms,) = await s.sms.wait_for(phone)
    nudges = await s.sms.wait_for(phone, 15, count=2)
    assert nudges[1]["body"].startswith("Reminder: job request Plumbing")
    code = request_sms["body"].split("Reply YES ")[1].split()[0]
    assert f"Reply YES {code} / NO {code} reason" in nudges[1]["body"]

    status, text = await s.sms_in(phone, f"YES {code}", "SM" + "2" * 32)
    assert status == 200 and "the job is yours" in text
    await bring_forward(s, "day_before")
    messages = await s.sms.wait_for(
        lambda ms: any("Please confirm" in m["body"] for m in ms if m["to"] == phone), 15
    )
    asked = next(m["body"] for m in messages if m["to"] == phone and "Please confirm" in m["body"])
    assert f"Reply CONFIRM {code} or CANCEL {code} reason" in asked

    status, text = await s.sms_in(phone, f"confirm {code}", "SM" + "3" * 32)
    assert status == 200 and "Confirmed, thank you" in text
    status, text = await s.sms_in(phone, "CONFIRM", "SM" + "4" * 32)
    assert "all confirmed already" in text
    rows = await history(s, booking_id)
    confirmed = [h for h in rows if h["action"] == "reminder_confirmed"]
    assert len(confirmed) == 1 and confirmed[0]["channel"] == "sms"
    kinds = [h["details"]["kind"] for h in rows if h["action"] == "reminder_sent"]
    assert kinds == ["nudge", "day_before"]


async def test_a_day_before_question_telegram_refuses_goes_by_sms_with_the_code(
    service: Service,
) -> None:
    s = service
    status, _ = await s.api("POST", "/services", {"code": "plumb", "name": "Plumbing"})
    assert status == 201
    user, phone = 7101, "+4915120000010"
    status, fw = await s.api(
        "POST",
        "/fieldworkers",
        {
            "name": "Tom Two",
            "phone": phone,
            "telegram_user_id": user,
            "channels": ["telegram", "sms"],
            "services": ["plumb"],
            "base_location": {"lat": 52.52, "lon": 13.40},
            "timezone": "Europe/Berlin",
        },
    )
    assert status == 201, fw
    await put_settings(s, nudge_after_s=0, day_before_confirmation=True)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=10, minute=0, second=0)
    booking_id = await book_at(s, start)
    await s.tg.wait_for(lambda _: bool(requests_to(s, user)))
    await press_first(s, user, requests_to(s, user)[0].result["message_id"], "Accept")
    await s.sms.wait_for(CUSTOMER)  # the outbox is drained: the next sendMessage is the question

    s.tg.fail_next("sendMessage", status=403)  # Tom blocked the bot meanwhile
    await bring_forward(s, "day_before")
    (asked,) = await s.sms.wait_for(phone, 15)
    # Worded for SMS, not the Telegram text: how to answer, naming the job's code.
    found = re.search(r"Reply CONFIRM (\d{4}) or CANCEL (\d{4}) reason", asked["body"])
    assert found is not None and found[1] == found[2], asked["body"]
    assert asked["body"].startswith("Please confirm your job Plumbing")
    status, text = await s.sms_in(phone, f"CONFIRM {found[1]}", "SM" + "5" * 32)
    assert status == 200 and "Confirmed, thank you" in text
    rows = await history(s, booking_id)
    assert [h["channel"] for h in rows if h["action"] == "delivery_failed"] == ["telegram"]
    assert [h["channel"] for h in rows if h["action"] == "reminder_confirmed"] == ["sms"]
