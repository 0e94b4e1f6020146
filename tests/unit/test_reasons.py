"""Which decline reason a button press or an SMS reply names (`dispatch.reasons`)."""

from __future__ import annotations

import pytest

from dispatch.reasons import MAX_TYPED_REASON, Pick, ReasonAnswer, from_button, from_reply
from dispatch.settings import MAX_DECLINE_REASONS, CompanySettings

REASONS = ["Too far", "Not available", "Other"]


def settings(*, required: bool = True, reasons: list[str] = REASONS) -> CompanySettings:
    return CompanySettings(decline_reason_required=required, decline_reasons=reasons)


def reason(text: str) -> ReasonAnswer:
    return ReasonAnswer(Pick.REASON, text)


# -- buttons -------------------------------------------------------------------------------------


def test_a_button_names_the_nth_configured_reason() -> None:
    assert from_button(settings(), 1) == reason("Too far")
    assert from_button(settings(), 2) == reason("Not available")


def test_the_other_button_asks_for_their_words_whether_or_not_reasons_are_required() -> None:
    assert from_button(settings(), 3) == ReasonAnswer(Pick.OTHER)
    assert from_button(settings(required=False), 3) == ReasonAnswer(Pick.OTHER)
    # "Other" is recognised in any letter case.
    assert from_button(settings(reasons=["Too far", "OTHER"]), 2).pick is Pick.OTHER


def test_no_reason_is_allowed_only_when_reasons_are_optional() -> None:
    assert from_button(settings(required=False), 0) == ReasonAnswer(Pick.NONE)
    assert from_button(settings(required=True), 0) == ReasonAnswer(Pick.REQUIRED)


@pytest.mark.parametrize("index", [4, 5, MAX_DECLINE_REASONS])
def test_a_button_beyond_todays_list_asks_again(index: int) -> None:
    # The message was sent when the list was longer: its buttons name reasons since removed.
    assert from_button(settings(), index) == ReasonAnswer(Pick.ASK_AGAIN)
    assert from_button(settings(required=False), index) == ReasonAnswer(Pick.ASK_AGAIN)


def test_every_index_a_keyboard_can_carry_has_an_answer() -> None:
    many = [f"Reason {n}" for n in range(1, MAX_DECLINE_REASONS + 1)]
    for index in range(MAX_DECLINE_REASONS + 1):
        answer = from_button(settings(reasons=many), index)
        assert answer.pick is (Pick.REQUIRED if index == 0 else Pick.REASON)


# -- SMS replies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("prompted", [False, True])
def test_a_reply_names_a_reason_by_number_or_by_text(prompted: bool) -> None:
    s = settings()
    assert from_reply(s, "1", answering_prompt=prompted) == reason("Too far")
    assert from_reply(s, " 2 ", answering_prompt=prompted) == reason("Not available")
    assert from_reply(s, "02", answering_prompt=prompted) == reason("Not available")
    assert from_reply(s, "too FAR", answering_prompt=prompted) == reason("Too far")


@pytest.mark.parametrize("prompted", [False, True])
def test_other_words_are_their_own_reason(prompted: bool) -> None:
    s = settings()
    assert from_reply(s, "  Flat tyre  ", answering_prompt=prompted) == reason("Flat tyre")
    assert from_reply(s, "2 hours late", answering_prompt=prompted) == reason("2 hours late")
    long = "x" * (MAX_TYPED_REASON + 100)
    assert from_reply(s, long, answering_prompt=prompted) == reason("x" * MAX_TYPED_REASON)


@pytest.mark.parametrize("required", [True, False])
def test_an_empty_reply_or_other_alone_names_no_reason(required: bool) -> None:
    expected = ReasonAnswer(Pick.REQUIRED if required else Pick.NONE)
    s = settings(required=required)
    for text in ("", "   ", "Other", "other", "3"):
        assert from_reply(s, text) == expected
        assert from_reply(s, text, answering_prompt=True) == expected


@pytest.mark.parametrize("text", ["0", "4", "00", "99", "123456789012345678901234567890"])
def test_a_number_off_the_list_asks_again_only_when_answering_the_prompt(text: str) -> None:
    assert from_reply(settings(), text, answering_prompt=True) == ReasonAnswer(Pick.ASK_AGAIN)
    # After `NO 1234`, a number that names no reason is kept as their words.
    assert from_reply(settings(), text) == reason(text)


@pytest.mark.parametrize("text", ["\u0661", "\u0662", "²", "\uff11"])
def test_unicode_digits_are_words_not_numbers(text: str) -> None:
    # `str.isdigit()` is True for each, and `int()` reads '\u0661' as 1 and fails on '²'.
    assert from_reply(settings(), text, answering_prompt=True) == reason(text)
    assert from_reply(settings(), text) == reason(text)


def test_a_huge_number_is_handled_without_converting_it() -> None:
    text = "9" * 5000  # beyond int()'s default digit limit
    assert from_reply(settings(), text, answering_prompt=True) == ReasonAnswer(Pick.ASK_AGAIN)
    assert from_reply(settings(), "0" * 5000 + "1", answering_prompt=True) == reason("Too far")
