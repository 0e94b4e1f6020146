"""Deadlines as data: the kinds of timer, how the core sees one, and the port that stores them.

A timer is a row (`models.tables.Timer`): `kind` names the flow, `subject_id` the row it is about,
`anchor_at` the moment it counts from and `due_at` when it fires (NULL while its setting is off).
The core arms timers in the transaction that creates the state they follow, and fires one in the
transaction that acts on it (`dispatch.timers`): the claim and the effect commit together, so a
timer fires once across restarts and processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class TimerKind(StrEnum):
    """What a timer is for; the comment names its subject."""

    NO_ACCEPTANCE = "no_acceptance"  # booking: still nobody after `no_acceptance_after_s`
    UNASSIGNED_SOON = "unassigned_soon"  # appointment: unassigned `unassigned_alert_lead_s` before
    NUDGE = "nudge"  # job request: unanswered after `nudge_after_s`
    REMINDER = "reminder"  # job: its fieldworker reminded `reminder_before_s` before start
    DAY_BEFORE = "day_before"  # job: its fieldworker asked to confirm the day before
    OFFER_EXPIRY = "reschedule_offer"  # reschedule offer: the customer did not choose in time


class TimerStatus(StrEnum):
    """Where a timer is: waiting, fired, or dropped (too late or pointless when it came due)."""

    PENDING = "pending"
    DONE = "done"
    DROPPED = "dropped"
    FAILED = "failed"  # its flow raised: logged, never retried in a loop


@dataclass(frozen=True)
class TimerView:
    """One timer as the core sees it."""

    id: int
    kind: TimerKind
    subject_id: int
    booking_id: int
    anchor_at: datetime
    due_at: datetime | None


class TimerStore(Protocol):
    """The timer part of `dispatch.ports.UnitOfWork`."""

    async def arm_timer(
        self,
        kind: TimerKind,
        subject_id: int,
        booking_id: int,
        anchor_at: datetime,
        due_at: datetime | None,
    ) -> None:
        """Create or re-arm the (kind, subject) timer: pending again, with this anchor and due."""
        ...

    async def disarm_timer(self, kind: TimerKind, subject_id: int) -> None:
        """Forget the (kind, subject) timer if it has not fired (a no-op otherwise)."""
        ...

    async def due_timer_ids(self, limit: int) -> list[int]:
        """Ids of pending timers due by now, soonest first, at most `limit`."""
        ...

    async def claim_timer(self, timer_id: int) -> TimerView | None:
        """Mark a due pending timer done and return it; None when it is not (any more) pending and
        due, or another transaction holds it. A compare-and-set: of two claims, one wins."""
        ...

    async def drop_timer(self, timer_id: int) -> None:
        """Record that a claimed timer came due too late, or for nothing, and did not act."""
        ...

    async def pending_timers(self, kind: TimerKind) -> list[TimerView]:
        """Every pending timer of a kind (to move their deadlines when a setting changes)."""
        ...

    async def set_timer_due(self, timer_id: int, due_at: datetime | None) -> None:
        """Move a pending timer's deadline (None: off)."""
        ...
