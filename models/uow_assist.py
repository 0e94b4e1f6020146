"""The Reschedule Assist part of the unit of work (`dispatch.offers.OfferStore`) on tortoise.

Closing an offer is a conditional UPDATE on its status (open -> chosen, expired, superseded or
withdrawn) whose row count says whether this call closed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dispatch.model import FieldworkerProfile, HistoryAction, Interval, JobStatus
from dispatch.offers import OfferStatus, OfferView
from models import tables as t
from models.views import fieldworker_profile


def _offer_view(row: t.RescheduleOffer) -> OfferView:
    return OfferView(
        id=row.id,
        booking_id=row.booking_id,
        job_id=row.job_id,
        fieldworker_id=row.fieldworker_id,
        slots=tuple(
            Interval(datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"]))
            for s in row.slots
        ),
        status=OfferStatus(row.status),
        customer_phone=row.customer_phone,
        expires_at=row.expires_at,
        chosen=row.chosen,
    )


class OfferStoreMixin:
    """Reschedule offers; mixed into `TortoiseUnitOfWork`, whose `_now` is the transaction's now."""

    _now: datetime

    async def flush_history(self) -> None:
        """Insert the transaction's pending history rows (`TortoiseUnitOfWork` does)."""

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
        row = await t.RescheduleOffer.create(
            booking_id=booking_id,
            job_id=job_id,
            fieldworker_id=fieldworker_id,
            slots=[{"start": s.start.isoformat(), "end": s.end.isoformat()} for s in slots],
            status=OfferStatus.OPEN.value,
            customer_phone=customer_phone,
            expires_at=expires_at,
        )
        return _offer_view(row)

    async def get_offer(self, offer_id: int) -> OfferView | None:
        """An offer, or None."""
        row = await t.RescheduleOffer.get_or_none(id=offer_id)
        return _offer_view(row) if row else None

    async def open_offers_of_job(self, job_id: int) -> list[OfferView]:
        """The job's open offers, oldest first."""
        rows = await t.RescheduleOffer.filter(job_id=job_id, status=OfferStatus.OPEN.value)
        return [_offer_view(r) for r in sorted(rows, key=lambda r: r.id)]

    async def newest_offer_to(self, phone: str) -> OfferView | None:
        """The newest offer (any status) sent to this phone, or None."""
        row = await t.RescheduleOffer.filter(customer_phone=phone).order_by("-id").first()
        return _offer_view(row) if row else None

    async def close_offer(
        self, offer_id: int, to: OfferStatus, *, chosen: int | None = None
    ) -> bool:
        """Conditional UPDATE from open; True when this call closed the offer."""
        changed = await t.RescheduleOffer.filter(id=offer_id, status=OfferStatus.OPEN.value).update(
            status=to.value, chosen=chosen, closed_at=self._now
        )
        return changed == 1

    async def customer_phone(self, booking_id: int) -> str | None:
        """The customer's phone unless they have none or sent STOP."""
        booking = await t.Booking.get_or_none(id=booking_id).select_related("customer")
        if booking is None or booking.customer.sms_opt_out:
            return None
        return booking.customer.phone or None

    async def fieldworker_schedule(
        self, fieldworker_id: int, window: Interval, *, except_appointment_id: int | None
    ) -> FieldworkerProfile | None:
        """The profile with their assigned jobs overlapping `window` as `busy`."""
        fw = await t.Fieldworker.get_or_none(id=fieldworker_id)
        if fw is None:
            return None
        query = t.Job.filter(
            fieldworker_id=fieldworker_id,
            status=JobStatus.ASSIGNED.value,
            appointment__start__lt=window.end,
            appointment__end__gt=window.start,
        )
        if except_appointment_id is not None:
            query = query.exclude(appointment_id=except_appointment_id)
        rows = await query.order_by("appointment__start").values(
            "appointment__start", "appointment__end"
        )
        busy = [Interval(r["appointment__start"], r["appointment__end"]) for r in rows]
        # Two jobs of one visit are one stretch of time: keep each span once.
        return fieldworker_profile(fw, tuple(b for i, b in enumerate(busy) if b not in busy[:i]))

    async def dropped_out(self, booking_id: int, job_id: int, fieldworker_id: int) -> bool:
        """True when history records the job `missed` while it was this fieldworker's."""
        await self.flush_history()  # this transaction's own rows count too
        rows = await t.History.filter(
            booking_id=booking_id, job_id=job_id, action=HistoryAction.JOB_MISSED.value
        ).values_list("details", flat=True)
        return any(isinstance(d, dict) and d.get("fieldworker_id") == fieldworker_id for d in rows)
