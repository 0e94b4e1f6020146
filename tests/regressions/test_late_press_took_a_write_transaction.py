"""Bug (issue 10): a press on a request that could no longer change cost a write transaction.

Four of five presses in a burst of accepts lose: the job is already taken, their requests
withdrawn. Each still queued for a slot, opened a write transaction (SQLite's single writer) to
learn that, marked its update done, and recorded its callback answer in two more commits; under a
burst the losers' answers waited behind the winners' transactions. Now such a press is answered
from one read (`responding.settled_press` decides which states can change nothing), with exactly
the answer the full path gives, and its update is recorded done in the same commit that records
it: a redelivery still changes nothing, and nothing else is written (no history, no outbox row),
as before. A pending request still takes the full path.
"""

from __future__ import annotations

from typing import Any

from emulators import make_callback_update
from models import tables as t
from tests.factories import add_fieldworker, add_service, create_booking
from tests.regressions.conftest import Webhooks

ANA, BO = 711, 712


async def _request_of(telegram_user_id: int) -> int:
    row = await t.JobRequest.get(fieldworker__telegram_user_id=telegram_user_id)
    return int(row.id)


async def _press(webhooks: Webhooks, update_id: int, user: int, data: str) -> dict[str, Any]:
    emu = webhooks.telegram.emu
    before = len(emu.calls_of("answerCallbackQuery"))
    press = make_callback_update(update_id, user, data, message_chat_id=user, message_id=1)
    assert await webhooks.update(press) == 200
    [answer] = emu.calls_of("answerCallbackQuery")[before:]
    assert answer.via == "webhook", "answered in the webhook's answer"
    assert answer.params["callback_query_id"] == press["callback_query"]["id"]
    return dict(answer.params)


async def _full_path_answer(
    webhooks: Webhooks, update_id: int, user: int, data: str
) -> dict[str, Any]:
    """The answer the full path (handlers, transaction) gives the same press, without its id."""

    async def never(_update: Any) -> tuple[None, None]:
        return None, None

    fast = webhooks.intake._settle
    webhooks.intake._settle = never
    try:
        answer = await _press(webhooks, update_id, user, data)
        return {k: v for k, v in answer.items() if k != "callback_query_id"}
    finally:
        webhooks.intake._settle = fast


async def _taken_by_ana(webhooks: Webhooks) -> tuple[int, int]:
    """A booking asked of Ana and Bo, Ana's Accept pressed (update 1); their request ids."""
    await add_service()
    await add_fieldworker("Ana", telegram=ANA)
    await add_fieldworker("Bo", telegram=BO)
    await create_booking()
    ana, bo = await _request_of(ANA), await _request_of(BO)
    await _press(webhooks, 1, ANA, f"a:{ana}")
    return ana, bo


async def test_a_late_accept_is_told_taken_from_a_read_and_changes_nothing(
    webhooks: Webhooks, write_transactions: list[str]
) -> None:
    _, bo = await _taken_by_ana(webhooks)
    assert (await t.Job.get()).status == "assigned"
    history = await t.History.all().count()
    outbox = await t.Notification.all().count()
    answers = await t.CallbackAnswer.all().count()
    write_transactions.clear()

    answer = await _press(webhooks, 2, BO, f"a:{bo}")

    assert answer["text"] == "Sorry, another fieldworker already took this job."
    assert write_transactions == [], "no write transaction for a press that changes nothing"
    assert (await t.InboundEvent.get(key="tg:2")).status == "done"
    assert (await t.JobRequest.get(id=bo)).status == "withdrawn"
    job = await t.Job.get()
    assert job.status == "assigned" and job.fieldworker_id == (await _ana()).id
    assert await t.History.all().count() == history, "no history, as before"
    assert await t.Notification.all().count() == outbox, "no message edit, as before"
    assert await t.CallbackAnswer.all().count() == answers

    emu = webhooks.telegram.emu
    redelivered = make_callback_update(2, BO, f"a:{bo}", message_chat_id=BO, message_id=1)
    count = len(emu.calls_of("answerCallbackQuery"))
    assert await webhooks.update(redelivered) == 200
    assert len(emu.calls_of("answerCallbackQuery")) == count, "a redelivery is not answered"

    # The same answer as the full path gives the same press.
    assert await _full_path_answer(webhooks, 3, BO, f"a:{bo}") == {"text": answer["text"]}


async def _ana() -> t.Fieldworker:
    return await t.Fieldworker.get(telegram_user_id=ANA)


async def test_every_settled_press_gets_the_full_paths_answer(
    webhooks: Webhooks, write_transactions: list[str]
) -> None:
    ana, bo = await _taken_by_ana(webhooks)
    presses = [
        (ANA, f"a:{ana}"),  # accepted already
        (BO, f"d:{bo}"),  # Decline on a withdrawn request
        (BO, f"r:{bo}:0"),  # a reason on it
        (BO, f"b:{bo}"),  # back to Accept/Decline
    ]
    update_id = 10
    for user, data in presses:
        write_transactions.clear()
        fast = await _press(webhooks, update_id, user, data)
        del fast["callback_query_id"]
        assert write_transactions == [], data
        full = await _full_path_answer(webhooks, update_id + 1, user, data)
        assert fast == full, data
        update_id += 2
    assert (await t.JobRequest.get(id=ana)).status == "accepted"


async def test_a_pending_request_takes_the_full_path(
    webhooks: Webhooks, write_transactions: list[str]
) -> None:
    await add_service()
    await add_fieldworker("Ana", telegram=ANA)
    await create_booking()
    ana = await _request_of(ANA)

    answer = await _press(webhooks, 1, ANA, f"a:{ana}")

    assert "yours" in answer["text"]
    assert write_transactions, "the accept is decided in a transaction"
    assert (await t.JobRequest.get(id=ana)).status == "accepted"
    assert await t.History.filter(action="request_accepted").count() == 1
