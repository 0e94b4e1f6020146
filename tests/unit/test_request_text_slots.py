"""A broadcast's job request texts, rendered once per job and time zone and filled in per
fieldworker (`notifications.slots`), are byte-identical to rendering each whole (`render`)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from models.rows import FieldworkerRow
from notifications import catalogue as cat
from notifications import slots
from notifications.render import OutboxRenderer
from notifications.templates import BOOK, Source, environment, render

START = datetime(2026, 12, 1, 9, tzinfo=UTC)
ZONES = ["Europe/Berlin", "UTC", "America/New_York", "Asia/Kolkata", "Not/AZone"]
NAMES = ["Anna Schmidt", "<b>O'Brien_</b> Jr", 'Zoë "Z" *bold*', "A&B [x](y)", "Li", "  Max  "]
NOTES = [None, "", "Ring twice <b>!</b> #3 (back door)", "2 dogs & 1 cat_"]


def _fleet() -> list[FieldworkerRow]:
    """Fieldworkers in several zones, with and without a base, names full of markup."""
    fleet = []
    for i, (zone, name) in enumerate(itertools.product(ZONES, NAMES)):
        base = None if i % 4 == 0 else (52.52 + i / 100, 13.40 - i / 50)
        if i % 7 == 0:
            base = (52.52, 13.40)  # distance 0.0: falsy, not None
        fleet.append(
            FieldworkerRow(
                id=i + 1,
                name=name,
                phone=None,
                email=None,
                telegram_user_id=i + 1,
                telegram_chat_id=i + 1,
                channels=("telegram",),
                base_lat=base[0] if base else None,
                base_lon=base[1] if base else None,
                timezone=zone,
                sms_opt_out=False,
            )
        )
    return fleet


def _context(job_id: int, notes: str | None) -> dict[str, Any]:
    """A job's rendering context as `OutboxRenderer._load_job_context` makes it."""
    booking = SimpleNamespace(lat=52.5219, lon=13.4132)
    return {
        "job": SimpleNamespace(booking=booking),
        "customer": "Carol <script> O'Hara",
        "customer_first_name": "Carol",
        "booking_id": 7,
        "job_id": job_id,
        "service": "Plumbing & Heating_",
        "address": "Alexanderplatz 1, 10178 Berlin (Mitte)",
        "notes": notes,
        "start": START,
        "end": START + timedelta(hours=2),
    }


def _whole(renderer: OutboxRenderer, fw: FieldworkerRow, request_id: int, ctx: Any) -> Any:
    """How the text was rendered before: the whole template, per fieldworker."""
    values = renderer._request_values(fw, ctx)
    return render("job_request", cat.TELEGRAM, request_id=request_id, **values)


OVERRIDES = {
    "html, fields at both ends": Source(
        "{{ fieldworker }}: #{{ request_id }} {{ summary }}{% if distance_km is none %} (no base)"
        "{% else %} {{ distance_km }} km{% endif %} {{ notes }} {{ fieldworker }}",
        parse_mode="HTML",
    ),
    "markdown": Source(
        "*New job* \\#{{ request_id }} for {{ fieldworker }}: {{ service }}, {{ when }}"
        "{% if not (distance_km is none) %}, {{ distance_km }} km{% endif %}",
        parse_mode="MarkdownV2",
    ),
    "plain": Source("{{ request_id }}|{{ fieldworker }}|{{ distance_km }}|{{ date }} {{ time }}"),
    "a filter on a field (rendered whole)": Source(
        "{{ fieldworker|upper }} #{{ request_id }}", parse_mode="HTML"
    ),
    "a comparison (rendered whole)": Source(
        "#{{ request_id }}{% if distance_km and distance_km > 5 %} far{% endif %}"
    ),
    "a set (rendered whole)": Source("{% set who = fieldworker %}{{ who }} #{{ request_id }}"),
    "a filter block (rendered whole)": Source(
        "{% filter upper %}{{ fieldworker }}{% endfilter %} #{{ request_id }}"
    ),
    "fails on real data (default text)": Source("{{ request_id }} {{ service.nope.deeper }}"),
    "renders nothing for some (default text)": Source(
        "{% if distance_km is not none %}{{ fieldworker }}{% endif %}"
    ),
}


@pytest.fixture
def book() -> Iterator[None]:
    yield
    BOOK.replace_overrides({})


@pytest.mark.parametrize("override", [None, *OVERRIDES], ids=str)
def test_a_mixed_fleet_gets_the_same_texts_as_rendering_each_whole(
    override: str | None,
    book: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole: list[str] = []

    def counted(*args: Any, **values: Any) -> Any:
        whole.append(args[0])
        return render(*args, **values)

    monkeypatch.setattr(slots, "render", counted)
    if override is not None:
        BOOK.replace_overrides({("job_request", cat.TELEGRAM): OVERRIDES[override]})
    renderer = OutboxRenderer(telegram_enabled=True, sms_enabled=True, company_timezone="UTC")
    caplog.set_level(logging.CRITICAL)  # the failing overrides log their fallback each time
    compared = 0
    for job_id, notes in enumerate(NOTES, 1):
        ctx = _context(job_id, notes)
        for request_id, fw in enumerate(_fleet(), 100 * job_id):
            expected = _whole(renderer, fw, request_id, ctx)
            got = renderer._request_text(fw, request_id, ctx)
            assert got == expected, (override, fw, notes)
            compared += 1
    assert compared == len(NOTES) * len(ZONES) * len(NAMES)
    if override is None or override in ("html, fields at both ends", "markdown", "plain"):
        assert not whole  # every text came from a skeleton
    elif "rendered whole" in override or "fails" in override:
        assert len(whole) == compared


def test_fillable_only_when_every_use_is_a_plain_output_or_a_none_test() -> None:
    names = frozenset({"fieldworker", "distance_km", "request_id"})
    default, _ = BOOK.source("job_request", cat.TELEGRAM)
    assert slots.fillable(default.body, default.parse_mode, names)
    for name in ("html, fields at both ends", "markdown", "plain"):
        source = OVERRIDES[name]
        assert slots.fillable(source.body, source.parse_mode, names), name
    for name in ("a filter on a field", "a comparison", "a set", "a filter block"):
        source = OVERRIDES[f"{name} (rendered whole)"]
        assert not slots.fillable(source.body, source.parse_mode, names), name
    for text in (
        "{% for c in 'ab' %}{{ fieldworker }}{% endfor %}",
        "{% macro m() %}{{ fieldworker }}{% endmacro %}{{ m()|upper }}",
        "{% autoescape false %}{{ fieldworker }}{% endautoescape %}",
        "{{ fieldworker ~ '!' }}",
        "{{ 'x' if fieldworker else 'y' }}",
        "{% if fieldworker %}x{% endif %}",
        "{{ fieldworker[0] }}",
        "{% broken",
    ):
        assert not slots.fillable(text, "HTML", names), text


@pytest.mark.parametrize("parse_mode", [None, "HTML", "MarkdownV2"])
def test_a_filled_in_value_reads_as_jinja_outputs_it(parse_mode: str | None) -> None:
    env = environment(parse_mode)
    template = env.from_string("{{ x }}")
    for value in ["<b>O'Brien_</b>", 'a"b&c', "*[x](y)!", "", " sp ", 0, 12, 3.5, 0.0, True, None]:
        assert slots.output_text(env, value) == template.render(x=value), value
