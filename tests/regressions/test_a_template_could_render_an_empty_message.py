"""Bug: a template that renders nothing for some messages was accepted, and sent as nothing.

`PUT /templates/staff_alert/telegram` with a branch for one alert kind only passed every check,
and every other alert then rendered empty, which Telegram refuses ("message text is empty"): the
alert failed. The same for a text that is all optional fields (`{% if notes %}...{% endif %}`)
and a booking without notes. Now the check renders every staff alert kind and the sample data
without its optional fields, and refuses a template that is empty or fails for any of them
(naming which); a saved template that still renders empty sends the default text instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifications import catalogue as cat
from notifications.template_checks import check, sample_values
from notifications.templates import BOOK, Source, render

ONE_KIND = Source('{% if kind == "assignment_timeout" %}Nobody took job {{ job_id }}{% endif %}')


@pytest.fixture
def forget_overrides() -> Iterator[None]:
    yield
    BOOK.replace_overrides({})


def test_a_staff_alert_template_missing_kinds_is_refused_naming_them() -> None:
    [problem] = check("staff_alert", cat.TELEGRAM, ONE_KIND)
    assert problem.part == "body"
    assert "renders an empty message" in problem.message
    assert "acceptance_waiting" in problem.message and "assignment_timeout" not in problem.message


def test_a_template_empty_without_its_optional_fields_is_refused() -> None:
    [problem] = check("job_request", cat.TELEGRAM, Source("{% if notes %}{{ notes }}{% endif %}"))
    assert "renders an empty message" in problem.message and "notes" in problem.message


def test_a_template_failing_without_its_optional_fields_is_refused() -> None:
    source = Source("{{ distance_km * 1000 }} m from {{ address }}")
    [problem] = check("job_request", cat.TELEGRAM, source)
    assert problem.line == 1 and "distance_km" in problem.message


@pytest.mark.usefixtures("forget_overrides")
def test_a_saved_template_rendering_empty_sends_the_default() -> None:
    BOOK.replace_overrides({("staff_alert", cat.TELEGRAM): ONE_KIND})
    values = {**sample_values("staff_alert"), "kind": "nobody_to_ask"}
    out = render("staff_alert", cat.TELEGRAM, **values)
    assert "no eligible fieldworker left to ask" in out.body
