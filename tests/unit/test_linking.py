"""The pure rules of `dispatch.linking` (the ones over a unit of work: tests/integration)."""

from __future__ import annotations

import pytest

from dispatch import linking


@pytest.mark.parametrize(
    ("current", "new", "keeps"),
    [
        (101, 101, True),  # the same account: its chat still answers
        (None, None, True),
        (101, 202, False),  # the chat was the old account's
        (101, None, False),  # cleared: nothing left to reach
        (None, 202, False),  # a new account starts unlinked
    ],
)
def test_a_staff_edit_keeps_the_chat_only_for_the_same_telegram_user(
    current: int | None, new: int | None, keeps: bool
) -> None:
    assert linking.edit_keeps_chat(current, new) is keeps
