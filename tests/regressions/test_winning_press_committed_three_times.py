"""Bug (issue 10): a winning press cost three commits, and its racers a write transaction each.

A press that wins (or reads its request pending) decided in one transaction, then recorded its
callback answer in a commit of its own (`begin_answer`) before the answer could go, and marked it
answered in a third: on SQLite's one connection the answer waited for both. And the other presses
on the same job that arrived while the winner was deciding read the request still pending and took
the whole write path too, only to lose.

Now the decision's transaction records the callback answer along with the decision and the update's
end (`done_with(..., answers=...)`), and the bot answers with no commit; an Accept on a job another
Accept is deciding in this process waits for that decision, then is answered from a read. A press
run again (its update made `new` again) is still not answered a second time.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.inbound import TelegramIntake
from emulators import TelegramEmulator, make_callback_update
from models import inbound
from models import tables as t
from tests.factories import add_fieldworker, add_service, create_booking
from tests.regressions.conftest import Webhooks

ANA, BO, CY = 721, 722, 723


@pytest.fixture
def begun(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries whose answer was recorded in a commit of its own (`begin_answer`)."""
    import notifications.telegram_bot as bot_module

    calls: list[str] = []
    original = inbound.begin_answer

    async def recording(query_id: str) -> bool:
        calls.append(query_id)
        return await original(query_id)

    monkeypatch.setattr(bot_module, "begin_answer", recording)
    return calls


async def _booking() -> dict[int, int]:
    await add_service()
    for name, user in (("Ana", ANA), ("Bo", BO), ("Cy", CY)):
        await add_fieldworker(name, telegram=user)
    await create_booking()
    rows = await t.JobRequest.all().select_related("fieldworker")
    return {int(r.fieldworker.telegram_user_id or 0): int(r.id) for r in rows}


def _press(update_id: int, user: int, request_id: int) -> dict[str, Any]:
    return make_callback_update(
        update_id, user, f"a:{request_id}", message_chat_id=user, message_id=1
    )


async def test_a_winning_press_records_its_answer_in_the_decision(
    answer_once_chat: tuple[TelegramEmulator, TelegramIntake], begun: list[str]
) -> None:
    emu, intake = answer_once_chat
    requests = await _booking()
    press = _press(1, ANA, requests[ANA])

    assert await intake.take(press)
    await intake.drain()

    [answer] = emu.calls_of("answerCallbackQuery")
    assert answer.params["text"] == "✅ The job is yours!"
    assert begun == [], "no commit of its own for the answer"
    query_id = press["callback_query"]["id"]
    assert (await t.CallbackAnswer.get(query_id=query_id)).status == "answered"
    assert (await t.InboundEvent.get(key="tg:1")).status == "done"

    # Run again (as if the process died before recording it done): not answered again.
    await t.InboundEvent.filter(key="tg:1").update(status="new", claimed_until=None)
    assert await intake.recover(older_than=timedelta(0)) == 1
    assert (await t.InboundEvent.get(key="tg:1")).status == "done"
    assert len(emu.calls_of("answerCallbackQuery")) == 1, "the press was answered again"


async def test_an_answer_telegram_refused_may_be_given_again(
    answer_once_chat: tuple[TelegramEmulator, TelegramIntake],
) -> None:
    emu, intake = answer_once_chat
    requests = await _booking()
    emu.fail_next("answerCallbackQuery", status=400, description="Bad Request: try again")

    assert await intake.take(_press(2, ANA, requests[ANA]))
    await intake.drain()

    # The decision's answer was refused; its record went, and the fallback answer goes.
    answers = emu.calls_of("answerCallbackQuery", ok_only=True)
    assert len(answers) == 1 and "went wrong" in answers[0].params["text"]
    assert (await t.Job.get()).status == "assigned"


async def test_accepts_racing_on_one_job_decide_once(
    webhooks: Webhooks, write_transactions: list[str]
) -> None:
    requests = await _booking()
    emu = webhooks.telegram.emu
    presses = [_press(10 + i, user, requests[user]) for i, user in enumerate((ANA, BO, CY))]
    write_transactions.clear()

    statuses = await asyncio.gather(*(webhooks.update(p) for p in presses))

    assert statuses == [200, 200, 200]
    answers = emu.calls_of("answerCallbackQuery")
    assert len(answers) == 3 and all(a.via == "webhook" for a in answers)
    texts = sorted(a.params["text"] for a in answers)
    assert texts.count("✅ The job is yours!") == 1
    assert texts.count("Sorry, another fieldworker already took this job.") == 2
    assert len(write_transactions) == 1, "the racers read the job taken: no write transaction"
    job = await t.Job.get()
    assert job.status == "assigned"
    assert await t.InboundEvent.filter(status="done").count() == 3
