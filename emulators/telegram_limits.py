"""Telegram's rate limits, enforced by the Bot API emulator when asked (off by default).

Telegram lets a bot send about 30 messages a second in all and one a second to a chat; beyond that
it answers 429 with ``retry_after``. With paid broadcast (``allow_paid_broadcast``) a message counts
against 1,000 a second instead of 30. The emulator counts a call when it arrives, over the last
second (a sliding window): messages sent and edited toward the bot's limit, messages sent toward
the chat's (an edit puts no new message in the chat).

Turn it on with ``TelegramEmulator(limits=TelegramLimits())``, or for the demo and a standalone
emulator (``python -m emulators``) with the environment variable ``EMULATOR_TELEGRAM_LIMITS=true``.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from emulators.common import JSONDict
from emulators.telegram_wire import _ApiError, chat_id_param

ENV = "EMULATOR_TELEGRAM_LIMITS"
#: The methods that put a message in a chat or change one: the ones Telegram's limits count.
LIMITED_METHODS = frozenset({"sendmessage", "editmessagetext", "editmessagereplymarkup"})


@dataclass(frozen=True)
class TelegramLimits:
    """Messages a second per bot (free and paid) and per chat."""

    per_second: int = 30
    paid_per_second: int = 1000
    per_chat_per_second: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TelegramLimits | None:
        """Telegram's limits when ``EMULATOR_TELEGRAM_LIMITS`` is true, else None (no limits)."""
        value = (os.environ if environ is None else environ).get(ENV, "").strip().lower()
        return cls() if value in ("1", "true", "yes", "on") else None


class RateLimits:
    """Counts arrivals over the last second; raises Telegram's 429 for one beyond a limit."""

    def __init__(self, limits: TelegramLimits, clock: Callable[[], float] | None = None) -> None:
        self.limits = limits
        self._clock = clock or time.monotonic
        self._bot: deque[tuple[float, bool]] = deque()  # (arrival, paid) within the last second
        self._chats: dict[int, deque[float]] = {}

    def check(self, method: str, params: JSONDict) -> None:
        """Count this call if its method is limited; raise a 429 when it is one too many."""
        if method.lower() not in LIMITED_METHODS:
            return
        now = self._clock()
        while self._bot and self._bot[0][0] <= now - 1.0:
            self._bot.popleft()
        paid = method.lower() == "sendmessage" and params.get("allow_paid_broadcast") in (
            True,
            "true",
            "True",
        )
        free = [at for at, was_paid in self._bot if not was_paid]
        if len(self._bot) >= self.limits.paid_per_second:
            self._refuse(self._bot[0][0], now)
        if not paid and len(free) >= self.limits.per_second:
            self._refuse(free[len(free) - self.limits.per_second], now)
        chat = self._chat(params) if method.lower() == "sendmessage" else None
        if chat is not None:
            sent = self._chats.setdefault(chat, deque())
            while sent and sent[0] <= now - 1.0:
                sent.popleft()
            if len(sent) >= self.limits.per_chat_per_second:
                self._refuse(sent[len(sent) - self.limits.per_chat_per_second], now)
            sent.append(now)
        self._bot.append((now, paid))
        if len(self._chats) > 10_000:  # keep only chats with a message in the last second
            self._chats = {c: q for c, q in self._chats.items() if q and q[-1] > now - 1.0}

    @staticmethod
    def _chat(params: JSONDict) -> int | None:
        if params.get("chat_id") is None:
            return None  # an inline message: no chat to count
        try:
            return chat_id_param(params)
        except _ApiError:
            return None  # the method answers the bad chat id itself

    @staticmethod
    def _refuse(oldest: float, now: float) -> None:
        """429 as Telegram words it; ``retry_after`` is whole seconds until a place frees."""
        retry_after = max(1, math.ceil(oldest + 1.0 - now))
        raise _ApiError(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )
