"""Which request or job a message's buttons act on: read from their own callback data."""

from __future__ import annotations

from dispatch.events import JobAssigned, JobUnassigned, RequestPended, RequestSent
from dispatch.model import Actor
from notifications.keyboards import attending_keyboard, reason_keyboard, request_keyboard
from notifications.live_buttons import LIVE, live, moved_job


def test_accept_decline_make_a_message_live_for_its_request() -> None:
    payload = live({"method": "send", "reply_markup": request_keyboard(42)})
    assert payload[LIVE] == {"request": 42}
    assert payload["method"] == "send" and payload["reply_markup"] == request_keyboard(42)


def test_no_longer_attending_makes_a_message_live_for_its_job() -> None:
    assert live({"reply_markup": attending_keyboard(7)})[LIVE] == {"job": 7}
    assert live({"reply_markup": reason_keyboard(9, ["Too far"], True)})[LIVE] == {"request": 9}


def test_buttons_of_no_request_or_job_leave_the_payload_as_it_is() -> None:
    page = {"inline_keyboard": [[{"text": "Next ▶", "callback_data": "p:u:0:2"}]]}
    assert live({"reply_markup": page}) == {"reply_markup": page}


def test_a_job_moves_when_staff_give_it_or_it_leaves_its_fieldworker() -> None:
    staff = Actor.system()
    assert moved_job(JobAssigned(1, 5, 2, None, staff, via_accept=False)) == 5
    assert moved_job(JobAssigned(1, 5, 2, None, staff, via_accept=True)) is None
    assert moved_job(JobUnassigned(1, 5, 2, staff)) == 5
    assert moved_job(RequestSent(1, 3, 5, 2)) is None
    assert moved_job(RequestPended(1, 3, 5, 2, staff)) is None
