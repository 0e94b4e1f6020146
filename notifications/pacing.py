"""Paces Telegram calls under its limits: so many a second per bot, one a second per chat.

Telegram counts a message when it arrives, somewhere between our call's start and its answer. So a
call holds its place in a window from the moment it starts until one window length (a second) after
its answer: then however the round trips vary, no second at Telegram's end ever sees more than the
limit, and the rate stays close to it (30 in every 1 + round-trip seconds: 29.9/s at a 5 ms round
trip, 28.6/s at 50 ms). A chat holds its place the same way with a limit of one; an edit puts no
new message in a chat and counts toward the bot's limit only.

A 429 (`retry_after`) means our picture is wrong (another process with the same token, a limit we
do not know): `hold` keeps that chat and the whole bot quiet for the time Telegram asked, as PTB's
own rate limiter does. With paid broadcast, messages sent with `allow_paid_broadcast` count only
against the paid ceiling (1,000 a second); every other message still keeps to the free 30.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

#: Telegram's limits (core.telegram.org/bots/faq, "My bot is hitting limits").
FREE_PER_SECOND = 30
PAID_PER_SECOND = 1000
CHAT_INTERVAL = 1.0
_PRUNE_EVERY = 1.0  # seconds between sweeps of chats that may send again


class _Window:
    """At most `limit` calls whose spans [start, answer + period) overlap at any moment."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.in_flight = 0
        self._frees: deque[float] = deque()  # answer + period of finished calls, ascending

    def wait(self, now: float) -> float:
        """Seconds until a call may start (0: now, inf: until a call under way is answered)."""
        while self._frees and self._frees[0] <= now:
            self._frees.popleft()
        over = self.in_flight + len(self._frees) - self.limit + 1
        if over <= 0:
            return 0.0
        if over > len(self._frees):
            return math.inf
        return self._frees[over - 1] - now

    def take(self) -> None:
        self.in_flight += 1

    def give_back(self, now: float) -> None:
        self.in_flight -= 1
        self._frees.append(now + self.period)


class TelegramPacer:
    """Grants Telegram calls their turn; `async with pacer.slot(chat_id): <one call>`.

    Calls get their turn in the order they asked (first come, first served). A chat waiting for its
    own second holds no place in the bot-wide window, so it never slows other chats down.
    """

    def __init__(
        self,
        per_second: float = FREE_PER_SECOND,
        *,
        paid_broadcast: bool = False,
        paid_per_second: int = PAID_PER_SECOND,
        chat_interval: float = CHAT_INTERVAL,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        if per_second <= 0 or chat_interval < 0 or paid_per_second <= 0:
            raise ValueError("rates must be positive")
        # A fractional rate (0.5/s) is one call per 1/rate seconds.
        limit, period = (int(per_second), 1.0) if per_second >= 1 else (1, 1.0 / per_second)
        self.paid_broadcast = paid_broadcast
        self._free = _Window(limit, period)
        self._paid = _Window(paid_per_second, 1.0) if paid_broadcast else None
        self._chat_interval = chat_interval
        self._clock = clock
        self._sleep = sleep or asyncio.sleep
        self._turn = asyncio.Lock()  # FIFO: the bot-wide turn goes in asking order
        self._changed = asyncio.Event()  # a call was answered: places may have freed
        self._paused_until = 0.0
        self._chat_free_at: dict[int, float] = {}
        self._chat_busy: set[int] = set()
        self._next_prune = 0.0

    @property
    def ceiling(self) -> float:
        """Messages a second this pacer allows at most (the paid ceiling when that is on)."""
        window = self._paid or self._free
        return window.limit / window.period

    @property
    def concurrency(self) -> int:
        """Chats to serve at once to reach the ceiling while each waits out its own second."""
        return min(256, math.ceil(self.ceiling * max(1.0, self._chat_interval) * 1.5))

    def now(self) -> float:
        """The pacer's clock (the event loop's, unless one was given)."""
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    @asynccontextmanager
    async def slot(
        self, chat_id: int, *, paid: bool = False, edit: bool = False
    ) -> AsyncIterator[None]:
        """Wait for this chat's and the bot's turn, then hold it while the block makes one call.

        An edit (`edit=True`) puts no new message in the chat: it counts toward the bot's limit
        only, so a pressed button's message changes without waiting out the chat's second.
        """
        if edit:
            async with self._bot_slot(paid=False):
                yield
            return
        await self._take_chat(chat_id)
        try:
            async with self._bot_slot(paid=paid):
                yield
        finally:
            self._give_back_chat(chat_id)

    @asynccontextmanager
    async def _bot_slot(self, *, paid: bool) -> AsyncIterator[None]:
        """The bot-wide place: the paid window for paid messages, else the free one (and paid)."""
        windows = [self._paid] if paid and self._paid else [self._free]
        if self._paid is not None and not paid:
            windows.append(self._paid)  # free messages count toward the paid ceiling too
        await self._take(windows)
        try:
            yield
        finally:
            now = self.now()
            for window in windows:
                window.give_back(now)
            self._changed.set()

    def hold(self, chat_id: int, seconds: float) -> None:
        """A 429 (`retry_after`): nothing to this chat, nor from the bot, until then."""
        until = self.now() + max(0.0, seconds)
        self._paused_until = max(self._paused_until, until)
        self._chat_free_at[chat_id] = max(self._chat_free_at.get(chat_id, 0.0), until)

    async def _take(self, windows: list[_Window]) -> None:
        async with self._turn:
            while True:
                self._changed.clear()
                now = self.now()
                wait = max([self._paused_until - now] + [w.wait(now) for w in windows])
                if wait <= 0:
                    for window in windows:
                        window.take()
                    return
                if math.isinf(wait):
                    await self._changed.wait()
                else:
                    await self._sleep(wait)

    async def _take_chat(self, chat_id: int) -> None:
        while True:
            self._changed.clear()
            now = self.now()
            if chat_id in self._chat_busy:
                await self._changed.wait()  # another call to this chat is under way
                continue
            wait = self._chat_free_at.get(chat_id, 0.0) - now
            if wait <= 0:
                self._chat_busy.add(chat_id)
                return
            await self._sleep(wait)

    def _give_back_chat(self, chat_id: int) -> None:
        now = self.now()
        self._chat_busy.discard(chat_id)
        self._chat_free_at[chat_id] = max(
            self._chat_free_at.get(chat_id, 0.0), now + self._chat_interval
        )
        self._changed.set()
        if now >= self._next_prune:
            # Chats that may send again need no entry: the map stays as small as the last second.
            self._next_prune = now + _PRUNE_EVERY
            for chat, free_at in list(self._chat_free_at.items()):
                if free_at <= now:
                    del self._chat_free_at[chat]
