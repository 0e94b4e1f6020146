"""Short claims renewed while their work is alive (heartbeat), so a dead process's rows are taken
over within seconds and a live one's never are.

A row is claimed by a conditional UPDATE that sets `claimed_until = now + LEASE` and `holder =
HOLDER`. While this process works on it, a `Heartbeat` moves `claimed_until` on every `LEASE / 3`
for every row it holds, in one UPDATE per table. A process that dies stops renewing: its claims
run out after at most `LEASE`, and another process claims the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

log = logging.getLogger(__name__)

#: How long a claim lasts without renewal: how soon a dead process's work is taken over.
LEASE = timedelta(seconds=6)
#: How often a live process renews its claims: three renewals fit in one lease.
HEARTBEAT_SECONDS = LEASE.total_seconds() / 3

#: This process, as written in `holder` columns: host, pid and a random part (a restarted
#: process with the same pid is another holder).
HOLDER = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class Heartbeat:
    """Calls `renew()` every `every` seconds while at least one piece of work is held."""

    def __init__(self, renew: Callable[[], Awaitable[object]], every: float = HEARTBEAT_SECONDS):
        self._renew = renew
        self._every = every
        self._held = 0
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Keep renewing for the duration of the block (blocks may nest and overlap)."""
        self._held += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._beat(), name="claim heartbeat")
        try:
            yield
        finally:
            self._held -= 1

    async def _beat(self) -> None:
        while self._held > 0:
            await asyncio.sleep(self._every)
            if self._held <= 0:
                return
            try:
                await self._renew()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a busy database: the next beat tries again
                log.warning("claim heartbeat failed: %s", f"{type(exc).__name__}: {exc}")

    async def stop(self) -> None:
        """End the renewing task (at shutdown)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
