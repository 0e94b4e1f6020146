"""Durable intake of Telegram updates: record first, then act; a redelivery is a no-op.

The webhook stores the update (`inbound_event`, unique key `tg:<update_id>`, recorded taken by this
process) and then runs it through the PTB handlers *while the request waits*, at most `CONCURRENCY`
updates at once: Telegram keeps at most `max_connections` updates in flight per bot, so a burst
waits at Telegram instead of piling up in this process's memory (DESIGN, Known traps). A press's
`answerCallbackQuery` made meanwhile rides in the webhook's answer (`{"method":
"answerCallbackQuery", ...}`), and the answer goes as soon as it is known: no Bot API round trip,
and the button stops spinning before the rest of the update's work ends. An update not done within
`WITHIN_REQUEST` seconds is answered 200 anyway (it is recorded) and goes on in the background; its
press is then answered through the Bot API. Redeliveries answer 200 with nothing to do.

A press on the presser's own request that can change nothing (the request is no longer pending:
taken, withdrawn, expired, declined, accepted; `dispatch.responding.settled_press`) is answered
from one read, before it is recorded: its update is recorded `done` in the commit that records it
(so a redelivery still does nothing) and the answer goes in the webhook's body, with no slot, no
write transaction and no callback-answer rows (the update never runs again, so it cannot be
answered twice). The handlers give such a press the same answer and write nothing else for it.
A pending request always takes the full path: the first accept wins in one transaction. An Accept
on a job that another Accept is deciding in this process waits for that decision (at most
`WAIT_FOR_DECISION` seconds) and reads again, so the presses racing a winner are usually answered
from that read too; across processes nothing waits, and the transaction still decides.

A row still `new` after a crash is picked up again by `recover()` (the scheduler calls it), claimed
by a conditional UPDATE so two processes never run the same update. A handler that changes state
marks its update done in that same transaction (`models.inbound.done_with`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, cast

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import RequestData
from tortoise.expressions import Q

from models import tables as t
from models.inbound import (
    MAX_ATTEMPTS,
    PROCESSING,
    Processing,
    claim,
    finish,
    record_many,
    renew_claims,
)
from models.leases import LEASE, Heartbeat
from models.views import utcnow
from notifications.telegram_transport import AiohttpRequest

log = logging.getLogger(__name__)

#: Updates run through the handlers at once; the next ones wait (in their webhook request).
CONCURRENCY = 16
#: Seconds a webhook request waits for its update's answer before answering 200 without it.
WITHIN_REQUEST = 5.0
#: Seconds an Accept waits for another press on the same job deciding in this process.
WAIT_FOR_DECISION = 2.0
#: The one Bot API method that may ride in a webhook's answer.
ANSWER = "answerCallbackQuery"
_ANSWERED = b'{"ok":true,"result":true}'


class WebhookReply:
    """The body of one webhook request's answer: the press's answer, while the request is open."""

    def __init__(self) -> None:
        self.body: dict[str, Any] | None = None
        self._open = True
        self.taken = asyncio.Event()

    def offer(self, method: str, params: dict[str, Any]) -> bool:
        """Take a Bot API call into the answer; False when it must go by the Bot API."""
        if not self._open or self.body is not None or method != ANSWER:
            return False
        self.body = {"method": method, **params}
        self.taken.set()
        return True

    def close(self) -> dict[str, Any] | None:
        """The body to answer with; later calls go by the Bot API."""
        self._open = False
        return self.body


#: The open webhook request of the update being processed (its tasks inherit it).
REPLY: ContextVar[WebhookReply | None] = ContextVar("webhook_reply", default=None)


class ReplyingRequest(AiohttpRequest):
    """PTB's transport: a press answered while its webhook request is open answers in its body."""

    __slots__ = ()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """`answerCallbackQuery` into the open webhook answer if any; everything else as usual."""
        reply = REPLY.get()
        if (
            reply is not None
            and request_data is not None
            and url.rsplit("/", 1)[-1] == ANSWER
            and reply.offer(ANSWER, request_data.parameters)
        ):
            return 200, _ANSWERED
        return await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )


class GroupRecorder:
    """Records updates; those that arrive while a commit is under way share the next one.

    One at a time, an update is recorded at once, as before; under a burst, one commit (one
    fsync) records all that queued meanwhile, instead of one each.
    """

    def __init__(self) -> None:
        self._queued: list[
            tuple[str, dict[str, Any], bool, asyncio.Future[t.InboundEvent | None]]
        ] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(
        self, key: str, payload: dict[str, Any], *, finished: bool = False
    ) -> t.InboundEvent | None:
        """The recorded row, taken by the caller (`done` already when `finished`); None for a
        redelivery (as `record_claimed`)."""
        done: asyncio.Future[t.InboundEvent | None] = asyncio.get_running_loop().create_future()
        self._queued.append((key, payload, finished, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        return await done

    async def _write(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    rows = await record_many(
                        [(key, payload) for key, payload, _, _ in batch],
                        [finished for _, _, finished, _ in batch],
                    )
                except Exception as exc:
                    for *_, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (*_, done), row in zip(batch, rows, strict=True):
                    if not done.done():
                        done.set_result(row)
        finally:
            self._writer = None


class TelegramIntake:
    """Feeds recorded Telegram updates to the PTB application, `CONCURRENCY` at a time."""

    def __init__(
        self,
        application: Any,
        concurrency: int = CONCURRENCY,
        settle: Callable[[Any], Awaitable[tuple[str | None, int | None]]] | None = None,
    ):
        self.application = application
        # A press that can change nothing is answered from a read (`handlers.telegram.read_press`:
        # the answer, or the job of an Accept that may win).
        self._settle = settle if settle is not None else _read_press
        # The job of each Accept deciding here: another Accept on it waits, then reads it settled.
        self._deciding: dict[int, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        # Renews the claims of the updates being processed here while they run (`models.leases`).
        self._heartbeat = Heartbeat(renew_claims)
        self._recorder = GroupRecorder()
        # PTB catches handler exceptions and hands them to error handlers, then returns normally:
        # ours notes the failure so the update is retried instead of being marked done.
        self._failed: dict[int, str] = {}
        application.add_error_handler(self._on_handler_error)

    async def _on_handler_error(self, update: object, context: Any) -> None:
        update_id = getattr(update, "update_id", None)
        log.error("handler failed for update %s", update_id, exc_info=context.error)
        if isinstance(update_id, int):
            self._failed[update_id] = f"{type(context.error).__name__}: {context.error}"

    def parse(self, payload: dict[str, Any]) -> Any:
        """The PTB Update for a payload; raises when it is not one."""
        from telegram import Update

        return Update.de_json(payload, self.application.bot)

    async def take(self, payload: dict[str, Any]) -> bool:
        """Record the update and start processing it in the background; False for a redelivery."""
        key = f"tg:{int(payload['update_id'])}"
        event = await self._recorder.record(key, payload)
        if event is None:
            return False
        self._start(self._run(event))
        return True

    async def answer(
        self, payload: dict[str, Any], within: float = WITHIN_REQUEST, update: Any = None
    ) -> dict[str, Any] | None:
        """Record the update and process it while the caller waits, at most `within` seconds.

        Returns the Bot API call to answer the webhook with (a press's answer), or None. The update
        is recorded when this returns, and goes on in the background if it is not done. `update`
        is the payload parsed already (`parse`), if the caller has it.
        """
        key = f"tg:{int(payload['update_id'])}"
        settled, job_id = await self._settled(update)
        if job_id is not None and job_id in self._deciding:
            # Another Accept on this job is deciding here: once it has, this one usually reads the
            # job taken and is answered from that read. Only an optimisation: the decision's
            # transaction is what lets one accept win, across processes too.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._deciding[job_id].wait(), WAIT_FOR_DECISION)
            settled, job_id = await self._settled(update)
        mine: tuple[int, asyncio.Event] | None = None
        if job_id is not None and job_id not in self._deciding:
            mine = job_id, asyncio.Event()
            self._deciding[job_id] = mine[1]
        try:
            return await self._answer(key, payload, settled, update, within)
        finally:
            if mine is not None:  # answered (after its decision committed), done, or too slow
                del self._deciding[mine[0]]
                mine[1].set()

    async def _answer(
        self,
        key: str,
        payload: dict[str, Any],
        settled: dict[str, Any] | None,
        update: Any,
        within: float,
    ) -> dict[str, Any] | None:
        if settled is not None:
            # Nothing to change: the update is recorded done (a redelivery then does nothing)
            # and the press answered, with no write transaction and no slot taken.
            if await self._recorder.record(key, payload, finished=True) is None:
                return None
            return settled
        event = await self._recorder.record(key, payload)
        if event is None:
            return None  # a redelivery: done or being done elsewhere
        reply = WebhookReply()
        token = REPLY.set(reply)
        try:
            task = self._start(self._run(event, update))  # the task's context holds `reply`
        finally:
            REPLY.reset(token)
        taken = asyncio.ensure_future(reply.taken.wait())
        try:
            await asyncio.wait({task, taken}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            taken.cancel()
        return reply.close()

    async def _settled(self, update: Any) -> tuple[dict[str, Any] | None, int | None]:
        """The webhook answer for a press that can change nothing, or None (the full path); and
        the job of an Accept that may win (None when unknown)."""
        query = getattr(update, "callback_query", None)
        if query is None:
            return None, None
        try:
            text, job_id = await self._settle(update)
        except Exception:  # the full path decides, and reports its own failures
            log.warning("reading press %s failed; taking the full path", query.id, exc_info=True)
            return None, None
        if text is None:
            return None, job_id
        return {"method": ANSWER, "callback_query_id": str(query.id), "text": text}, None

    def spawn(self, key: str) -> None:
        """Process a recorded update in the background."""
        self._start(self.process(key))

    def _start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def process(self, key: str) -> None:
        """Claim a recorded update and run it through the PTB handlers."""
        event = await claim(key)
        if event is not None:
            await self._run(event)

    async def _run(self, event: t.InboundEvent, update: Any = None) -> None:
        """Run one claimed update through the PTB handlers, in a free slot."""
        async with self._slots, self._heartbeat.held():
            processing = Processing(event.id)
            PROCESSING.set(processing)  # this task's own context
            try:
                if update is None:
                    update = self.parse(event.payload)
                await self.application.process_update(update)
            except Exception as exc:
                log.exception("processing %s failed", event.key)
                await finish(event, f"{type(exc).__name__}: {exc}")
                return
            # A failed handler leaves the update `new` for `recover()` (at most MAX_ATTEMPTS runs).
            error = self._failed.pop(update.update_id, None)
            if error is not None or not processing.done:
                await finish(event, error)

    async def recover(self, older_than: timedelta = LEASE) -> int:
        """Process updates left `new` (a crash between record and act); returns how many."""
        cutoff = utcnow() - older_than
        keys = (
            await t.InboundEvent.filter(
                status="new",
                key__startswith="tg:",
                created_at__lt=cutoff,
                attempts__lt=MAX_ATTEMPTS,
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=utcnow()))
            .order_by("id")
            .limit(100)
            .values_list("key", flat=True)
        )
        for key in cast("list[str]", keys):
            await self.process(key)
        return len(keys)

    async def drain(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait for running tasks (at shutdown)."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*self._tasks, return_exceptions=True), timeout
                )
        if not self._tasks:
            await self._heartbeat.stop()


async def _read_press(update: Any) -> tuple[str | None, int | None]:
    from handlers.telegram import read_press

    return await read_press(update)


async def poll_updates(bot: Any, intake: TelegramIntake, stop: asyncio.Event) -> None:
    """Long polling (no PUBLIC_URL): the same record-then-act path as the webhook."""
    from telegram.error import NetworkError, RetryAfter, TimedOut

    offset: int | None = None
    while not stop.is_set():
        try:
            updates = await bot.get_updates(
                offset=offset, timeout=20, allowed_updates=["message", "callback_query"]
            )
        except TimedOut:
            continue
        except RetryAfter as exc:
            await asyncio.sleep(
                exc.retry_after.total_seconds()
                if isinstance(exc.retry_after, timedelta)
                else exc.retry_after
            )
            continue
        except NetworkError as exc:
            log.warning("getUpdates failed: %s; retrying in 2 s", exc)
            await asyncio.sleep(2)
            continue
        for update in updates:
            await intake.take(update.to_dict())
            offset = update.update_id + 1
