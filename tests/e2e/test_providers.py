"""Provider faults through the real process, and what an operator then sees on `/metrics`.

The emulators answer 429 with `retry_after` / `Retry-After`, 500, 502 and 503, reset the connection
before or after acting, and answer slowly. Every message still arrives; the only repeat is the one
README "What a crash can repeat" states (a Telegram message whose answer was lost after Telegram
sent it); an SMS whose answer was lost is looked up at Twilio, never sent twice; a slow answer
holds up nobody else's messages.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from emulators import TelegramEmulator
from tests.e2e.conftest import Service
from tests.e2e.test_core_loop import CUSTOMER, book, requests_sent, seed

CHATS = (5000, 5001, 5002)  # the three fieldworkers within reach of the job


def request_messages(tg: TelegramEmulator, chat: int) -> list[dict[str, Any]]:
    """Job request messages that exist in a chat (including ones whose answer was lost)."""
    return [m for m in tg.chat_messages(chat) if "New job request" in str(m.get("text"))]


async def arrived_everywhere(s: Service, within: float = 30.0) -> None:
    """Wait until every chat within reach holds its job request."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not all(request_messages(s.tg, chat) for chat in CHATS):
        if loop.time() > deadline:
            got = {chat: len(request_messages(s.tg, chat)) for chat in CHATS}
            raise AssertionError(f"job requests did not all arrive: {got}")
        await asyncio.sleep(0.05)


async def metrics(s: Service) -> str:
    """The `/metrics` text."""
    async with s.http.get(f"{s.base}/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


def value(text: str, series: str) -> float:
    """The value of one exposed sample (`name{labels}`), 0 when absent."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_every_message_arrives_through_provider_faults(service: Service) -> None:
    s = service
    await seed(s)
    s.tg.fail_next("sendMessage", status=429, retry_after=1)
    s.tg.fail_next("sendMessage", status=500)
    s.tg.fail_next("sendMessage", status=502)
    s.tg.reset_next("sendMessage", after_acting=False)
    s.tg.reset_next("sendMessage", after_acting=True)  # Telegram sent it; we never hear
    booking = await book(s)
    await arrived_everywhere(s)
    counts = {chat: len(request_messages(s.tg, chat)) for chat in CHATS}
    assert sum(counts.values()) <= len(CHATS) + 1, f"more repeats than stated: {counts}"

    # The SMS to the customer goes through Twilio's faults: each ends in exactly one message.
    s.sms.fail_next(429, retry_after=1)
    s.sms.fail_next(503)
    s.sms.reset_next(after_acting=True)  # Twilio created it; we never hear
    winner = next(c for c in requests_sent(s.tg.calls) if c.params["chat_id"] == 5001)
    accept = winner.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert await s.press(5001, accept, 5001, winner.result["message_id"]) == 200
    await s.tg.wait_for("answerCallbackQuery")
    await s.sms.wait_for(CUSTOMER, timeout=30)
    await asyncio.sleep(3)  # room for a repeat, if one were coming
    assert len(s.sms.messages_to(CUSTOMER)) == 1, "the customer's SMS was repeated"
    assert len(s.tg.calls_of("answerCallbackQuery")) == 1

    status, got = await s.api("GET", f"/bookings/{booking['id']}")
    assert status == 200 and got["jobs"][0]["status"] == "assigned"

    text = await metrics(s)
    assert value(text, 'dispatch_job_requests_sent_total{channel="telegram"}') >= 3
    assert value(text, 'dispatch_request_responses_total{reason="none",response="accepted"}') == 1
    assert value(text, "dispatch_time_to_assign_seconds_count") == 1
    for kind in ("server_error", "connection"):
        assert value(text, f'dispatch_provider_failures_total{{kind="{kind}",provider="telegram"}}')
    assert value(text, 'dispatch_provider_failures_total{kind="connection",provider="twilio"}')
    assert "dispatch_outbox_depth " in text and "dispatch_outbox_oldest_age_seconds " in text
    assert "dispatch_timer_lag_seconds_count " in text


async def test_a_slow_chat_holds_up_nobody_else(service: Service) -> None:
    s = service
    await seed(s)
    s.tg.delay_next("sendMessage", 4)  # slow, inside the sender's bound
    await book(s)
    for _ in range(200):
        if s.tg.held:
            break
        await asyncio.sleep(0.02)
    assert s.tg.held == 1, "one job request is under way, slowly"
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 2, timeout=3)
    assert s.tg.held == 1, "the other chats got theirs while the slow one waited"
    await arrived_everywhere(s)
    assert len(requests_sent(s.tg.calls)) == 3


async def test_metrics_count_declines_by_reason_and_the_outbox(service: Service) -> None:
    s = service
    await seed(s)
    await book(s)
    await s.tg.wait_for(lambda calls: len(requests_sent(calls)) == 3)
    call = next(c for c in requests_sent(s.tg.calls) if c.params["chat_id"] == 5002)
    message_id = call.result["message_id"]
    decline = call.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    await s.press(5002, decline, 5002, message_id)
    await s.tg.wait_for("editMessageReplyMarkup")
    too_far = s.tg.message(5002, message_id)["reply_markup"]["inline_keyboard"][0][0]
    assert too_far["text"] == "Too far"
    await s.press(5002, too_far["callback_data"], 5002, message_id)
    await s.tg.wait_for("answerCallbackQuery", count=2)

    declined = 'dispatch_request_responses_total{reason="Too far",response="declined"}'
    for _ in range(200):  # the decline's edit may still be on its way
        text = await metrics(s)
        if value(text, declined) and not value(text, "dispatch_outbox_depth"):
            break
        await asyncio.sleep(0.05)
    assert value(text, declined) == 1
    assert value(text, "dispatch_outbox_depth") == 0, "everything queued was sent"
    assert value(text, "dispatch_outbox_oldest_age_seconds") == 0
