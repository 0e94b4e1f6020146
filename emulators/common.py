"""Shared parts of the emulators: a local runner, polling, injected faults and slow answers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

JSONDict = dict[str, Any]

#: The bot account every :class:`TelegramEmulator` answers ``getMe`` with.
BOT_USER: JSONDict = {
    "id": 1000,
    "is_bot": True,
    "first_name": "DispatchBot",
    "username": "dispatch_test_bot",
}

_POLL_INTERVAL = 0.02
_MAX_TEXT_LENGTH = 4096
_INCOMING_MESSAGE_ID_BASE = 1_000_000
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


# --------------------------------------------------------------------------------------------
# Generic runner
# --------------------------------------------------------------------------------------------


@asynccontextmanager
async def running(
    app: web.Application, *, host: str = "127.0.0.1", shutdown_timeout: float = 5.0
) -> AsyncIterator[str]:
    """Serve an aiohttp application on a free local port for the duration of the block.

    Args:
        app: Any aiohttp application (an emulator's ``app`` or the bot's webhook app).
        host: Interface to bind; keep the default to stay off the network.
        shutdown_timeout: Seconds to wait for in-flight handlers on exit before cancelling.

    Yields:
        The base URL, e.g. ``"http://127.0.0.1:54321"`` (no trailing slash).
    """
    runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def _poll_until(
    check: Callable[[], bool], within: float, describe: Callable[[], str]
) -> None:
    """Poll ``check`` every few milliseconds; raise AssertionError after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() >= deadline:
            raise AssertionError(f"condition not met within {within:.1f}s; {describe()}")
        await asyncio.sleep(_POLL_INTERVAL)


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: int
    description: str | None


class _Holds:
    """Answers kept waiting on purpose (a slow or hung provider), let go early on shutdown.

    Each queued delay holds one request; a held request waits its seconds, or until
    :meth:`release` (the emulators call it when they shut down, so a "hung" request never
    outlives its test).
    """

    def __init__(self) -> None:
        self._delays: list[list[float]] = []  # [seconds, requests left]
        self._waiting: set[asyncio.Event] = set()

    def add(self, seconds: float, count: int) -> None:
        """Hold the next ``count`` requests for ``seconds`` each."""
        self._delays.append([float(seconds), count])

    def take(self) -> float | None:
        """The delay for the request arriving now, if one is queued."""
        if not self._delays:
            return None
        delay = self._delays[0]
        delay[1] -= 1
        if delay[1] <= 0:
            self._delays.pop(0)
        return delay[0]

    async def hold(self, seconds: float) -> None:
        """Wait ``seconds``, or less if released."""
        event = asyncio.Event()
        self._waiting.add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
        finally:
            self._waiting.discard(event)

    @property
    def held(self) -> int:
        """How many requests are being held right now."""
        return len(self._waiting)

    def release(self) -> None:
        """Let every held request go on now and forget the delays not yet used."""
        self._delays.clear()
        for event in self._waiting:
            event.set()


def reset_connection(request: web.Request) -> None:
    """Drop the client's connection with a TCP reset, answering nothing (a provider fault)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            # Linger 0: close() sends RST instead of FIN, as a crashed middlebox would.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _Resets:
    """Queued connection resets: each drops one request, before or after the provider acts."""

    def __init__(self) -> None:
        self._queue: list[list[Any]] = []  # [after_acting, requests left]

    def add(self, count: int, after_acting: bool) -> None:
        """Reset the next `count` requests."""
        self._queue.append([after_acting, count])

    def take(self) -> bool | None:
        """For the request arriving now: None (answer it), False (reset before acting), True
        (act, then reset)."""
        if not self._queue:
            return None
        entry = self._queue[0]
        entry[1] -= 1
        if entry[1] <= 0:
            self._queue.pop(0)
        return bool(entry[0])
