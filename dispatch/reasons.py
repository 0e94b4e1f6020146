"""Which decline reason a fieldworker's answer names: one policy for buttons and SMS replies.

Declining a request and "no longer attending" an assigned job ask for the same configured reasons
(`CompanySettings.decline_reasons`). A fieldworker answers with a button (the n-th reason from 1,
or 0 for "No reason") or with an SMS reply (a reason's number or text, or their own words). These
pure functions say what the answer means; the adapters only word the reply. The commands
(`responding.respond`, `responding.no_longer_attending`) still refuse a missing reason when one is
required, after their own checks (a request already closed is answered as such first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from dispatch.settings import CompanySettings

#: A typed reason is kept in the fieldworker's words, cut to what the history stores.
MAX_TYPED_REASON = 500
#: ASCII digits only: `str.isdigit()` and `\d` also accept digits such as Arabic-Indic ones or '²'.
_DIGITS = re.compile(r"[0-9]+")
#: Longer numbers name no reason either way; stop before `int()` meets thousands of digits.
_MAX_DIGITS = 6


class Pick(Enum):
    """What an answer means."""

    REASON = "reason"  # `ReasonAnswer.reason` holds it: configured, or the fieldworker's own words
    OTHER = "other"  # the "Other" button: their own words are needed, asked for separately
    NONE = "none"  # no reason, and none is required
    REQUIRED = "required"  # no reason, but one is required
    ASK_AGAIN = "ask_again"  # a number naming no reason on the list (out of range, list changed)


@dataclass(frozen=True)
class ReasonAnswer:
    """An answer's meaning, and with `Pick.REASON` the reason to record."""

    pick: Pick
    reason: str | None = None


_OTHER = ReasonAnswer(Pick.OTHER)
_NONE = ReasonAnswer(Pick.NONE)
_REQUIRED = ReasonAnswer(Pick.REQUIRED)
_ASK_AGAIN = ReasonAnswer(Pick.ASK_AGAIN)


def _no_reason(settings: CompanySettings) -> ReasonAnswer:
    return _REQUIRED if settings.decline_reason_required else _NONE


def _listed(settings: CompanySettings, index: int) -> str | None:
    """The n-th configured reason from 1, or None when the list has no such entry."""
    reasons = settings.decline_reasons
    return reasons[index - 1] if 1 <= index <= len(reasons) else None


def from_button(settings: CompanySettings, index: int) -> ReasonAnswer:
    """What a reason button means: `index` is the n-th configured reason from 1; 0 "No reason".

    A button names the list it was drawn from: an index beyond today's list (reasons were removed
    since) asks again; "Other" asks for the fieldworker's words.
    """
    if index == 0:
        return _no_reason(settings)
    reason = _listed(settings, index)
    if reason is None:
        return _ASK_AGAIN
    return _OTHER if settings.is_other(reason) else ReasonAnswer(Pick.REASON, reason)


def from_reply(
    settings: CompanySettings, text: str, *, answering_prompt: bool = False
) -> ReasonAnswer:
    """What an SMS reply's reason means (the words after `NO 1234`, or a reply to our prompt).

    `2` picks the second configured reason and a reason's own text (any letter case) picks it;
    other text is the fieldworker's own reason. A number beyond the list asks again when it
    answers our numbered prompt (`answering_prompt`), and is taken as their words otherwise.
    "Other" alone names no reason: the reply was the place for their words, so it counts as none
    (the command then asks for one only when reasons are required). Never returns `Pick.OTHER`.
    """
    answer = text.strip()
    if not answer:
        return _no_reason(settings)
    if _DIGITS.fullmatch(answer):
        digits = answer.lstrip("0")
        reason = _listed(settings, int(digits or "0")) if len(digits) <= _MAX_DIGITS else None
        if reason is None and answering_prompt:
            return _ASK_AGAIN
    else:
        reason = next(
            (r for r in settings.decline_reasons if r.casefold() == answer.casefold()), None
        )
    if reason is None:
        return ReasonAnswer(Pick.REASON, answer[:MAX_TYPED_REASON])
    return _no_reason(settings) if settings.is_other(reason) else ReasonAnswer(Pick.REASON, reason)
