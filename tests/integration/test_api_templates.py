"""REST: `/templates` (CONTRACT §4). Every message is listed per event and channel; a template is
checked before it is saved (the 422 names each problem's line) and then used by the next message;
DELETE brings the default back; a preview renders sample data or a booking's, with an SMS's
segments; changing a template needs the settings permission. On SQLite and PostgreSQL, through
the real sub-application, with the production outbox renderer so sent texts can be read back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from dispatch.model import Point
from notifications.templates import BOOK
from tests.factories import add_fieldworker, add_service, add_staff
from tests.integration.api import call

SITE = {"lat": 38.7369, "lon": -9.1427}
HERE = Point(38.7223, -9.1393)  # about 1.7 km from SITE
FW_PHONE = "+351912345000"
#: The events CONTRACT §4 names.
CONTRACT_EVENTS = {
    "job_request",
    "request_taken",
    "assigned_fieldworker",
    "customer_assigned",
    "customer_no_acceptance",
    "customer_unassigned_soon",
    "customer_fieldworker_cancelled",
    "customer_fieldworker_changed",
    "customer_rescheduled",
    "customer_cancelled",
    "reschedule_offer",
    "reminder",
    "nudge",
    "staff_alert",
}
API_TIMEZONE = "Europe/Lisbon"  # the company time zone of `client`


@pytest.fixture(autouse=True)
def _forget_overrides() -> Iterator[None]:
    """The book of templates is per process: a template one test saved must not leak."""
    yield
    BOOK.replace_overrides({})


async def book(client: TestClient, customer: str = "Rita Sousa", **extra: Any) -> dict[str, Any]:
    """A plumbing booking in Lisbon on Tuesday 1 December 2026, 10:00-12:00 UTC."""
    body = {
        "customer": {"name": customer, "phone": "+351912000111"},
        "address": "Rua Augusta 1, Lisboa",
        "location": SITE,
        "services": ["plumb"],
        "appointments": [{"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T12:00:00Z"}],
        **extra,
    }
    status, booking = await call(client, "POST", "/bookings", body)
    assert status == 201, booking
    return dict(booking)


async def sent(client: TestClient, booking_id: int, template: str) -> list[str]:
    """Bodies of the booking's outbox rows of one message key (`message_key`)."""
    status, rows = await call(client, "GET", f"/notifications?booking_id={booking_id}")
    assert status == 200
    return [r["body"] for r in rows if r["message_key"] == template]


async def sms_fieldworker() -> None:
    await add_service()
    await add_fieldworker("Ana Lopes", at=HERE, phone=FW_PHONE, channels=["sms"])


# -- reading ----------------------------------------------------------------------------------


async def test_the_list_covers_every_event_and_channel_with_its_fields(client: TestClient) -> None:
    status, listed = await call(client, "GET", "/templates")
    assert status == 200
    assert isinstance(listed, list)
    assert {item["event"] for item in listed} >= CONTRACT_EVENTS
    by_key = {(item["event"], item["channel"]): item for item in listed}
    assert {"telegram", "sms", "email"} == {c for e, c in by_key if e == "job_request"}
    sms = by_key[("job_request", "sms")]
    assert sms["is_default"] is True and sms["audience"] == "fieldworker"
    assert "customer" in sms["fields"] and "code" in sms["fields"]
    assert "accept_url" not in sms["fields"]  # the email's links only
    assert "accept_url" in by_key[("job_request", "email")]["fields"]
    assert set(sms["field_descriptions"]) == set(sms["fields"])
    assert "reply code" in sms["field_descriptions"]["code"]
    assert by_key[("job_request", "email")]["subject"]
    assert by_key[("job_request", "telegram")]["parse_mode"] == "HTML"
    assert by_key[("customer_assigned", "sms")]["audience"] == "customer"
    assert "kind" in by_key[("staff_alert", "telegram")]["fields"]

    status, one = await call(client, "GET", "/templates/job_request/sms")
    assert (status, one) == (200, sms)


async def test_an_unknown_event_or_channel_is_404_naming_the_known_ones(
    client: TestClient,
) -> None:
    status, body = await call(client, "GET", "/templates/job_requests/sms")
    assert (status, body["error"]["code"]) == (404, "template_not_found")
    assert "job_request" in body["error"]["message"]
    status, body = await call(client, "PUT", "/templates/decline_reason_prompt/sms", {"body": "x"})
    assert status == 404
    assert "its channels are: telegram" in body["error"]["message"]


# -- changing ---------------------------------------------------------------------------------


async def test_a_syntax_error_is_refused_naming_its_line_and_nothing_is_saved(
    client: TestClient,
) -> None:
    _, before = await call(client, "GET", "/templates/job_request/sms")
    broken = "Job for {{ customer }}\n{{ service }}, {{ when }}\nReply YES {{ code }"
    status, body = await call(client, "PUT", "/templates/job_request/sms", {"body": broken})
    assert status == 422, body
    error = body["error"]
    assert error["code"] == "invalid_template" and error["field"] == "body"
    assert error["message"].startswith("body, line 3: syntax error")
    assert error["problems"][0]["line"] == 3
    assert await call(client, "GET", "/templates/job_request/sms") == (200, before)


async def test_an_unknown_merge_field_is_refused_naming_field_and_line(client: TestClient) -> None:
    text = "Hi {{ customer_first_name }},\nyour {{ service }} on {{ when }}\nwith {{ fieldwroker }}"
    status, body = await call(client, "PUT", "/templates/customer_assigned/sms", {"body": text})
    assert status == 422, body
    assert body["error"]["message"] == "body, line 3: unknown merge field 'fieldwroker'"
    assert body["error"]["problems"] == [
        {"part": "body", "line": 3, "message": "unknown merge field 'fieldwroker'"}
    ]
    # Every problem is named, in each part.
    status, body = await call(
        client,
        "PUT",
        "/templates/customer_assigned/email",
        {"body": "{{ a }}\n{{ b }}", "subject": "{{ c }}"},
    )
    assert status == 422
    assert [(p["part"], p["line"]) for p in body["error"]["problems"]] == [
        ("body", 1),
        ("body", 2),
        ("subject", 1),
    ]
    assert (await call(client, "GET", "/templates/customer_assigned/sms"))[1]["is_default"]


async def test_a_saved_template_words_the_next_job_request_and_delete_restores_it(
    client: TestClient,
) -> None:
    await sms_fieldworker()
    mine = (
        "{{ service }} at {{ address }} for {{ customer_first_name }}, {{ date }} {{ time }}. "
        "YES {{ code }} / NO {{ code }}"
    )
    status, saved = await call(client, "PUT", "/templates/job_request/sms", {"body": mine})
    assert status == 200, saved
    assert (saved["body"], saved["is_default"]) == (mine, False)
    assert (await call(client, "GET", "/templates/job_request/sms"))[1] == saved

    booking = await book(client)
    [text] = await sent(client, booking["id"], "job_request_sms")
    assert text.startswith("Plumbing at Rua Augusta 1, Lisboa for Rita, Tue 1 Dec 10:00. YES ")

    status, restored = await call(client, "DELETE", "/templates/job_request/sms")
    assert status == 200
    assert restored["is_default"] is True and restored["body"] != mine
    assert (await call(client, "DELETE", "/templates/job_request/sms"))[0] == 200  # idempotent
    booking = await book(client)
    [text] = await sent(client, booking["id"], "job_request_sms")
    assert text.startswith("Job: Plumbing, ") and "for Rita Sousa" in text


async def test_a_job_request_sms_over_two_segments_is_refused(client: TestClient) -> None:
    long = "Job {{ service }} for {{ customer }}. " + "Please read carefully. " * 14 + "{{ code }}"
    status, body = await call(client, "PUT", "/templates/job_request/sms", {"body": long})
    assert status == 422, body
    assert "must fit 2 segments" in body["error"]["message"]
    assert (await call(client, "GET", "/templates/job_request/sms"))[1]["is_default"]


async def test_changing_a_template_needs_the_settings_permission(client: TestClient) -> None:
    viewer = await add_staff("Vera", role="viewer")
    owner = await add_staff("Otto", role="owner")
    text = {
        "body": "Hi {{ customer_first_name }}, see you {{ when }}.",
        "actor_staff_id": viewer.id,
    }
    status, body = await call(client, "PUT", "/templates/customer_assigned/sms", text)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert "manage_settings" in body["error"]["message"]
    assert (await call(client, "GET", "/templates/customer_assigned/sms"))[1]["is_default"]
    path = f"/templates/customer_assigned/sms?actor_staff_id={viewer.id}"
    assert (await call(client, "GET", path))[0] == 200  # reading is fine
    assert (await call(client, "DELETE", path))[0] == 403
    status, _ = await call(
        client, "PUT", "/templates/customer_assigned/sms", {**text, "actor_staff_id": owner.id}
    )
    assert status == 200


async def test_a_parse_mode_on_sms_or_a_subject_off_email_is_refused(client: TestClient) -> None:
    status, body = await call(
        client, "PUT", "/templates/nudge/sms", {"body": "{{ code }}", "parse_mode": "HTML"}
    )
    assert (status, body["error"]["field"]) == (422, "parse_mode")
    status, body = await call(
        client, "PUT", "/templates/nudge/telegram", {"body": "x", "subject": "y"}
    )
    assert (status, body["error"]["field"]) == (422, "subject")
    status, body = await call(
        client, "PUT", "/templates/nudge/telegram", {"body": "x", "parse_mode": "Markdown"}
    )
    assert (status, body["error"]["field"]) == (422, "parse_mode")
    status, body = await call(
        client, "PUT", "/templates/nudge/telegram", {"body": "<b>{{ code }}", "parse_mode": "HTML"}
    )
    assert status == 422 and "never closed" in body["error"]["message"]


# -- preview ----------------------------------------------------------------------------------


async def test_preview_with_sample_data_and_with_a_booking(client: TestClient) -> None:
    status, sample = await call(client, "POST", "/templates/customer_assigned/sms/preview")
    assert status == 200, sample
    assert sample["body"].startswith("Hi Zoë, Ben will do your Boiler service on ")
    assert sample["segments"]["encoding"] == "UCS-2"  # ë is not in the GSM alphabet
    assert sample["subject"] is None and sample["parse_mode"] is None

    await add_service()
    ana = await add_fieldworker("Ana Lopes", at=HERE, phone=FW_PHONE, channels=["sms"])
    booking = await book(client, fieldworker_id=ana.id, notes="Ring twice")
    status, real = await call(
        client,
        "POST",
        "/templates/customer_assigned/sms/preview",
        {"booking_id": booking["id"]},
    )
    assert status == 200, real
    # Lisbon (the company's zone) is on UTC in December.
    assert real["body"] == "Hi Rita, Ana will do your Plumbing on Tue 1 Dec 10:00-12:00 WET."
    assert real["segments"] == {"count": 1, "encoding": "GSM-7", "units": len(real["body"])}

    status, email = await call(
        client, "POST", "/templates/job_request/email/preview", {"booking_id": booking["id"]}
    )
    assert status == 200, email
    assert email["subject"].startswith("Job request: Plumbing, Tue 1 Dec")
    assert "Ring twice" in email["body"] and "(1.7 km away)" in email["body"]
    assert f"Booking {booking['id']}, job {booking['jobs'][0]['id']}" in email["body"]
    assert email["segments"] is None

    status, body = await call(
        client, "POST", "/templates/customer_assigned/sms/preview", {"booking_id": 99999}
    )
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        404,
        "booking_not_found",
        "booking_id",
    )


async def test_preview_of_a_proposed_text_counts_segments_and_checks_it(
    client: TestClient,
) -> None:
    await add_service()
    ascii_booking = await book(client, "Rita Sousa", dispatch_mode="manual")
    accented = await book(client, "Zoë Brontë", dispatch_mode="manual")
    proposed = {"body": "Hello {{ customer_first_name }}! " + "x" * 150}
    path = "/templates/customer_cancelled/sms/preview"

    status, gsm = await call(client, "POST", path, {**proposed, "booking_id": ascii_booking["id"]})
    assert status == 200, gsm
    assert gsm["body"] == "Hello Rita! " + "x" * 150
    assert gsm["segments"] == {"count": 2, "encoding": "GSM-7", "units": 162}

    status, ucs = await call(client, "POST", path, {**proposed, "booking_id": accented["id"]})
    assert status == 200, ucs
    assert ucs["body"].startswith("Hello Zoë! ")
    assert ucs["segments"] == {"count": 3, "encoding": "UCS-2", "units": 161}

    # A proposed text is checked like a PUT, and nothing is saved either way.
    status, body = await call(client, "POST", path, {"body": "{{ custmer }}"})
    assert (
        status == 422 and body["error"]["message"] == "body, line 1: unknown merge field 'custmer'"
    )
    assert (await call(client, "GET", "/templates/customer_cancelled/sms"))[1]["is_default"]


async def test_a_job_request_preview_shows_the_segments_of_the_sms_as_sent(
    client: TestClient,
) -> None:
    await sms_fieldworker()
    booking = await book(client, "Zoë Brontë", notes="Side door. " * 30)
    status, preview = await call(
        client, "POST", "/templates/job_request/sms/preview", {"booking_id": booking["id"]}
    )
    assert status == 200, preview
    assert "for Zoë Brontë" in preview["body"] and "…" in preview["body"]  # notes shortened
    assert preview["segments"]["encoding"] == "UCS-2" and preview["segments"]["count"] <= 2
    # The fieldworker's own request (its reply code) and time zone: exactly the SMS they got.
    assert [preview["body"]] == await sent(client, booking["id"], "job_request_sms")
