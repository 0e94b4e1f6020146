"""Checking a template before it is saved, and sample data to render it with.

`check` refuses (each problem naming its part and line): a syntax error; a merge field the event
does not offer; a template that fails or renders nothing with sample data (every staff alert kind
is tried), or with its optional fields (notes, distance, ...) empty; Telegram HTML or MarkdownV2
that Telegram would refuse; a job request SMS over two segments; a text longer than Telegram's 4,096
characters. Nothing is saved unless it passes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from types import TracebackType
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes

from notifications import catalogue as cat
from notifications import markdown_v2, segments
from notifications.templates import (
    JOB_REQUEST_SMS_SEGMENTS,
    OPTIONAL_FIELDS,
    Rendered,
    Source,
    environment,
    render_source,
)

TELEGRAM_MAX_CHARS = 4096
TOAST_MAX_CHARS = 200  # answerCallbackQuery's text
_TELEGRAM_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
    | {"span", "tg-spoiler", "tg-emoji", "blockquote"}
)
_SAMPLE_BASE: dict[str, Any] = {
    "customer": "Zoë O'Brien",
    "customer_first_name": "Zoë",
    "service": "Boiler service",
    "when": "Tue 1 Dec 10:00-12:00 CET",
    "date": "Tue 1 Dec",
    "time": "10:00",
    "address": "12 Rue de la Paix, Lyon",
    "notes": "Side door, the dog is friendly",
    "booking_id": 1042,
    "job_id": 2077,
    "request_id": 5120,
    "code": "4821",
    "distance_km": 4.2,
    "fieldworker": "Ben",
    "reason": "Too far",
    "previous": "Mon 30 Nov 09:00-11:00 CET",
    "options": "1) Wed 2 Dec 09:00-11:00 CET, 2) Thu 3 Dec 14:00-16:00 CET",
    "choices": "1 or 2",
    "chosen": "Wed 2 Dec 09:00-11:00 CET",
    "assigned": True,
    "accept_url": "https://dispatch.example.com/r/sample-accept-token",
    "decline_url": "https://dispatch.example.com/r/sample-decline-token",
    "verb": "accepted",
    "changed": ["address", "notes"],
    "summaries": ["Boiler service · Tue 1 Dec 10:00-12:00 CET · 12 Rue de la Paix, Lyon"],
    "invite": None,
    "suggested": True,
    "max_slots": 3,
    "kind": "assignment_timeout",
    "asked": 5,
    "rebroadcast": True,
    "status": "pending",
    "suggested_fieldworker": "Ben Okafor",
    "fieldworker_id": 7,
    "recipient": "Ben Okafor",
    "channel": "Telegram",
    "error": "Forbidden: bot was blocked by the user",
    "fallback": "SMS",
    "phone": "+33612345678",
    "text": "Can you come a bit earlier?",
    "outcome": "assigned",
}


def sample_values(event: str) -> dict[str, Any]:
    """Sample merge values for an event (non-ASCII names included)."""
    values = dict(_SAMPLE_BASE)
    if cat.EVENTS[event].audience == "staff":
        values["fieldworker"] = "Ben Okafor"
    return values


@dataclass(frozen=True)
class Problem:
    """Why a template is refused: which part (`body`, `subject`, `parse_mode`), which line."""

    part: str
    line: int | None
    message: str

    def describe(self) -> str:
        """`body, line 3: unknown merge field 'custmer'`."""
        where = f"{self.part}, line {self.line}" if self.line else self.part
        return f"{where}: {self.message}"


def _names(
    template_text: str, parse_mode: str | None, allowed: set[str], part: str
) -> list[Problem]:
    """Syntax errors and unknown merge fields of one part, with their lines."""
    env = environment(parse_mode)
    try:
        ast = env.parse(template_text)
    except TemplateSyntaxError as exc:
        return [Problem(part, exc.lineno, f"syntax error: {exc.message}")]
    unknown = meta.find_undeclared_variables(ast) - allowed - set(env.globals)
    problems = []
    for name in sorted(unknown):
        lines = [n.lineno for n in ast.find_all(nodes.Name) if n.name == name]
        problems.append(
            Problem(part, min(lines) if lines else None, f"unknown merge field {name!r}")
        )
    return problems


def _template_line(tb: TracebackType | None) -> int | None:
    """The template line a rendering error came from (Jinja maps its frames to `<template>`)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class _TelegramHtml(HTMLParser):
    """Telegram's HTML subset: known tags, properly nested."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002
        if tag not in _TELEGRAM_TAGS:
            self.problems.append(f"Telegram does not support the <{tag}> tag")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> does not close the tag opened before it")
        else:
            self.open.pop()


def _rendered_problems(event: str, channel: str, source: Source, out: Rendered) -> list[Problem]:
    problems = []
    if channel == cat.TELEGRAM and source.parse_mode == "HTML":
        parser = _TelegramHtml()
        parser.feed(out.body)
        parser.close()
        if parser.open:
            parser.problems.append(f"<{parser.open[-1]}> is never closed")
        problems += [Problem("body", None, p) for p in parser.problems[:1]]
    if channel == cat.TELEGRAM and source.parse_mode == "MarkdownV2":
        refused = markdown_v2.problem(out.body)
        if refused is not None:
            problems.append(Problem("body", None, refused))
    if event == "answer" and channel == cat.TELEGRAM and len(out.body) > TOAST_MAX_CHARS:
        toast = f"a button's answer is at most {TOAST_MAX_CHARS} characters"
        problems.append(Problem("body", None, toast))
    if channel == cat.TELEGRAM and len(out.body) > TELEGRAM_MAX_CHARS:
        problems.append(
            Problem("body", None, f"longer than Telegram's {TELEGRAM_MAX_CHARS} characters")
        )
    if event == "job_request" and channel == cat.SMS:
        count = segments.count(out.body)
        if count.segments > JOB_REQUEST_SMS_SEGMENTS:
            problems.append(
                Problem(
                    "body",
                    None,
                    f"a job request SMS must fit {JOB_REQUEST_SMS_SEGMENTS} segments; with sample "
                    f"data this one takes {count.segments} ({count.units} {count.encoding} units)",
                )
            )
    return problems


def sample_kinds(event: str) -> list[dict[str, Any]]:
    """The sample data sets a template is tried with (one per staff alert kind)."""
    base = sample_values(event)
    if event == "staff_alert":
        return [{**base, "kind": kind} for kind in cat.STAFF_ALERT_KINDS]
    if event == "answer":
        return [{**base, "outcome": outcome} for outcome in cat.ANSWER_OUTCOMES]
    return [base]


def check(event: str, channel: str, source: Source) -> list[Problem]:
    """Every reason to refuse this template for this event and channel (empty: it may be saved)."""
    spec = cat.EVENTS[event]
    allowed = set(spec.fields_for(channel))
    problems: list[Problem] = []
    if source.parse_mode is not None and (
        channel != cat.TELEGRAM or source.parse_mode not in cat.PARSE_MODES
    ):
        modes = " or ".join(cat.PARSE_MODES)
        problems.append(Problem("parse_mode", None, f"only Telegram templates take one ({modes})"))
    if channel == cat.EMAIL and not (source.subject or "").strip():
        problems.append(Problem("subject", None, "an email needs a subject"))
    if channel != cat.EMAIL and source.subject:
        problems.append(Problem("subject", None, "only email templates have a subject"))
    if not source.body.strip():
        problems.append(Problem("body", None, "the body is empty"))
    problems += _names(source.body, source.parse_mode, allowed, "body")
    if source.subject:
        problems += _names(source.subject, None, allowed, "subject")
    if problems:
        return problems
    return _trial_problems(event, channel, source)


#: Events tried once per value of a field (every staff alert kind, every answer outcome).
_VARIANTS = {"staff_alert": "kind", "answer": "outcome"}


def _trials(event: str, channel: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """The data a template is tried with, and how a problem names it: the sample data (every
    staff alert kind), then the same with the optional fields (notes, distance, ...) empty."""
    kinds = sample_kinds(event)
    optional = sorted(OPTIONAL_FIELDS & set(cat.EVENTS[event].fields_for(channel)))
    trials = [("with sample data", kinds)]
    if optional:
        bare = [{k: v for k, v in values.items() if k not in optional} for values in kinds]
        trials.append(
            (f"when {', '.join(optional)} {'is' if len(optional) == 1 else 'are'} empty", bare)
        )
    return trials


def _trial_problems(event: str, channel: str, source: Source) -> list[Problem]:
    """Render with every trial's data: a failure, an empty message (Telegram refuses it), or a
    rendered problem (`_rendered_problems`) refuses the template."""
    variant = _VARIANTS.get(event)  # the field that picks the wording (`{% if kind == ... %}`)
    for label, tries in _trials(event, channel):
        empty: list[str] = []
        for values in tries:
            try:
                out = render_source(source, event, channel, values)
            except Exception as exc:
                line = _template_line(sys.exc_info()[2])
                return [Problem("body", line, f"fails {label}: {exc}")]
            if not out.body.strip():
                empty.append(str(values.get(variant or "", "")))
                continue
            problems = _rendered_problems(event, channel, source, out)
            if problems:
                return problems
        if empty:
            which = f" for {variant} {', '.join(empty)}" if variant else ""
            return [Problem("body", None, f"renders an empty message {label}{which}")]
    return []
