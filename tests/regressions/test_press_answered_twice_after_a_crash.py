"""Bug: a button press was answered twice when the process died between answering it and
recording its update as done (5 of 79 kill -9 runs): the update ran again and answered again.

Every `answerCallbackQuery` now goes through `AnswerOnceBot`, which records the query before the
call: the update still runs again after such a crash (its decision is idempotent), but its answer
is not sent a second time.
"""

from __future__ import annotations

from datetime import timedelta

from bot.inbound import TelegramIntake
from emulators import TelegramEmulator, make_callback_update
from models import tables as t


async def test_a_press_run_again_after_a_crash_is_answered_once(
    answer_once_chat: tuple[TelegramEmulator, TelegramIntake],
) -> None:
    emu, intake = answer_once_chat
    update = make_callback_update(501, 7600, "a:12", message_chat_id=7600, message_id=3)
    assert await intake.take(update)
    await intake.drain()
    assert len(emu.calls_of("answerCallbackQuery")) == 1
    # The process died after answering, before the update was recorded as done.
    await t.InboundEvent.filter(key="tg:501").update(status="new", claimed_until=None)

    assert await intake.recover(older_than=timedelta(0)) == 1
    assert (await t.InboundEvent.get(key="tg:501")).status == "done"
    assert len(emu.calls_of("answerCallbackQuery")) == 1, "the press was answered again"


async def test_an_answer_telegram_refused_may_be_given_again(
    answer_once_chat: tuple[TelegramEmulator, TelegramIntake],
) -> None:
    emu, intake = answer_once_chat
    emu.fail_next("answerCallbackQuery", status=400, description="Bad Request: try again")
    update = make_callback_update(502, 7601, "a:13", message_chat_id=7601, message_id=4)
    assert await intake.take(update)
    await intake.drain()
    # The handler's answer was refused; its fallback answer ("Something went wrong") goes.
    answers = emu.calls_of("answerCallbackQuery", ok_only=True)
    assert len(answers) == 1 and "went wrong" in answers[0].params["text"]
