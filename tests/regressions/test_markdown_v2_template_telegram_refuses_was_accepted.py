"""Bug: a MarkdownV2 template that Telegram cannot parse was accepted.

Only HTML templates were checked against what Telegram accepts. A MarkdownV2 template with a
plain `.` ("Job {{ job_id }}.") or an unclosed `*` was saved, and Telegram answered every such
message "can't parse entities": none of them was shown. Now the rendered sample is checked
against MarkdownV2's rules (`notifications/markdown_v2.py`) and such a template is a 422.
"""

from __future__ import annotations

import pytest

from notifications import catalogue as cat
from notifications.template_checks import check
from notifications.templates import Source


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("Job {{ job_id }}.", "'.' must be escaped as '\\.'"),
        ("*{{ service }} for {{ customer }}", "'*' opens formatting that is never closed"),
        ("Call (or reply)", "'(' must be escaped"),
        ("[Open]", "must be followed by '(url)'"),
        ("`{{ code }}", "opens code that is never closed"),
        ("a - b", "'-' must be escaped"),
    ],
)
def test_what_telegram_refuses_is_refused(body: str, says: str) -> None:
    [problem] = check("job_request", cat.TELEGRAM, Source(body, None, "MarkdownV2"))
    assert problem.part == "body" and says in problem.message


def test_what_telegram_parses_passes() -> None:
    body = (
        "*{{ service }}* for {{ customer }} \\- _{{ when }}_\n"
        "__{{ address }}__ ~old~ ||{{ notes }}||\n"
        ">Booking {{ booking_id }}\\.\n"
        "[Map](https://maps.example.com/?q=a.b) `YES {{ code }}` {{ distance_km }} km\\!\n"
        "```\nraw (text) here.\n```"
    )
    assert check("job_request", cat.TELEGRAM, Source(body, None, "MarkdownV2")) == []
