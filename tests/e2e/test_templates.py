"""Templates through the real process (issue 9): a Telegram job request template staff saved with
`PUT /templates` words the next request, in the parse mode it declares, with the customer's name
escaped for it; and a non-ASCII customer name reaches an SMS fieldworker intact."""

from __future__ import annotations

from emulators import Call
from tests.e2e.conftest import Service
from tests.e2e.test_reaching_fieldworkers import add

ANN = 7301  # a fieldworker on Telegram (user id given by staff)
BEN_PHONE = "+4915110000731"  # a fieldworker by SMS


async def book(s: Service, customer: str, day: str) -> None:
    """A plumbing booking in Berlin on `day` (YYYY-MM-DD), 10:00-12:00 local time."""
    status, booking = await s.api(
        "POST",
        "/bookings",
        {
            "customer": {"name": customer, "phone": "+4915199990731", "email": None},
            "address": "Alexanderplatz 1, Berlin",
            "location": {"lat": 52.5219, "lon": 13.4132},
            "services": ["plumb"],
            "appointments": [{"start": f"{day}T10:00:00+01:00", "end": f"{day}T12:00:00+01:00"}],
        },
    )
    assert status == 201, booking


def requests_to_ann(calls: list[Call]) -> list[Call]:
    return [
        c
        for c in calls
        if c.method == "sendMessage" and not c.failed and c.params.get("chat_id") == ANN
    ]


async def test_a_saved_template_escapes_names_for_its_parse_mode_and_keeps_them_intact(
    service: Service,
) -> None:
    s = service
    assert (await s.api("POST", "/services", {"code": "plumb", "name": "Plumbing"}))[0] == 201
    await add(s, "Ann Weber", telegram_user_id=ANN, channels=["telegram"])
    await add(s, "Ben Braun", phone=BEN_PHONE, channels=["sms"])
    status, saved = await s.api(
        "PUT",
        "/templates/job_request/telegram",
        {"body": "<b>{{ service }}</b> for {{ customer }}, {{ when }}", "parse_mode": "HTML"},
    )
    assert status == 200 and saved["is_default"] is False, saved

    await book(s, "<b>O'Brien_</b>", "2026-12-01")
    [request] = requests_to_ann(await s.tg.wait_for(lambda calls: len(requests_to_ann(calls)) == 1))
    assert request.params["parse_mode"] == "HTML"
    assert str(request.params["text"]).startswith(
        "<b>Plumbing</b> for &lt;b&gt;O&#39;Brien_&lt;/b&gt;, Tue 1 Dec 10:00-12:00 CET"
    )

    await book(s, "Zoë Łukasiewicz-Ørsted", "2026-12-02")
    texts = sorted(m["body"] for m in await s.sms.wait_for(BEN_PHONE, count=2))
    assert "for <b>O'Brien_</b>." in texts[0]  # an SMS is plain text: sent as written
    assert "for Zoë Łukasiewicz-Ørsted." in texts[1]
    calls = await s.tg.wait_for(lambda calls: len(requests_to_ann(calls)) == 2)
    assert any(
        "for Zoë Łukasiewicz-Ørsted, Wed 2 Dec" in str(c.params["text"])
        for c in requests_to_ann(calls)
    )
