"""Inbound events (Telegram updates, Twilio messages): recorded by key before they act.

A redelivery of the same key is a no-op; `claim` takes a recorded event by a conditional UPDATE so
two processes never run the same one (`record(..., claimed=True)` records it taken already, one
commit less). An adapter that changes state for an update marks it done in that same transaction
(`done_with`), so a committed effect and a `done` row go together: one commit less again. The
claim is short and renewed while the event is processed (`models.leases`): an event whose process
died is taken again within seconds. A callback query is answered once (`begin_answer`), even when
its update runs again after a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import Counter
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import tables as t
from models.leases import HOLDER, LEASE
from models.views import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")
U = TypeVar("U")

RECEIVED = Counter("dispatch_inbound_updates", "Inbound updates recorded", ["source", "result"])
MAX_ATTEMPTS = 3
#: The width of `inbound_event.key` (`tg:<update_id>`, `sms:<MessageSid>`).
MAX_KEY_LENGTH = 80
#: Ids in an update (user, chat, message) are stored in signed 64-bit columns.
_INT64 = range(-(2**63), 2**63)


def unstorable(key: str, payload: Any) -> str | None:
    """Why `record(key, payload)` would fail on SQLite or PostgreSQL, or None when it would not.

    A key longer than its column, text holding NUL (PostgreSQL refuses it in text and JSON), or an
    integer beyond 64 bits (no id column holds it). Adapters refuse such an update with a 4xx.
    """
    if len(key) > MAX_KEY_LENGTH:
        return f"the key is longer than {MAX_KEY_LENGTH} characters"
    pending = [key, payload]
    while pending:  # no recursion: the payload's depth is the sender's choice
        item = pending.pop()
        if isinstance(item, str) and "\x00" in item:
            return "text holds NUL"
        if isinstance(item, int) and not isinstance(item, bool) and item not in _INT64:
            return "an integer is beyond 64 bits"
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


async def record(key: str, payload: dict[str, Any]) -> bool:
    """Store an inbound update; False when the same key was already recorded (a redelivery).

    An update that cannot be stored (`unstorable`: adapters refuse those first) is dropped with a
    warning and False, so that no path (long polling included) fails on it.
    """
    return await record_claimed(key, payload, claimed=False) is not None


async def record_claimed(
    key: str, payload: dict[str, Any], *, claimed: bool = True, done: bool = False
) -> t.InboundEvent | None:
    """Store an inbound update, taken for processing by the caller unless `claimed` is False;
    recorded `done` at once when `done` (the caller has acted on it, and changed nothing).

    Returns the row, or None for a redelivery or an update that cannot be stored (as `record`).
    """
    problem = unstorable(key, payload)
    if problem is not None:
        log.warning("inbound update %.80r dropped: %s", key, problem)
        RECEIVED.labels(key.split(":", 1)[0], "unstorable").inc()
        return None
    try:
        row = await t.InboundEvent.create(**_fields(key, payload, claimed=claimed, done=done))
    except IntegrityError:
        RECEIVED.labels(key.split(":", 1)[0], "duplicate").inc()
        return None
    RECEIVED.labels(key.split(":", 1)[0], "new").inc()
    return row


def _fields(key: str, payload: dict[str, Any], *, claimed: bool, done: bool) -> dict[str, Any]:
    """An `inbound_event` row: `new` (taken by this process when `claimed`), or `done` already
    (as `done_with` leaves it: no claim, this process the holder)."""
    if done:
        return {"key": key, "payload": payload, "status": "done", "holder": HOLDER}
    return {
        "key": key,
        "payload": payload,
        "status": "new",
        "claimed_until": utcnow() + LEASE if claimed else None,
        "holder": HOLDER if claimed else None,
    }


async def record_many(
    updates: list[tuple[str, dict[str, Any]]], done: list[bool] | None = None
) -> list[t.InboundEvent | None]:
    """`record_claimed` for several updates in one transaction (one commit: a group commit).

    Each gets its row, or None for a redelivery (of an earlier update or one earlier in the list)
    or one that cannot be stored. When another process records one of the keys meanwhile, the
    transaction fails and each is recorded on its own. `done[i]` records the i-th done already.
    """
    finished = done if done is not None else [False] * len(updates)
    if len(updates) == 1:
        return [await record_claimed(*updates[0], done=finished[0])]
    outcomes: list[str] = []
    try:
        async with in_transaction():
            keys = [key for key, _ in updates]
            found = await t.InboundEvent.filter(key__in=keys).values_list("key", flat=True)
            seen = {str(key) for key in found}
            rows: list[t.InboundEvent | None] = []
            for (key, payload), is_done in zip(updates, finished, strict=True):
                problem = unstorable(key, payload)
                if problem is not None:
                    log.warning("inbound update %.80r dropped: %s", key, problem)
                    outcomes.append("unstorable")
                    rows.append(None)
                elif key in seen:
                    outcomes.append("duplicate")
                    rows.append(None)
                else:
                    seen.add(key)
                    outcomes.append("new")
                    rows.append(
                        await t.InboundEvent.create(
                            **_fields(key, payload, claimed=True, done=is_done)
                        )
                    )
    except IntegrityError:
        return [
            await record_claimed(key, payload, done=is_done)
            for (key, payload), is_done in zip(updates, finished, strict=True)
        ]
    for (key, _), outcome in zip(updates, outcomes, strict=True):
        RECEIVED.labels(key.split(":", 1)[0], outcome).inc()
    return rows


async def claim(key: str) -> t.InboundEvent | None:
    """Take an update for processing; None when another worker has it or it is done."""
    now = utcnow()
    taken = (
        await t.InboundEvent.filter(key=key, status="new", attempts__lt=MAX_ATTEMPTS)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + LEASE, holder=HOLDER)
    )
    return await t.InboundEvent.get_or_none(key=key) if taken else None


async def renew_claims() -> int:
    """Move on the claims of every update this process is processing (the heartbeat)."""
    return await t.InboundEvent.filter(
        holder=HOLDER, status="new", claimed_until__not_isnull=True
    ).update(claimed_until=utcnow() + LEASE)


async def finish(event: t.InboundEvent, error: str | None = None) -> None:
    """Mark an update done, or count a failed attempt (given up after MAX_ATTEMPTS)."""
    if error is None:
        await t.InboundEvent.filter(id=event.id).update(status="done", claimed_until=None)
        return
    attempts = event.attempts + 1
    await t.InboundEvent.filter(id=event.id).update(
        attempts=attempts,
        status="failed" if attempts >= MAX_ATTEMPTS else "new",
        claimed_until=None,
        error=error[:2000],
    )


@dataclass
class Processing:
    """The inbound update this task is acting on; `done` once a transaction marked it done.

    `answering` is the callback query whose answer that transaction recorded (`done_with(...,
    answers=...)`), set once it committed: the bot then answers it without a record of its own.
    """

    event_id: int
    done: bool = False
    answering: str | None = None


#: Set by the intake around an update's handlers (tasks it starts inherit it).
PROCESSING: ContextVar[Processing | None] = ContextVar("inbound_processing", default=None)


def done_with(
    fn: Callable[[U], Awaitable[T]], *, answers: str | None = None
) -> Callable[[U], Awaitable[T]]:
    """`fn`, also marking the update being processed `done` in its transaction.

    For `Transactions.run`: the state change and the end of the update commit together, so the
    intake has nothing left to write. Outside an update (a test, the sweep) it is `fn` itself.

    `answers`, a callback query the handler answers after the transaction, is recorded answered in
    that same transaction (`callback_answer`, as `begin_answer` records it, unless a run before
    this one began its answer): the bot then answers it with no commit of its own
    (`notifications.telegram_bot`). An update marked done is never run again, and one whose
    transaction did not commit has not answered (the answer comes after the commit): either way
    the press is answered at most once, with two commits fewer than `begin_answer` and `answered`.
    """

    async def run(uow: U) -> T:
        result = await fn(uow)
        current = PROCESSING.get()
        if current is not None:
            await t.InboundEvent.filter(id=current.event_id).update(
                status="done", claimed_until=None
            )
            # Read only after the transaction: a failure or rollback goes to the error path.
            current.done = True
            if answers is not None and await _answer_recorded(answers):
                # Owned only once committed: a rolled-back attempt answers through the record.
                owned = answers
                after_commit = getattr(uow, "after_commit", None)
                if after_commit is not None:
                    after_commit.append(lambda: setattr(current, "answering", owned))
        return result

    return run


async def _answer_recorded(query_id: str) -> bool:
    """In the caller's transaction: record the query answered; False when a record exists (an
    earlier run of the update began its answer) or the id is one Telegram refuses anyway."""
    if not query_id or len(query_id) > MAX_QUERY_ID_LENGTH or "\x00" in query_id:
        return False
    if await t.CallbackAnswer.filter(query_id=query_id).exists():
        return False
    await t.CallbackAnswer.create(
        query_id=query_id, holder=HOLDER, status="answered", answered_at=utcnow()
    )
    return True


#: The width of `callback_answer.query_id` (Telegram's ids are decimal strings of about 19).
MAX_QUERY_ID_LENGTH = 64


async def begin_answer(query_id: str) -> bool:
    """Record that this callback query is being answered; False when it was (or is) already.

    Written before `answerCallbackQuery` is called: after a crash between the answer and the
    update's `finish`, the update runs again and its answer is not sent a second time. A crash
    between this record and the call leaves the press unanswered (Telegram stops the spinner on
    its own) rather than answered twice.
    """
    if not query_id or len(query_id) > MAX_QUERY_ID_LENGTH or "\x00" in query_id:
        return True  # Telegram refuses such an id anyway: nothing to remember
    try:
        await t.CallbackAnswer.create(query_id=query_id, holder=HOLDER)
    except IntegrityError:
        return False
    return True


async def answered(query_id: str) -> None:
    """The answer reached Telegram."""
    await t.CallbackAnswer.filter(query_id=query_id).update(status="answered", answered_at=utcnow())


async def forget_answer(query_id: str, *, recorded_answered: bool = False) -> None:
    """Telegram refused the answer (nothing reached the user): a later answer may be sent.

    `recorded_answered`: the record was written answered in the decision's transaction
    (`done_with(..., answers=...)`), not `answering` by `begin_answer`.
    """
    status = "answered" if recorded_answered else "answering"
    await t.CallbackAnswer.filter(query_id=query_id, status=status).delete()
