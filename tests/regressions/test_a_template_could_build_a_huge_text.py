"""A template could build a huge value (`'x' * 10**9`, `9 ** 99999`) and tie up the server while
it was checked or rendered: the sandbox now bounds `*` and `**`, so the check refuses it, naming
the line, and nothing is saved."""

from __future__ import annotations

import pytest

from notifications.template_checks import check
from notifications.templates import MAX_BUILT, Source


@pytest.mark.parametrize(
    "expression",
    ["'x' * 10**9", "[1] * 100000000", "9 ** 99999", "notes * 100000"],
)
def test_a_template_that_builds_a_huge_value_is_refused(expression: str) -> None:
    problems = check("reminder", "sms", Source("Reminder\n{{ " + expression + " }}"))
    assert [(p.part, p.line) for p in problems] == [("body", 2)], problems
    assert "too large" in problems[0].message or str(MAX_BUILT) in problems[0].message


def test_small_arithmetic_still_renders() -> None:
    assert check("reminder", "sms", Source("{{ '-' * 20 }} {{ 2 ** 10 }} {{ job_id * 2 }}")) == []
