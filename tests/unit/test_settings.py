"""`dispatch.settings`: every duration within 0..30 days (CONTRACT §4), usable decline reasons."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dispatch.settings import MAX_DURATION_S, CompanySettings

DURATIONS = [{"assignment_timeout_s": v} for v in (0, MAX_DURATION_S)] + [
    {"unassigned_alert_lead_s": MAX_DURATION_S},
    {"customer_notify": {"no_acceptance_after_s": 0}},
]


@pytest.mark.parametrize("values", DURATIONS)
def test_durations_from_zero_to_thirty_days_are_accepted(values: dict[str, object]) -> None:
    CompanySettings.model_validate(values)


@pytest.mark.parametrize(
    "values",
    [
        {"assignment_timeout_s": MAX_DURATION_S + 1},
        {"assignment_timeout_s": 10**12},
        {"unassigned_alert_lead_s": -1},
        {"customer_notify": {"no_acceptance_after_s": 10**12}},
        {"decline_reasons": ["Too far", "Other\x00"]},
    ],
)
def test_values_beyond_their_bounds_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CompanySettings.model_validate(values)


def test_thirty_days_is_the_contract_bound() -> None:
    assert MAX_DURATION_S == 2_592_000
