"""Bug: a button press whose callback data named an id beyond 32 bits was never answered on
PostgreSQL, so the fieldworker's button kept spinning.

The id reached a 32-bit serial column, PostgreSQL refused it, and the handler died before it
answered the press. Callback data is now validated first (`notifications.callbacks`: ids within
2^31 - 1, ASCII digits), and a fieldworker's press is answered even when handling it fails. On both
backends.
"""

from __future__ import annotations

from typing import Any

import pytest

from dispatch import responding
from emulators import make_callback_update

# Both backends (the root conftest's), over this folder's SQLite-only `db_url`.
from tests.conftest import db_url  # noqa: F401
from tests.factories import add_fieldworker, add_service, create_booking
from tests.regressions.conftest import Webhooks

ANA = 601


def answers(webhooks: Webhooks) -> list[str]:
    return [
        str(c.params.get("text"))
        for c in webhooks.telegram.emu.calls_of("answerCallbackQuery", ok_only=True)
    ]


async def test_every_press_is_answered(webhooks: Webhooks, monkeypatch: pytest.MonkeyPatch) -> None:
    await add_service()
    await add_fieldworker("Ana", telegram=ANA)
    await create_booking()  # request 1 to Ana
    presses = [
        f"a:{2**31}",
        f"d:{2**32}",
        f"r:1:{2**31}",
        f"n:{2**31 - 1}",
        f"x:{2**40}:1",
        "a:99999999999",
    ]
    for update_id, data in enumerate(presses, 1):
        update = make_callback_update(update_id, ANA, data, message_chat_id=ANA, message_id=1)
        assert await webhooks.update(update) == 200
    assert len(answers(webhooks)) == len(presses)

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(responding, "respond", broken)
    update = make_callback_update(99, ANA, "a:1", message_chat_id=ANA, message_id=1)
    assert await webhooks.update(update) == 200
    assert answers(webhooks)[-1] == "Something went wrong; please try again."
