"""Issue 7, "no way in" and "no 500 from any input", through `dispatchbot run` on both backends.

One service run covers every item: an invite code links once (a spent code is refused, staff issue
a fresh one, a shared contact relinks), and each hostile input is a 4xx in the error shape that
changes nothing. The log must hold no traceback (checked when the service stops).
"""

from __future__ import annotations

from typing import Any

from emulators import make_callback_update, make_message_update
from tests.e2e.conftest import API_TOKEN, Service, add_fieldworker

ANA, MALLORY = 6001, 6666
PHONE = "+4915110000001"
DEEP = "[" * 3000 + "]" * 3000
WRITES = [
    ("PUT", "/settings"),
    ("POST", "/services"),
    ("PATCH", "/services/1"),
    ("POST", "/fieldworkers"),
    ("PATCH", "/fieldworkers/1"),
    ("POST", "/staff"),
    ("PATCH", "/staff/1"),
    ("PUT", "/roles/crew"),
    ("POST", "/bookings"),
    ("PATCH", "/bookings/1"),
    ("POST", "/bookings/1/job-requests"),
    ("POST", "/bookings/1/assign"),
    ("POST", "/fieldworkers/1/reassign"),
    ("POST", "/bookings/1/respond"),
]


async def raw(s: Service, method: str, path: str, data: str | None = None) -> tuple[int, Any]:
    """A call with a raw body; the JSON answer, or the text when it is not JSON."""
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    async with s.http.request(method, f"{s.base}{path}", data=data, headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, await resp.json(content_type=None)
        except ValueError:
            return resp.status, text


def assert_refused(answer: tuple[int, Any], status: int, code: str) -> None:
    got, body = answer
    assert got == status, body
    assert set(body) == {"error"} and body["error"]["code"] == code, body


def booking(**changes: Any) -> dict[str, Any]:
    return {
        "customer": {"name": "Carla", "phone": "+4915199990000", "email": None},
        "address": "Alexanderplatz 1, Berlin",
        "location": {"lat": 52.5219, "lon": 13.4132},
        "services": ["plumb"],
        "appointments": [{"start": "2030-06-03T10:00:00Z", "end": "2030-06-03T12:00:00Z"}],
        **changes,
    }


async def last_text(s: Service, chat: int, contains: str) -> str:
    """Wait for the bot's message to a chat holding `contains`; returns its text."""
    calls = await s.tg.wait_for(
        lambda calls: any(
            c.method == "sendMessage"
            and c.params.get("chat_id") == chat
            and contains in str(c.params.get("text"))
            for c in calls
        )
    )
    return str([c for c in calls if c.params.get("chat_id") == chat][-1].params["text"])


async def snapshot(s: Service) -> list[Any]:
    """What the hostile calls must not change, as the API shows it."""
    return [
        (await s.api("GET", path))[1]
        for path in ("/settings", "/services", "/fieldworkers", "/staff", "/bookings", "/roles")
    ]


async def test_no_way_in_and_no_500(service: Service) -> None:
    s = service
    assert (await s.api("POST", "/services", {"code": "plumb", "name": "Plumbing"}))[0] == 201
    ana = await add_fieldworker(s, "Ana Berg", PHONE, 52.52, 13.40)
    assert (await s.api("POST", "/bookings", booking()))[0] == 201

    # An invite code links once.
    assert await s.message(ANA, f"/start {ana['invite_code']}") == 200
    await last_text(s, ANA, "Welcome, Ana Berg!")
    assert await s.message(MALLORY, f"/start {ana['invite_code']}") == 200
    await last_text(s, MALLORY, "already used")
    _, now = await s.api("GET", f"/fieldworkers/{ana['id']}")
    assert (now["telegram_user_id"], now["invite_code_used"]) == (ANA, True)
    status, fresh = await s.api("POST", f"/fieldworkers/{ana['id']}/invite-code")
    assert status == 200 and fresh["invite_code"] != ana["invite_code"]
    assert not fresh["invite_code_used"] and fresh["telegram_linked"]
    contact = {"phone_number": PHONE, "user_id": ANA}
    assert await s.message(ANA, None, contact=contact) == 200, "a shared contact relinks"
    await s.tg.wait_for(
        lambda calls: sum("Welcome, Ana" in str(c.params.get("text")) for c in calls) == 2
    )

    before = await snapshot(s)
    # Every write endpoint: JSON nested thousands deep.
    for method, path in WRITES:
        assert_refused(await raw(s, method, f"/api/v1{path}", DEEP), 400, "invalid_json")
    # Unicode digits are not ids; offsets beyond 64 bits; dates out of the schedulable years.
    assert_refused(await s.api("GET", "/bookings/\u0661"), 404, "not_found")
    assert_refused(await s.api("GET", f"/bookings?offset={2**63}"), 422, "invalid_value")
    for start in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"):
        appointment = {"start": start, "end": start.replace("00:00:00+", "00:30:00+")}
        appointment["end"] = appointment["end"].replace("23:00:00-", "23:30:00-")
        answer = await s.api("POST", "/bookings", booking(appointments=[appointment]))
        assert_refused(answer, 422, "invalid_value")
    # Durations beyond 30 days; NUL in any text; an open GeoJSON ring.
    assert_refused(
        await s.api("PUT", "/settings", {"assignment_timeout_s": 10**12}), 422, "invalid_value"
    )
    assert_refused(
        await s.api("POST", "/services", {"code": "x", "name": "a\x00"}), 422, "invalid_value"
    )
    assert_refused(await s.api("POST", "/bookings", booking(notes="\x00")), 422, "invalid_value")
    answer = await s.api("PATCH", f"/fieldworkers/{ana['id']}", {"custom_fields": {"k": "\x00"}})
    assert_refused(answer, 422, "invalid_value")
    assert_refused(
        await s.api("PUT", "/settings", {"decline_reasons": ["\x00"]}), 422, "invalid_value"
    )
    ring = {"type": "Polygon", "coordinates": [[[13, 52], [14, 52], [14, 53], [13, 53]]]}
    answer = await s.api("PATCH", f"/fieldworkers/{ana['id']}", {"territories": ring})
    assert_refused(answer, 422, "invalid_geometry")
    # A 10 kB URL.
    async with s.http.get(f"{s.base}/api/v1/bookings?x=" + "a" * 10_000) as resp:
        assert 400 <= resp.status < 500
    # Webhooks: keys beyond their column, NUL, shapes Telegram never sends.
    assert await s.post_update({"update_id": 10**100}) == 400
    assert await s.post_update(make_message_update(9001, ANA, "hi\x00")) == 400
    numeric = make_message_update(9002, ANA, "hi")
    numeric["message"]["text"] = 12
    no_chat = make_message_update(9003, ANA, "hi")
    del no_chat["message"]["chat"]
    far = make_callback_update(9004, 2**70, "a:1", message_chat_id=ANA, message_id=1)
    for update in (numeric, no_chat, far):
        assert await s.post_update(update) == 400
    status, _ = await s.sms_in(PHONE, "YES", "SM" + "x" * 100)
    assert status == 400
    status, _ = await s.sms_in(PHONE, "YES\x00", "SMnul")
    assert status == 400
    assert await snapshot(s) == before

    # A press naming an id beyond 32 bits, and a press without a message, are answered.
    pressed = make_callback_update(9005, ANA, f"a:{2**31}", message_chat_id=ANA, message_id=1)
    inline = make_callback_update(9006, ANA, "a:1", message_chat_id=ANA, message_id=1)
    del inline["callback_query"]["message"]
    inline["callback_query"]["inline_message_id"] = "inline-1"
    for update in (pressed, inline):
        assert await s.post_update(update) == 200
    await s.tg.wait_for("answerCallbackQuery", count=2)

    # PUT /roles/{new}'s 201 is documented.
    async with s.http.get(f"{s.base}/api/v1/openapi.json") as resp:
        document = await resp.json()
    assert "201" in document["paths"]["/roles/{name}"]["put"]["responses"]
