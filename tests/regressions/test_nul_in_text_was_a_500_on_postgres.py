"""Bug: a NUL (`\\u0000`) in any text was a 500 on PostgreSQL.

PostgreSQL refuses NUL in text and JSON columns (SQLite stores it), so a name, a note, a custom
field, a decline reason, an SMS or a Telegram message holding one failed at the insert. Now every
request body and query string refuses it (422 naming the field), and so do the settings; the
webhooks answer 400 and record nothing. On both backends.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from emulators import make_message_update
from models import tables as t

# Both backends (the root conftest's), over this folder's SQLite-only `db_url`.
from tests.conftest import db_url  # noqa: F401
from tests.factories import add_fieldworker, add_service
from tests.integration.test_api import assert_error, call, counts
from tests.regressions.conftest import Webhooks


async def test_no_text_from_outside_holds_nul(api: TestClient, webhooks: Webhooks) -> None:
    await add_service()
    fw = await add_fieldworker("Ana", phone="+4915110000001")
    before = await counts()
    booking = {
        "customer": {"name": "C\x00", "phone": None, "email": None},
        "address": "A",
        "location": {"lat": 52.5, "lon": 13.4},
        "services": ["plumb"],
        "appointments": [{"start": "2030-06-03T10:00:00Z", "end": "2030-06-03T12:00:00Z"}],
    }
    for method, path, body, field in [
        ("POST", "/services", {"code": "x", "name": "a\x00b"}, "name"),
        ("POST", "/bookings", booking, "customer.name"),
        ("POST", "/bookings", {**booking, "customer": {"name": "C"}, "notes": "\x00"}, "notes"),
        ("PATCH", f"/fieldworkers/{fw.id}", {"custom_fields": {"lang\x00": "es"}}, "custom_fields"),
        ("PATCH", f"/fieldworkers/{fw.id}", {"custom_fields": {"lang": ["\x00"]}}, "custom_fields"),
        ("POST", "/staff", {"name": "S\x00", "role": "viewer"}, "name"),
        ("PUT", "/settings", {"decline_reasons": ["Too far\x00"]}, "decline_reasons"),
    ]:
        answer = await call(api, method, path, body)
        assert_error(answer, 422, "invalid_value", field)
    assert await counts() == before

    assert await webhooks.update(make_message_update(1, 601, "hello\x00")) == 400
    form = {"From": "+4915110000001", "To": "+1", "Body": "YES\x00", "MessageSid": "SM1"}
    assert await webhooks.sms(form) == 400
    assert await t.InboundEvent.all().count() == 0
