"""Times a fieldworker types to propose (Reschedule Assist), read in their own time zone, and the
numbers a customer answers an offer with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handlers.sms_assist import CHOICE_RE
from handlers.times import UnreadableTime, read_times

#: Monday 23 November 2026, 11:00 in Berlin.
NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)


def berlin(text: str) -> list[str]:
    return [t.isoformat() for t in read_times(text, NOW, "Europe/Berlin")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue 10:00", ["2026-11-24T10:00:00+01:00"]),
        ("tuesday 10:00", ["2026-11-24T10:00:00+01:00"]),
        ("Mon 15:00", ["2026-11-23T15:00:00+01:00"]),  # today, still ahead
        ("Mon 9:00", ["2026-11-30T09:00:00+01:00"]),  # today's is over: next Monday
        ("25/11 14:30", ["2026-11-25T14:30:00+01:00"]),
        ("25.11.2026 9:00", ["2026-11-25T09:00:00+01:00"]),
        ("2026-11-25 10:00", ["2026-11-25T10:00:00+01:00"]),
        ("2026-11-25T10:00", ["2026-11-25T10:00:00+01:00"]),
        ("1/1 10:00", ["2027-01-01T10:00:00+01:00"]),  # January is next year's
        ("today 2pm", ["2026-11-23T14:00:00+01:00"]),
        ("tomorrow 10.30", ["2026-11-24T10:30:00+01:00"]),
        ("Fri at 8", ["2026-11-27T08:00:00+01:00"]),
        (
            "wed 10, thu 11am\nfri 8:15; Wed 10:00",  # a repeat counts once
            [
                "2026-11-25T10:00:00+01:00",
                "2026-11-26T11:00:00+01:00",
                "2026-11-27T08:15:00+01:00",
            ],
        ),
    ],
)
def test_times_are_read_in_the_fieldworkers_zone(text: str, expected: list[str]) -> None:
    assert berlin(text) == expected


def test_the_same_words_mean_their_own_clock_elsewhere() -> None:
    (when,) = read_times("Tue 10:00", NOW, "America/New_York")
    assert when.astimezone(UTC) == datetime(2026, 11, 24, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "piece", "why"),
    [
        ("Tue 10:00, someday", "someday", "is not a time I can read"),
        ("Tue", "Tue", "is not a time I can read"),
        ("25/11 25:00", "25/11 25:00", "is not a time I can read"),
        ("13pm tue", "13pm tue", "is not a time I can read"),
        ("31/11 10:00", "31/11 10:00", "is not a date"),
        ("20/11 10:00", "20/11 10:00", "is in the past"),
        ("2026-11-23 10:30", "2026-11-23 10:30", "is in the past"),
        ("today 9:00", "today 9:00", "is in the past"),
        (" , ", ",", "has no time in it"),
    ],
)
def test_what_cannot_be_read_or_is_past_is_refused_by_name(text: str, piece: str, why: str) -> None:
    with pytest.raises(UnreadableTime) as refused:
        read_times(text, NOW, "Europe/Berlin")
    assert refused.value.piece == piece and why in refused.value.message


@pytest.mark.parametrize(
    ("body", "number"),
    [("1", 1), (" 2 ", 2), ("#2", 2), ("option 2", 2), ("Option #3", 3), ("no. 1", 1), ("2.", 2)],
)
def test_a_customer_choice_is_a_number_however_written(body: str, number: int) -> None:
    match = CHOICE_RE.fullmatch(body)
    assert match is not None and int(match[1]) == number


@pytest.mark.parametrize("body", ["yes", "2 please?", "Can you come at 3", "1 or 2", ""])
def test_other_text_is_no_choice(body: str) -> None:
    assert CHOICE_RE.fullmatch(body) is None
