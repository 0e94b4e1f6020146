"""Staff's tools end to end, through the real process: after an assignment timeout the alert's
buttons re-ask everyone (the expired ones included) and show who is available; changed details
reach the fieldworkers holding the job's requests; completing the job through the API; finding
the day's bookings (`GET /bookings` filters, `X-Total-Count`) and jobs (`/today`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.e2e.conftest import API_TOKEN, Service
from tests.e2e.test_staff_control import (
    CHAT,
    DISPATCHER,
    VIEWER,
    book,
    button,
    command,
    requests_to,
    seed,
    wait_sent,
    wait_text,
)

NEAR = (CHAT, CHAT + 1, CHAT + 2)  # Anna, Ben and Cara; Dan (CHAT + 3) is too far away


def labels(message: dict[str, Any]) -> dict[str, str]:
    """Button text -> callback data of a message's inline keyboard."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def press(s: Service, user: int, data: str, chat: int, message_id: int) -> str:
    """Press a button; returns the text the press was answered with."""
    before = len(s.tg.calls_of("answerCallbackQuery"))
    assert await s.press(user, data, chat, message_id) == 200
    await s.tg.wait_for("answerCallbackQuery", count=before + 1)
    return str(s.tg.calls_of("answerCallbackQuery")[before].params.get("text", ""))


async def listed(s: Service, query: str) -> tuple[list[int], int]:
    """`GET /bookings?query`: the ids listed and `X-Total-Count`."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with s.http.get(f"{s.base}/api/v1/bookings?{query}", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return [b["id"] for b in await resp.json()], int(resp.headers["X-Total-Count"])


async def test_after_a_timeout_staff_ask_everyone_again_change_complete_and_see_the_day(
    service: Service,
) -> None:
    s = service
    w = await seed(s)
    assert (await s.api("PUT", "/settings", {"assignment_timeout_s": 1}))[0] == 200
    today = datetime.now(UTC).date()
    bid = int((await book(s, today.isoformat()))["id"])
    await book(s, "2030-01-07", dispatch_mode="manual")  # another day: never listed below
    await s.tg.wait_for(lambda _: all(requests_to(s, c) for c in NEAR))

    # Nobody answers in time: the alert names the command that works and carries its buttons.
    alert = await wait_sent(s, DISPATCHER, "nobody accepted in time (3 asked)", within=20)
    job_id = (await s.api("GET", f"/bookings/{bid}"))[1]["jobs"][0]["id"]
    assert f"/rebroadcast {bid} all" in alert.params["text"]
    assert labels(alert.params) == {
        "Re-broadcast to everyone (incl. expired)": f"e:{bid}",
        "Show available": f"v:{job_id}",
    }
    assert (await s.api("PUT", "/settings", {"assignment_timeout_s": 900}))[0] == 200
    reply = (await command(s, DISPATCHER, f"/rebroadcast {bid}")).params["text"]
    assert "nobody new to ask" in reply and f"/rebroadcast {bid} all" in reply

    alert_id = alert.result["message_id"]
    assert await press(s, DISPATCHER, f"v:{job_id}", DISPATCHER, alert_id) == ""
    await wait_sent(s, DISPATCHER, "3 eligible, 1 excluded")
    answer = await press(s, DISPATCHER, f"e:{bid}", DISPATCHER, alert_id)
    assert answer == "Asked 3 fieldworker(s).", answer
    await wait_sent(s, DISPATCHER, f"Booking {bid}: asked 3 fieldworker(s)")
    await s.tg.wait_for(lambda _: all(len(requests_to(s, c)) == 2 for c in NEAR))
    job = (await s.api("GET", f"/bookings/{bid}"))[1]["jobs"][0]
    assert {r["status"] for r in job["requests"]} == {"pending"} and len(job["requests"]) == 3

    # Staff move the job to another address: all three hear it, and the request they answer
    # shows it, its buttons still working.
    status, _ = await s.api("PATCH", f"/bookings/{bid}", {"address": "Karl-Marx-Allee 90"})
    assert status == 200
    for chat in NEAR:
        news = await wait_sent(s, chat, f"Booking {bid} was changed")
        assert "📍 Address: Karl-Marx-Allee 90" in news.params["text"]
    again = requests_to(s, CHAT)[1].result["message_id"]
    current = await wait_text(s, CHAT, again, "Karl-Marx-Allee 90")
    assert list(labels(current)) == ["Accept ✅", "Decline ❌"]
    await s.press(CHAT, button(current, 0), CHAT, again)
    await wait_text(s, CHAT, again, "You got this job")

    # Done: completing the job through the API completes the booking; Anna's button goes.
    status, done = await s.api(
        "POST", f"/bookings/{bid}/complete", {"actor_staff_id": w.dispatcher["id"]}
    )
    assert status == 200, done
    assert (done["status"], done["jobs"][0]["status"]) == ("completed", "completed")
    finished = await wait_text(s, CHAT, again, "marked completed")
    assert not labels(finished), "no 'No longer attending' on a completed job"

    # The day's bookings and jobs.
    day = today.isoformat()
    assert await listed(s, f"date={day}") == ([bid], 1)
    assert await listed(s, f"date={day}&job_status=completed&q=carla&limit=1") == ([bid], 1)
    assert await listed(s, f"fieldworker_id={w.fw(0)}&status=open") == ([], 0)
    text = (await command(s, VIEWER, "/today")).params["text"]
    assert text.startswith(f"Jobs on {today.strftime('%a %-d %b %Y')} (UTC): 1, page 1/1"), text
    assert "Completed (1):" in text and f"(booking {bid}): Plumbing, Anna Berg" in text
