"""Bounded fuzzing of everything `dispatchbot run` takes from outside: no input is a 5xx.

- The REST API: schemathesis generates calls from `/api/v1/openapi.json` (valid and invalid
  bodies, query strings and path ids) and checks each answer: never a 5xx, and a status, content
  type and body the document promises.
- The webhooks: hypothesis builds Telegram Updates (messages, commands, button presses with any
  callback data, odd shapes), and Twilio form posts (signed) with any body and sender.

Each runs against the real process on SQLite with a small, fixed budget (`max_examples`, no
database of examples), so the suite stays fast and every run tries the same amount. The service's
log must hold no traceback (checked when it stops, by `tests/e2e/conftest.py`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from twilio.request_validator import RequestValidator

from admin_commands.commands import COMMANDS
from emulators import Call, make_callback_update, make_message_update
from tests.e2e.conftest import (
    ADMIN_ID,
    API_TOKEN,
    SECRET,
    Service,
    add_fieldworker,
    start_service,
)
from tests.e2e.conftest import AUTH as AUTH_TOKEN

#: A fixed, small budget per operation and per webhook: the whole module stays under a minute.
EXAMPLES = 12
BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
FW_PHONE = "+4915110000001"


@pytest.fixture
async def sqlite_service(tmp_path: Path) -> AsyncIterator[Service]:
    """The service on SQLite only: fuzzing finds input bugs, not backend ones."""
    async for svc in start_service(tmp_path, f"sqlite://{tmp_path}/fuzz.sqlite3"):
        yield svc


def _fuzz_api(base: str) -> list[str]:
    """Every operation of the OpenAPI document, valid and invalid inputs; the failures found."""
    http = requests.Session()
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    failures: list[str] = []
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @BUDGET
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                response = case.call(base_url=f"{base}/api/v1", session=http, headers=AUTH)
                case.validate_response(response, checks=checks, headers=AUTH)

            try:
                run()
            except Exception as exc:  # collect every operation's failure, not just the first
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
    return failures


async def test_the_rest_api_answers_every_generated_call_as_documented(
    sqlite_service: Service,
) -> None:
    failures = await asyncio.to_thread(_fuzz_api, sqlite_service.base)
    assert not failures, "\n\n".join(failures)


# -- the webhooks ---------------------------------------------------------------------------------

LINKED = 5000  # a fieldworker's Telegram account, linked in `_company`
IDS = st.one_of(
    st.sampled_from([LINKED, ADMIN_ID, 1, 0, -1, 2**31, 2**63 - 1, 2**63, 10**30]),
    st.integers(min_value=-(2**70), max_value=2**70),
)
TEXT = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["/start", "/jobs", "/requests", "/help", "/booking 1", "/history \u0661"]),
    st.builds(
        lambda command, arg: f"/{command} {arg}",
        st.sampled_from([c.name for c in COMMANDS] + ["start", "jobs", "requests"]),
        st.text(max_size=30),
    ),
)
NUMBERS = st.one_of(st.integers(min_value=0, max_value=2**40).map(str), st.text(max_size=12))
CALLBACK_DATA = st.one_of(
    st.text(max_size=70),
    st.builds(
        lambda op, numbers: ":".join([op, *numbers]),
        st.sampled_from(list("adrbnxksp")),
        st.lists(NUMBERS, max_size=3),
    ),
)
JSON = st.recursive(
    st.none() | st.booleans() | IDS | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)


def _message(update_id: int, user: int, text: Any, damage: str | None) -> dict[str, Any]:
    update = make_message_update(update_id, user if isinstance(user, int) else 1, "x")
    message = update["message"]
    message["text"] = text
    if damage == "no chat":
        del message["chat"]
    elif damage == "no from":
        del message["from"]
    elif damage == "group":
        message["chat"] = {"id": -100123, "type": "supergroup", "title": "g"}
    return update


def _press(update_id: int, user: int, data: Any, damage: str | None) -> dict[str, Any]:
    update = make_callback_update(update_id, user, "x", message_chat_id=LINKED, message_id=1)
    query = update["callback_query"]
    query["data"] = data
    if damage == "no message":
        del query["message"]
        query["inline_message_id"] = "inline-1"
    elif damage == "no from":
        del query["from"]
    return update


UPDATES = st.one_of(
    st.builds(
        _message,
        st.integers(min_value=1, max_value=2**40),
        IDS,
        TEXT | st.integers() | st.none() | JSON,
        st.sampled_from([None, None, "no chat", "no from", "group"]),
    ),
    st.builds(
        _press,
        st.integers(min_value=1, max_value=2**40),
        IDS,
        CALLBACK_DATA | st.integers() | st.none(),
        st.sampled_from([None, None, "no message", "no from"]),
    ),
    st.builds(lambda uid, body: {"update_id": uid, **body}, IDS, st.dictionaries(st.text(), JSON)),
)
SMS = st.fixed_dictionaries(
    {
        "From": st.sampled_from([FW_PHONE, "+15550001111", "", "x\x00"]) | st.text(max_size=20),
        "Body": st.one_of(
            st.text(max_size=60),
            st.builds(
                lambda word, code, rest: f"{word} {code} {rest}",
                st.sampled_from(["YES", "NO", "CANCEL", "STOP", "START", "HELP", "y", "n"]),
                NUMBERS,
                st.text(max_size=20),
            ),
        ),
        "MessageSid": st.text(min_size=1, max_size=100),
    }
)


async def _company(s: Service) -> None:
    """A linked fieldworker with an open job request, and an admin (ADMIN_ID), to aim presses at."""
    assert (await s.api("POST", "/services", {"code": "plumb", "name": "Plumbing"}))[0] == 201
    fw = await add_fieldworker(s, "Ana Fuzz", FW_PHONE, 52.52, 13.40)
    assert await s.message(LINKED, f"/start {fw['invite_code']}") == 200
    await s.tg.wait_for(lambda calls: any("Welcome" in str(c.params) for c in calls))
    booking = {
        "customer": {"name": "C", "phone": "+4915199990000", "email": None},
        "address": "Alexanderplatz 1, Berlin",
        "location": {"lat": 52.5219, "lon": 13.4132},
        "services": ["plumb"],
        "appointments": [
            {"start": "2030-06-03T10:00:00+00:00", "end": "2030-06-03T12:00:00+00:00"}
        ],
    }
    assert (await s.api("POST", "/bookings", booking))[0] == 201


def _fuzz_webhooks(base: str, presses: set[str], in_body: set[str]) -> list[str]:
    """Post generated Updates and signed SMS; the answers that were 5xx.

    `presses` receives the ids of the button presses taken (answered 200, new `update_id`),
    `in_body` those answered in the webhook's answer.
    """
    http = requests.Session()
    failures: list[str] = []
    signer = RequestValidator(AUTH_TOKEN)
    seen: set[object] = set()

    @settings(BUDGET, max_examples=EXAMPLES * 10)
    @given(update=UPDATES)
    def post_update(update: dict[str, Any]) -> None:
        response = http.post(
            f"{base}/telegram/webhook",
            data=json.dumps(update),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
        )
        if response.status_code >= 500:
            failures.append(f"{response.status_code} for {update!r}")
        new = update["update_id"] not in seen
        seen.add(update["update_id"])
        if response.status_code == 200 and new and "callback_query" in update:
            presses.add(update["callback_query"]["id"])
            # Answered in the webhook's body, which Telegram runs (the emulator's `deliver`).
            body = response.json()
            if body.get("method") == "answerCallbackQuery":
                in_body.add(str(body.get("callback_query_id")))

    @settings(BUDGET, max_examples=EXAMPLES * 5)
    @given(form=SMS)
    def post_sms(form: dict[str, str]) -> None:
        url = f"{base}/sms/inbound"
        signature = signer.compute_signature(url, form)
        response = http.post(url, data=form, headers={"X-Twilio-Signature": signature})
        if response.status_code >= 500:
            failures.append(f"{response.status_code} for {form!r}")

    post_update()
    post_sms()
    return failures


async def test_the_webhooks_answer_every_generated_update_without_a_5xx(
    sqlite_service: Service,
) -> None:
    s = sqlite_service
    await _company(s)
    presses: set[str] = set()
    in_body: set[str] = set()
    failures = await asyncio.to_thread(_fuzz_webhooks, s.base, presses, in_body)
    assert not failures, "\n".join(failures[:20])
    assert presses, "the fuzz took no button press: it tests nothing there"

    def answered(calls: list[Call]) -> set[str]:
        return {str(c.params.get("callback_query_id")) for c in calls}

    # Every press taken is answered (the button stops spinning), whatever its data or sender.
    await s.tg.wait_for(
        lambda calls: (
            presses <= in_body | answered([c for c in calls if c.method == "answerCallbackQuery"])
        )
    )
