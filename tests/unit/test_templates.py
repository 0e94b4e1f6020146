"""Templates without a database: every default renders, merge values are escaped for Telegram's
parse modes, SMS segments are counted as carriers count them, non-ASCII names arrive intact."""

from __future__ import annotations

import pytest
from jinja2 import meta

from notifications import catalogue as cat
from notifications import markdown_v2, segments
from notifications.template_checks import check, sample_kinds, sample_values
from notifications.templates import (
    BOOK,
    JOB_REQUEST_SMS_SEGMENTS,
    Source,
    environment,
    render_source,
)

EVERY_TEMPLATE = [(e.name, c) for e in cat.EVENTS.values() for c in e.channels]
HOSTILE = "<b>O'Brien_</b>"


def fields_used(source: Source) -> set[str]:
    """The merge fields a template's body names."""
    env = environment(source.parse_mode)
    return meta.find_undeclared_variables(env.parse(source.body))


# -- the defaults -----------------------------------------------------------------------------


@pytest.mark.parametrize(("event", "channel"), EVERY_TEMPLATE)
def test_every_default_renders_with_sample_data_and_passes_its_own_checks(
    event: str, channel: str
) -> None:
    source, is_default = BOOK.source(event, channel)
    assert is_default
    assert check(event, channel, source) == []
    for values in sample_kinds(event):  # every staff alert kind
        out = render_source(source, event, channel, values)
        assert out.body.strip()
        assert "None" not in out.body, "an absent optional field must not print as None"
        if channel == cat.EMAIL:
            assert out.subject and out.html
        else:
            assert out.subject is None


def test_every_event_has_a_default_on_each_of_its_channels_and_no_other() -> None:
    assert set(BOOK.defaults) == set(EVERY_TEMPLATE)


@pytest.mark.parametrize(("event", "channel"), EVERY_TEMPLATE)
def test_optional_fields_left_out_render_without_gaps(event: str, channel: str) -> None:
    source, _ = BOOK.source(event, channel)
    for values in sample_kinds(event):
        for name in ("notes", "reason", "distance_km", "invite", "error", "fallback"):
            values.pop(name, None)
        assert "None" not in render_source(source, event, channel, values).body


# -- escaping ---------------------------------------------------------------------------------


def render_telegram(body: str, parse_mode: str | None, **values: object) -> str:
    merged = {**sample_values("job_request"), **values}
    return render_source(Source(body, None, parse_mode), "job_request", cat.TELEGRAM, merged).body


def test_a_hostile_name_shows_literally_in_html() -> None:
    text = render_telegram("<b>{{ service }}</b> for {{ customer }}", "HTML", customer=HOSTILE)
    assert text == "<b>Boiler service</b> for &lt;b&gt;O&#39;Brien_&lt;/b&gt;"


def test_a_hostile_name_shows_literally_in_markdown_v2() -> None:
    text = render_telegram("*{{ service }}* for {{ customer }}", "MarkdownV2", customer=HOSTILE)
    assert text == r"*Boiler service* for <b\>O'Brien\_</b\>"
    assert markdown_v2.problem(text) is None  # Telegram parses it
    # Numbers are text too: the dot of 4.2 is reserved.
    assert render_telegram("{{ distance_km }} km", "MarkdownV2") == r"4\.2 km"


def test_without_a_parse_mode_a_name_is_sent_as_written() -> None:
    assert render_telegram("for {{ customer }}", None, customer=HOSTILE) == f"for {HOSTILE}"


def test_the_default_job_request_escapes_a_hostile_name_for_its_parse_mode() -> None:
    source, _ = BOOK.source("job_request", cat.TELEGRAM)
    values = {**sample_values("job_request"), "customer": HOSTILE, "notes": "a < b & c"}
    out = render_source(source, "job_request", cat.TELEGRAM, values)
    assert out.parse_mode == "HTML"
    assert "&lt;b&gt;O&#39;Brien_&lt;/b&gt;" in out.body and "a &lt; b &amp; c" in out.body
    assert "<b>Boiler service</b>" in out.body  # the template's own markup stays markup


# -- SMS segments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 162, 2),
        ("[]{}" * 40, "GSM-7", 320, 3),
        # The escape and its character never straddle two segments: 152 + 2 does not fit 153.
        ("a" * 152 + "€" * 77, "GSM-7", 306, 3),
        ("é" * 160, "GSM-7", 160, 1),  # é is in the GSM alphabet, ë is not
        ("ë" * 70, "UCS-2", 70, 1),
        ("ë" * 71, "UCS-2", 71, 2),
        ("ë" * 134, "UCS-2", 134, 2),
        ("ë" * 135, "UCS-2", 135, 3),
        ("a" * 69 + "\u2019", "UCS-2", 70, 1),  # one typographic quote makes it all UCS-2
        ("😀" * 35, "UCS-2", 70, 1),  # an emoji is a surrogate pair: two units
        ("😀" * 36, "UCS-2", 72, 2),
        ("a" * 66 + "😀" + "a", "UCS-2", 69, 1),
        ("a" * 66 + "😀" + "a" * 5, "UCS-2", 73, 2),  # the pair is not split: 66 | 2 + 5
        ("a" * 66 + "😀" * 34, "UCS-2", 134, 3),  # 66 + 2 > 67: the pair starts part two
    ],
)
def test_segments_are_counted_as_carriers_count(
    text: str, encoding: str, units: int, count: int
) -> None:
    assert segments.count(text) == segments.Segments(encoding, units, count)


def test_a_job_request_sms_with_long_notes_is_shortened_to_two_segments() -> None:
    source, _ = BOOK.source("job_request", cat.SMS)
    values = {**sample_values("job_request"), "notes": "Gate code 1234, " * 40}
    out = render_source(source, "job_request", cat.SMS, values)
    assert segments.count(out.body).segments <= JOB_REQUEST_SMS_SEGMENTS
    assert "…" in out.body and out.body.endswith("Reply YES 4821 or NO 4821 reason")


# -- non-ASCII names ---------------------------------------------------------------------------

NAMES = {
    "customer": "Zoë Ærø-Łukasiewicz 山田",
    "customer_first_name": "Zoë",
    "fieldworker": "Søren Ñúñez",
}


#: The names each staff alert shows (the other kinds name neither).
STAFF_ALERT_NAMES = {
    "customer_replied": {"customer"},
    "acceptance_waiting": {"fieldworker"},
    "fieldworker_cancelled": {"fieldworker"},
}


@pytest.mark.parametrize(("event", "channel"), EVERY_TEMPLATE)
def test_non_ascii_names_arrive_intact_in_every_channel(event: str, channel: str) -> None:
    source, _ = BOOK.source(event, channel)
    for values in sample_kinds(event):
        out = render_source(source, event, channel, {**values, **NAMES})
        shown = fields_used(source) & set(NAMES)
        if event == "staff_alert":
            shown = STAFF_ALERT_NAMES.get(values["kind"], set())
        for name in shown:
            assert NAMES[name] in out.body, name
            if channel == cat.EMAIL:
                assert NAMES[name] in (out.html or "")
