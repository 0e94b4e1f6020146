"""The timer part of the unit of work (`dispatch.deadlines.TimerStore`) on tortoise.

A claim is a conditional UPDATE (pending and due -> done) inside the transaction that acts on the
timer, so of two processes claiming one timer exactly one wins, and a crash before commit leaves it
pending. On PostgreSQL the row is first selected `FOR UPDATE SKIP LOCKED`: a second instance skips
a timer another one is working on instead of waiting for its transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from dispatch.deadlines import TimerKind, TimerStatus, TimerView
from models import rows
from models import tables as t

PENDING = TimerStatus.PENDING.value
#: A new timer's columns (`fired_at` NULL); `created_at` is added when they are inserted.
_NEW_COLUMNS = ("kind", "subject_id", "booking_id", "anchor_at", "due_at", "status", "created_at")


def _view(row: t.Timer) -> TimerView:
    return TimerView(
        row.id, TimerKind(row.kind), row.subject_id, row.booking_id, row.anchor_at, row.due_at
    )


class TimerStoreMixin:
    """Timer rows; mixed into `TortoiseUnitOfWork`, whose `_now` is the transaction's now."""

    _now: datetime
    armed_due: datetime | None
    fresh_subjects: set[int]
    #: Timers of requests created in this transaction, inserted together (`flush_timers`): the
    #: values of `_NEW_COLUMNS`, no model built per row.
    _new_timers: list[tuple[Any, ...]]

    async def flush_timers(self) -> None:
        """Insert the timers kept for later; every other timer query does this first."""
        new, self._new_timers = self._new_timers, []
        if new:
            created_at = rows.created_now()
            await rows.insert(t.Timer, _NEW_COLUMNS, [(*row, created_at) for row in new])

    async def arm_timer(
        self,
        kind: TimerKind,
        subject_id: int,
        booking_id: int,
        anchor_at: datetime,
        due_at: datetime | None,
    ) -> None:
        """Create or re-arm the (kind, subject) timer: pending again, with this anchor and due."""
        if kind is TimerKind.NUDGE and subject_id in self.fresh_subjects:
            # A request created in this transaction has no timer yet: inserted with the others.
            self.fresh_subjects.discard(subject_id)  # a second arm finds this row
            self._new_timers.append(
                (kind.value, subject_id, booking_id, anchor_at, due_at, PENDING)
            )
        else:
            changes: dict[str, Any] = {
                "booking_id": booking_id,
                "anchor_at": anchor_at,
                "due_at": due_at,
                "status": PENDING,
                "fired_at": None,
            }
            await self.flush_timers()
            if not await rows.update(
                t.Timer, changes, "kind = ? AND subject_id = ?", [kind.value, subject_id]
            ):
                await t.Timer.create(kind=kind.value, subject_id=subject_id, **changes)
        if due_at is not None and (self.armed_due is None or due_at < self.armed_due):
            self.armed_due = due_at

    async def disarm_timer(self, kind: TimerKind, subject_id: int) -> None:
        """Forget the (kind, subject) timer if it has not fired (a no-op otherwise)."""
        await self.flush_timers()
        await t.Timer.filter(kind=kind.value, subject_id=subject_id, status=PENDING).delete()

    async def due_timer_ids(self, limit: int) -> list[int]:
        """Ids of pending timers due by now, soonest first, at most `limit`."""
        await self.flush_timers()
        return cast(
            "list[int]",
            await t.Timer.filter(status=PENDING, due_at__lte=self._now)
            .order_by("due_at", "id")
            .limit(limit)
            .values_list("id", flat=True),
        )

    async def claim_timer(self, timer_id: int) -> TimerView | None:
        """Mark a due pending timer done and return it; None when it is not (any more) pending and
        due, or another transaction holds it."""
        await self.flush_timers()
        due = t.Timer.filter(id=timer_id, status=PENDING, due_at__lte=self._now)
        if rows.postgres():
            row = await due.select_for_update(skip_locked=True).first()
            if row is None:
                return None
        if not await due.update(status=TimerStatus.DONE.value, fired_at=self._now):
            return None
        claimed = await t.Timer.get(id=timer_id)
        return _view(claimed)

    async def drop_timer(self, timer_id: int) -> None:
        """Record that a claimed timer came due too late, or for nothing, and did not act."""
        await self.flush_timers()
        await t.Timer.filter(id=timer_id).update(status=TimerStatus.DROPPED.value)

    async def pending_timers(self, kind: TimerKind) -> list[TimerView]:
        """Every pending timer of a kind."""
        await self.flush_timers()
        rows = await t.Timer.filter(kind=kind.value, status=PENDING).order_by("id")
        return [_view(r) for r in rows]

    async def set_timer_due(self, timer_id: int, due_at: datetime | None) -> None:
        """Move a pending timer's deadline (None: off)."""
        await self.flush_timers()
        await t.Timer.filter(id=timer_id, status=PENDING).update(due_at=due_at)
        if due_at is not None and (self.armed_due is None or due_at < self.armed_due):
            self.armed_due = due_at
