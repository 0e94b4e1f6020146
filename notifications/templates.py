"""Message texts: Jinja2 templates per event and channel, rendered in a sandbox.

Templates are data, never code: a `SandboxedEnvironment` with `StrictUndefined` (a merge field
missing at render time is an error, never an empty gap), and a template only ever sees the merge
fields its event declares (`notifications.catalogue`). The defaults are package data
(`default_templates/*.toml`); staff overrides live in the database (`message_template`) and are
held here (`BOOK`), refreshed at start, after every `PUT`/`DELETE`, and by each instance's sweep
(so another instance follows within seconds).

Telegram texts are rendered for the parse mode their template declares: with `HTML` every merge
value is HTML-escaped, with `MarkdownV2` it is Markdown-escaped, so a customer called
`<b>O'Brien_</b>` shows literally. An email's body is plain text; its HTML part is that text,
escaped, with its links made clickable (`html_part`).
"""

from __future__ import annotations

import functools
import html
import logging
import re
import threading
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, Template
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from notifications import catalogue as cat
from notifications import segments

log = logging.getLogger(__name__)

#: Merge fields that may be absent (then None): code need not pass them.
OPTIONAL_FIELDS = frozenset(
    {"reason", "invite", "error", "fallback", "suggested_fieldworker", "notes", "distance_km"}
    | {"accept_url", "decline_url"}
)
#: A job request SMS must fit this many segments (its notes are shortened to fit).
JOB_REQUEST_SMS_SEGMENTS = 2

_MARKDOWN_SPECIAL = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
_URL = re.compile(r"https?://[^\s<>\"']+")


def escape_markdown_v2(value: Any) -> Any:
    """Telegram MarkdownV2: every reserved character of a merge value backslash-escaped."""
    if value is None or isinstance(value, bool):
        return value
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value))


#: The longest text or list a template may build with `*` (a message is far shorter).
MAX_BUILT = 10_000


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox, with the arithmetic that could build a huge value bounded: `'x' * 10**9`
    and `9 ** 99999` are refused (a `SecurityError`, so the check names the line), as Jinja's
    sandbox refuses a `range` of more than 100,000 items."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """`*` and `**`, bounded."""
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("the exponent is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_BUILT:
                    raise SecurityError(f"that builds more than {MAX_BUILT} items")
        return super().call_binop(context, operator, left, right)


_plain_env = BoundedSandbox(autoescape=False, undefined=StrictUndefined)
_html_env = BoundedSandbox(autoescape=True, undefined=StrictUndefined)
_markdown_env = BoundedSandbox(
    autoescape=False, undefined=StrictUndefined, finalize=escape_markdown_v2
)


def environment(parse_mode: str | None) -> SandboxedEnvironment:
    """The sandbox that renders (and escapes) for a Telegram parse mode; plain otherwise."""
    if parse_mode == "HTML":
        return _html_env
    if parse_mode == "MarkdownV2":
        return _markdown_env
    return _plain_env


@dataclass(frozen=True)
class Source:
    """One template as written: body, an email's subject, a Telegram parse mode."""

    body: str
    subject: str | None = None
    parse_mode: str | None = None


@dataclass(frozen=True)
class Rendered:
    """One rendered message: its text, and an email's subject and HTML part."""

    body: str
    subject: str | None = None
    parse_mode: str | None = None
    html: str | None = None

    def telegram_payload(self) -> dict[str, Any]:
        """What an outbox row's payload carries for the Telegram transport."""
        return {"parse_mode": self.parse_mode} if self.parse_mode else {}

    def email_payload(self) -> dict[str, Any]:
        """What an outbox row's payload carries for `notifications.email_transport`."""
        return {"subject": self.subject, "html": self.html}


_FIELDWORKER_SUBJECT = "About your job: {{ service }}, {{ when }}"
_CUSTOMER_SUBJECT = "Your booking: {{ service }}, {{ when }}"


def _load_defaults() -> dict[tuple[str, str], Source]:
    """The shipped templates, and the emails derived from SMS texts where none is written."""
    folder = resources.files("notifications").joinpath("default_templates")
    out: dict[tuple[str, str], Source] = {}
    for name in ("fieldworker.toml", "customer.toml", "staff.toml", "answers.toml"):
        data = tomllib.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        for event, channels in data.items():
            for channel, t in channels.items():
                body = t["body"].strip("\n")
                out[(event, channel)] = Source(body, t.get("subject"), t.get("parse_mode"))
    for spec in cat.EVENTS.values():
        sms = out.get((spec.name, cat.SMS))
        if cat.EMAIL in spec.channels and (spec.name, cat.EMAIL) not in out and sms:
            subject = _CUSTOMER_SUBJECT if spec.audience == "customer" else _FIELDWORKER_SUBJECT
            out[(spec.name, cat.EMAIL)] = Source(sms.body, subject)
    return out


class TemplateBook:
    """The defaults and staff's overrides; the overrides are replaced whole by a refresh."""

    def __init__(self) -> None:
        self.defaults = _load_defaults()
        self._overrides: dict[tuple[str, str], Source] = {}
        self._lock = threading.Lock()

    def source(self, event: str, channel: str) -> tuple[Source, bool]:
        """The template in force for an event and channel, and whether it is the default."""
        key = (event, channel)
        override = self._overrides.get(key)
        if override is not None:
            return override, False
        return self.defaults[key], True

    def replace_overrides(self, overrides: dict[tuple[str, str], Source]) -> None:
        """Staff's templates as the database holds them now (a refresh)."""
        with self._lock:
            self._overrides = dict(overrides)

    def compiled(self, source: Source, part: str) -> Template:
        """The compiled body or subject of a template (compiled once per text while in use)."""
        if part == "body":
            return _compile(source.body, source.parse_mode)
        return _compile(source.subject or "", None)


BOOK = TemplateBook()

#: How many compiled texts are kept: every template in force, and room for recent previews
#: (each checked or previewed text is compiled; keeping them all grew the process without end).
COMPILED_TEMPLATES = 512


@functools.lru_cache(maxsize=COMPILED_TEMPLATES)
def _compile(text: str, parse_mode: str | None) -> Template:
    return environment(parse_mode).from_string(text)


def compiled_count() -> int:
    """How many compiled template texts are held now."""
    return _compile.cache_info().currsize


def merge_values(event: str, channel: str, values: dict[str, Any]) -> dict[str, Any]:
    """The values a template sees: only its event's fields, optional ones defaulted to None, and
    `summary` made from service, when and address when not given."""
    spec = cat.EVENTS[event]
    allowed = spec.fields_for(channel)
    merged = {name: values[name] for name in allowed if name in values}
    for name in allowed:
        if name not in merged and name in OPTIONAL_FIELDS:
            merged[name] = None
    if "summary" in allowed and "summary" not in merged:
        parts = [values.get(k) for k in ("service", "when", "address")]
        if all(isinstance(p, str) for p in parts):
            merged["summary"] = (" · " if channel == cat.TELEGRAM else ", ").join(parts)  # type: ignore[arg-type]
    return merged


def render_source(source: Source, event: str, channel: str, values: dict[str, Any]) -> Rendered:
    """Render one template (in force or proposed) with the given merge values."""
    merged = merge_values(event, channel, values)
    body = BOOK.compiled(source, "body").render(**merged).strip()
    if event == "job_request" and channel == cat.SMS:
        body = _fit_request_sms(source, merged, body)
    if channel == cat.EMAIL:
        subject = BOOK.compiled(source, "subject").render(**merged).strip()
        return Rendered(body, " ".join(subject.split()), None, html_part(body))
    if channel == cat.TELEGRAM:
        return Rendered(body, None, source.parse_mode)
    return Rendered(body)


def render(event: str, channel: str, /, **values: Any) -> Rendered:
    """Render the template in force for an event and channel.

    A staff template that fails on real data (a field this message lacks, a filter refusing a
    value) or renders nothing falls back to the default text, logged: a bad template never loses
    a message.
    """
    source, is_default = BOOK.source(event, channel)
    if is_default:
        return render_source(source, event, channel, values)
    try:
        out = render_source(source, event, channel, values)
    except Exception:
        log.exception("template %s/%s failed; sent the default text instead", event, channel)
        return render_source(BOOK.defaults[(event, channel)], event, channel, values)
    if not out.body.strip():  # nobody can send nothing (Telegram refuses an empty text)
        log.warning(
            "template %s/%s rendered nothing; sent the default text instead", event, channel
        )
        return render_source(BOOK.defaults[(event, channel)], event, channel, values)
    return out


def render_key(key: str, /, **values: Any) -> Rendered:
    """Render a message named by its key (`notifications.catalogue.MESSAGES`)."""
    m = cat.message(key)
    return render(m.event, m.channel, **{**values, **m.fixed})


def answer(channel: str, outcome: str) -> str:
    """The answer to a fieldworker's reply on a channel (`answer` template), by its outcome."""
    return render("answer", channel, outcome=str(outcome)).body or "Done."


def help_text(channel: str) -> str:
    """How the bot works, for a channel (`help` template)."""
    return render("help", channel).body


def text(key: str, /, **values: Any) -> str:
    """The rendered text of a message key (for callers that need only the body)."""
    return render_key(key, **values).body


def _fit_request_sms(source: Source, merged: dict[str, Any], body: str) -> str:
    """A job request SMS over its segment budget sends with shortened notes, never not at all.

    The mark of a cut is "..." in a GSM-7 text: "…" is not in the GSM alphabet and would make
    the whole SMS UCS-2, which holds less than half as much.
    """
    notes = merged.get("notes") or ""
    mark = "..." if segments.is_gsm7(body) else "…"
    while notes and segments.count(body).segments > JOB_REQUEST_SMS_SEGMENTS:
        notes = notes[: max(0, len(notes) - max(8, len(notes) // 4))].rstrip()
        shortened = {**merged, "notes": (notes + mark) if notes else None}
        body = BOOK.compiled(source, "body").render(**shortened).strip()
    return body


def html_part(text_body: str) -> str:
    """An email's HTML part: its plain text escaped, line breaks kept, links clickable."""
    escaped = html.escape(text_body)

    def link(match: re.Match[str]) -> str:
        url = match.group(0)
        return f'<a href="{url}">{url}</a>'

    paragraphs = [
        _URL.sub(link, p).replace("\n", "<br>") for p in escaped.split("\n\n") if p.strip()
    ]
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def format_when(start: datetime, end: datetime, tz: str) -> str:
    """`Tue 1 Dec 10:00-12:00` in the given zone (falls back to UTC for an unknown zone)."""
    zone = zone_of(tz)
    s, e = start.astimezone(zone), end.astimezone(zone)
    end_text = (
        e.strftime("%H:%M")
        if e - s < timedelta(days=1) and s.date() == e.date()
        else (e.strftime("%a %-d %b %H:%M"))
    )
    return f"{s.strftime('%a %-d %b %H:%M')}-{end_text} {s.tzname()}"


def zone_of(tz: str) -> ZoneInfo:
    """A time zone by name; UTC for an unknown one."""
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def timing(start: datetime, end: datetime, tz: str) -> dict[str, str]:
    """The `when`, `date` and `time` merge fields of an appointment in the recipient's zone."""
    return dict(_timing(start, end, tz))


@functools.lru_cache(maxsize=1024)
def _timing(start: datetime, end: datetime, tz: str) -> dict[str, str]:
    # A broadcast asks for the same job's time in a few zones hundreds of times.
    local = start.astimezone(zone_of(tz))
    return {
        "when": format_when(start, end, tz),
        "date": local.strftime("%a %-d %b"),
        "time": local.strftime("%H:%M"),
    }
