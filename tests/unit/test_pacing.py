"""The Telegram pacer on a clock the test moves: which call gets its turn when (no real waiting).

Each call here is answered at once, so a place in the bot's window frees one second after it was
taken, and a chat's second place one second after its first answer.
"""

from __future__ import annotations

import pytest

from notifications.pacing import TelegramPacer


class Clock:
    """Time that moves only when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def pacer_on(clock: Clock, **kw: object) -> TelegramPacer:
    return TelegramPacer(clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


async def turns(pacer: TelegramPacer, clock: Clock, chats: list[int], **kw: bool) -> list[float]:
    """The time each call got its turn, one call after the other."""
    granted = []
    for chat in chats:
        async with pacer.slot(chat, **kw):
            granted.append(clock.now)
    return granted


async def test_thirty_chats_go_at_once_and_the_31st_waits_for_the_first_to_leave_its_second(
    clock: Clock,
) -> None:
    pacer = pacer_on(clock)
    granted = await turns(pacer, clock, list(range(1, 62)))
    assert granted[:30] == [0.0] * 30
    assert granted[30:60] == [1.0] * 30
    assert granted[60] == 2.0


async def test_a_chat_gets_one_message_a_second(clock: Clock) -> None:
    pacer = pacer_on(clock)
    granted = await turns(pacer, clock, [7, 8, 7, 7])
    assert granted == [0.0, 0.0, 1.0, 2.0]


async def test_an_edit_does_not_wait_for_the_chat_but_counts_toward_the_bot(clock: Clock) -> None:
    pacer = pacer_on(clock)
    async with pacer.slot(7):
        pass
    async with pacer.slot(7, edit=True):
        assert clock.now == 0.0, "the message changes at once"
    granted = await turns(pacer, clock, list(range(100, 128)))
    assert granted[-1] == 0.0
    assert await turns(pacer, clock, [200]) == [1.0], "30 calls in that second already"


async def test_a_429_keeps_that_chat_and_the_bot_quiet_for_its_retry_after(clock: Clock) -> None:
    pacer = pacer_on(clock)
    async with pacer.slot(7):
        pacer.hold(7, 5)  # the call was answered 429, retry_after 5
    assert await turns(pacer, clock, [8]) == [5.0], "the bot waits"
    assert await turns(pacer, clock, [7]) == [5.0], "and the chat"


async def test_paid_broadcast_lifts_the_bot_limit_for_paid_messages_only(clock: Clock) -> None:
    pacer = pacer_on(clock, paid_broadcast=True)
    assert pacer.ceiling == 1000
    paid = await turns(pacer, clock, list(range(1, 201)), paid=True)
    assert paid == [0.0] * 200
    free = await turns(pacer, clock, list(range(1001, 1032)))
    assert free[:30] == [0.0] * 30 and free[30] == 1.0, "free messages keep to 30 a second"


async def test_paid_messages_keep_to_the_paid_ceiling(clock: Clock) -> None:
    pacer = pacer_on(clock, paid_broadcast=True)
    granted = await turns(pacer, clock, list(range(1, 1002)), paid=True)
    assert granted[999] == 0.0 and granted[1000] == 1.0


async def test_without_paid_broadcast_a_paid_ask_is_a_free_message(clock: Clock) -> None:
    pacer = pacer_on(clock)
    granted = await turns(pacer, clock, list(range(1, 32)), paid=True)
    assert granted[30] == 1.0


async def test_a_call_under_way_holds_its_place_until_answered(clock: Clock) -> None:
    import asyncio

    pacer = pacer_on(clock, per_second=1)
    answered = asyncio.Event()
    order: list[str] = []

    async def slow() -> None:
        async with pacer.slot(1):
            order.append("slow starts")
            await answered.wait()
            order.append("slow answered")

    async def next_one() -> None:
        async with pacer.slot(2):
            order.append(f"next starts at {clock.now:g}")

    first = asyncio.create_task(slow())
    await asyncio.sleep(0)
    second = asyncio.create_task(next_one())
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == ["slow starts"], "no place while the first call may still arrive"
    clock.now = 3.0
    answered.set()
    await asyncio.gather(first, second)
    assert order == ["slow starts", "slow answered", "next starts at 4"]


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TelegramPacer(0)
