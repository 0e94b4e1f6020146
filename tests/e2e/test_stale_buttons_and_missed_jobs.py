"""Issue 7, end to end: only the newest message about a request or job keeps live buttons, a
manual acceptance alerts staff, a dropout makes the job `missed` until staff act, and the customer
hears each change once. One manual booking through the real process, Telegram and SMS emulators."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import ADMIN_ID, Service
from tests.e2e.test_staff_control import (
    CHAT,
    CUSTOMER,
    DISPATCHER,
    VIEWER,
    book,
    command,
    first_job,
    history,
    requests_to,
    seed,
    wait_sent,
    wait_text,
)


def live(s: Service, chat: int) -> list[tuple[int, list[str]]]:
    """The chat's messages that still show buttons: (message id, button labels)."""
    out = []
    for message in s.tg.chat_messages(chat):
        rows: list[list[dict[str, Any]]] = (message.get("reply_markup") or {}).get(
            "inline_keyboard", []
        )
        if rows:
            out.append((int(message["message_id"]), [b["text"] for r in rows for b in r]))
    return out


async def press_first(s: Service, chat: int, message_id: int, label: str) -> None:
    """The fieldworker presses the button of a message whose label starts with `label`."""
    buttons = [
        b for r in s.tg.message(chat, message_id)["reply_markup"]["inline_keyboard"] for b in r
    ]
    data = next(b["callback_data"] for b in buttons if b["text"].startswith(label))
    answers = len(s.tg.calls_of("answerCallbackQuery"))
    assert await s.press(chat, data, chat, message_id) == 200
    await s.tg.wait_for("answerCallbackQuery", count=answers + 1)


async def test_a_manual_booking_from_request_to_cancellation(service: Service) -> None:
    s = service
    w = await seed(s)
    anna, ann_chat, cara_chat = w.fw(0), CHAT, CHAT + 2
    booking_id = int((await book(s, dispatch_mode="manual"))["id"])
    await command(s, DISPATCHER, f"/request {booking_id} {anna} {w.fw(1)}")
    await s.tg.wait_for(lambda _: bool(requests_to(s, ann_chat) and requests_to(s, CHAT + 1)))
    first = requests_to(s, ann_chat)[0].result["message_id"]

    # /requests sends a new copy with buttons; the first message loses its own.
    copy = (await command(s, ann_chat, "/requests")).result["message_id"]
    await s.tg.wait_for(lambda _: [m for m, _ in live(s, ann_chat)] == [copy])
    assert "New job request" in s.tg.message(ann_chat, first)["text"], "still there, buttonless"

    # Anna accepts on the copy: the job waits for staff, who are alerted.
    await press_first(s, ann_chat, copy, "Accept")
    await wait_text(s, ann_chat, copy, "Staff will confirm")
    alert = await wait_sent(s, ADMIN_ID, "Waiting for staff")
    assert f"/assign {booking_id} {anna}" in alert.params["text"]

    # Staff confirm her: a new message carries the job and the only live button.
    await command(s, DISPATCHER, f"/assign {booking_id} {anna}")
    job_message = (await wait_sent(s, ann_chat, "You have been assigned")).result["message_id"]
    await s.tg.wait_for(lambda _: live(s, ann_chat) == [(job_message, ["No longer attending"])])
    await s.sms.wait_for(CUSTOMER)

    # She drops out: the job is missed and waits for staff (manual); everyone hears once.
    await press_first(s, ann_chat, job_message, "No longer attending")
    await s.tg.wait_for(lambda _: "Personal" in str(s.tg.message(ann_chat, job_message)))
    await press_first(s, ann_chat, job_message, "Personal")
    # No job button is left live; Reschedule Assist may offer its "propose times" buttons.
    await s.tg.wait_for(
        lambda _: all("No longer attending" not in texts for _, texts in live(s, ann_chat))
    )
    await wait_text(s, ann_chat, copy, "No longer attending: Personal")
    job = await first_job(s, booking_id)
    assert (job["status"], job["fieldworker_id"]) == ("missed", None)
    missed = [h for h in await history(s, booking_id) if h["action"] == "job_missed"]
    assert len(missed) == 1 and missed[0]["details"]["fieldworker_id"] == anna
    await wait_sent(s, ADMIN_ID, "missed until staff act")
    unassigned = (await command(s, VIEWER, "/unassigned")).params["text"]
    assert f"Job {job['id']} (booking {booking_id})" in unassigned and "missed" in unassigned

    # Staff give the missed job to Cara, then cancel the booking: her button goes with it.
    await command(s, DISPATCHER, f"/assign {booking_id} {w.fw(2)}")
    await wait_sent(s, cara_chat, "You have been assigned")
    await s.tg.wait_for(lambda _: len(live(s, cara_chat)) == 1)
    status, _ = await s.api("PATCH", f"/bookings/{booking_id}", {"status": "cancelled"})
    assert status == 200
    texts = [m["body"] for m in await s.sms.wait_for(CUSTOMER, count=4)]
    await s.tg.wait_for(lambda _: not any(live(s, CHAT + i) for i in range(3)))
    assert "Anna will do" in texts[0] and "Anna can no longer come" in texts[1], texts
    assert "Cara will do" in texts[2] and "has been cancelled" in texts[3], texts
