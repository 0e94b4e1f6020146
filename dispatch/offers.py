"""Reschedule offers as data: their states, how the core sees one, and the port that stores them.

An offer (`models.tables.RescheduleOffer`) is the times one fieldworker proposed for a job they
declined or could not attend (Reschedule Assist, CONTRACT §5), sent to the customer by SMS.
It is `open` until the customer chooses one (`chosen`), a newer offer for the same job replaces it
(`superseded`), the job is given to someone meanwhile (`withdrawn`), or it runs out (`expired`).
The rules are in `dispatch.assist`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from dispatch.model import FieldworkerProfile, Interval


class OfferStatus(StrEnum):
    """Where a reschedule offer is."""

    OPEN = "open"
    CHOSEN = "chosen"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class OfferView:
    """One reschedule offer as the core sees it; `chosen` is the customer's pick, from 1."""

    id: int
    booking_id: int
    job_id: int
    fieldworker_id: int
    slots: tuple[Interval, ...]
    status: OfferStatus
    customer_phone: str | None
    expires_at: datetime
    chosen: int | None = None


class OfferStore(Protocol):
    """The Reschedule Assist part of `dispatch.ports.UnitOfWork`."""

    async def create_offer(
        self,
        booking_id: int,
        job_id: int,
        fieldworker_id: int,
        slots: Sequence[Interval],
        customer_phone: str,
        expires_at: datetime,
    ) -> OfferView:
        """Store an open offer of `slots` to the customer at `customer_phone`."""
        ...

    async def get_offer(self, offer_id: int) -> OfferView | None:
        """An offer, or None."""
        ...

    async def open_offers_of_job(self, job_id: int) -> list[OfferView]:
        """The job's open offers, oldest first."""
        ...

    async def newest_offer_to(self, phone: str) -> OfferView | None:
        """The newest offer (any status) sent to this phone, or None."""
        ...

    async def close_offer(
        self, offer_id: int, to: OfferStatus, *, chosen: int | None = None
    ) -> bool:
        """Compare-and-set an open offer to `to` (with the customer's pick when chosen); True when
        this call closed it."""
        ...

    async def customer_phone(self, booking_id: int) -> str | None:
        """The booking's customer's phone when SMS can reach it (they have one, no STOP)."""
        ...

    async def fieldworker_schedule(
        self, fieldworker_id: int, window: Interval, *, except_appointment_id: int | None
    ) -> FieldworkerProfile | None:
        """The fieldworker's profile, `busy` holding their assigned jobs that overlap `window`
        (but for the jobs of `except_appointment_id`, which move with it); None when unknown."""
        ...

    async def dropped_out(self, booking_id: int, job_id: int, fieldworker_id: int) -> bool:
        """True when the job was `missed` while it was this fieldworker's (history `job_missed`)."""
        ...
