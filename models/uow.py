"""The tortoise implementation of `dispatch.ports.UnitOfWork`: one transaction's reads and writes.

Every write the core makes is a compare-and-set (`move_job`, `move_request`) whose row count says
whether this call changed the row; the job row is always locked first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, cast

from tortoise.expressions import F

from dispatch.events import Event
from dispatch.model import (
    Actor,
    BookingStatus,
    Channel,
    HistoryAction,
    Interval,
    JobStatus,
    Point,
    RequestStatus,
    can_move_request,
)
from dispatch.ports import (
    BookingView,
    FailedNotification,
    JobView,
    NewBooking,
    RequestView,
)
from dispatch.reachability import ChannelsOn
from dispatch.settings import CompanySettings
from models import rows
from models import tables as t
from models.uow_assist import OfferStoreMixin
from models.uow_candidates import CandidateStore
from models.uow_fieldworkers import FieldworkerStore
from models.uow_requests import RequestStoreMixin, reply_code
from models.uow_timers import TimerStoreMixin
from models.views import (
    _booking_view,
    _request_view,
    failed_notification,
    load_settings,
)

log = logging.getLogger(__name__)

_HISTORY_COLUMNS = (
    "booking_id",
    "job_id",
    "request_id",
    "at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "action",
    "on_behalf_of",
    "from_status",
    "to_status",
    "channel",
    "details",
)


class TortoiseUnitOfWork(
    FieldworkerStore, CandidateStore, TimerStoreMixin, OfferStoreMixin, RequestStoreMixin
):
    """One transaction's reads and writes; see `dispatch.ports.UnitOfWork`."""

    def __init__(self, now: datetime, channels_on: ChannelsOn) -> None:
        self.events: list[Event] = []
        self._now = now
        self.channels_on = channels_on
        self._settings: CompanySettings | None = None
        #: The soonest deadline this transaction armed: the scheduler wakes for it after commit.
        self.armed_due: datetime | None = None
        #: Run once the transaction has committed (metrics: a rolled-back command counts nothing).
        self.after_commit: list[Callable[[], None]] = []
        # History rows to insert together before commit: one statement, not one per row (the
        # values of `_HISTORY_COLUMNS`: no model built per row).
        self._history: list[tuple[Any, ...]] = []
        #: Ids of the requests this transaction created.
        self.fresh_subjects: set[int] = set()
        self._new_timers: list[tuple[Any, ...]] = []

    def now(self) -> datetime:
        """The transaction's notion of now."""
        return self._now

    def emit(self, event: Event) -> None:
        """Record an event for the outbox writer."""
        self.events.append(event)

    async def settings(self) -> CompanySettings:
        """Company settings, read once per transaction."""
        if self._settings is None:
            self._settings = await load_settings()
        return self._settings

    async def insert_booking(self, new: NewBooking) -> tuple[int, list[int]]:
        """Store booking, customer, appointments and jobs."""
        customer = await t.Customer.create(
            name=new.customer_name, phone=new.customer_phone, email=new.customer_email
        )
        booking = await t.Booking.create(
            customer=customer,
            address=new.address,
            lat=new.location.lat,
            lon=new.location.lon,
            dispatch_mode=new.dispatch_mode.value,
            required_skills=sorted(new.required_skills),
            custom_fields=dict(new.custom_fields),
            notes=new.notes,
        )
        job_ids: list[int] = []
        for slot in new.appointments:
            appointment = await t.Appointment.create(
                booking=booking, start=slot.start, end=slot.end
            )
            for code in new.services:
                job = await t.Job.create(
                    booking=booking, appointment=appointment, service_code=code
                )
                job_ids.append(job.id)
        return booking.id, job_ids

    async def get_booking(self, booking_id: int) -> BookingView | None:
        """A booking, or None."""
        found = await rows.models(t.Booking, "id = ?", [booking_id])
        return _booking_view(found[0]) if found else None

    async def set_booking_status(self, booking_id: int, status: BookingStatus) -> None:
        """Change a booking's status."""
        await t.Booking.filter(id=booking_id).update(status=status.value, updated_at=self._now)

    async def requests_of_fieldworker(
        self, fieldworker_id: int, statuses: Collection[RequestStatus]
    ) -> list[RequestView]:
        """The fieldworker's requests in the given statuses, oldest first."""
        rows = await t.JobRequest.filter(
            fieldworker_id=fieldworker_id, status__in=[s.value for s in statuses]
        ).order_by("id")
        return [_request_view(r) for r in rows]

    async def upcoming_assigned_job_ids(self, fieldworker_id: int) -> list[int]:
        """Ids of the fieldworker's assigned jobs that have not ended yet, soonest first."""
        return cast(
            "list[int]",
            await t.Job.filter(
                fieldworker_id=fieldworker_id,
                status=JobStatus.ASSIGNED.value,
                appointment__end__gt=self._now,
            )
            .order_by("appointment__start", "id")
            .values_list("id", flat=True),
        )

    async def update_booking_details(
        self, booking_id: int, *, address: str, notes: str, location: Point
    ) -> None:
        """Store a booking's address, notes and location."""
        await t.Booking.filter(id=booking_id).update(
            address=address, notes=notes, lat=location.lat, lon=location.lon, updated_at=self._now
        )

    async def move_appointment(self, appointment_id: int, interval: Interval) -> None:
        """Store an appointment's new start and end (its jobs move with it)."""
        await t.Appointment.filter(id=appointment_id).update(start=interval.start, end=interval.end)

    async def jobs_of_booking(self, booking_id: int) -> list[JobView]:
        """The booking's jobs by id."""
        return await rows.job_views("j.booking_id = ?", [booking_id])

    async def get_job(self, job_id: int) -> JobView | None:
        """A job, or None."""
        views = await rows.job_views("j.id = ?", [job_id])
        return views[0] if views else None

    async def lock_job(self, job_id: int) -> JobView | None:
        """A write on the job row first: the row lock on PostgreSQL, ordering on both."""
        if not await t.Job.filter(id=job_id).update(version=F("version") + 1):
            return None
        return await self.get_job(job_id)

    async def move_job(
        self,
        job_id: int,
        from_statuses: Collection[JobStatus],
        to: JobStatus,
        *,
        fieldworker_id: int | None,
        expect_fieldworker_id: int | None = None,
        check_fieldworker: bool = False,
    ) -> bool:
        """Conditional UPDATE; the row count says whether this call made the move."""
        query = t.Job.filter(id=job_id, status__in=[s.value for s in from_statuses])
        if check_fieldworker:
            query = (
                query.filter(fieldworker_id=expect_fieldworker_id)
                if expect_fieldworker_id is not None
                else query.filter(fieldworker_id__isnull=True)
            )
        changes: dict[str, Any] = {
            "status": to.value,
            "fieldworker_id": fieldworker_id,
            "version": F("version") + 1,
        }
        if to is JobStatus.ASSIGNED:
            changes["assigned_at"] = self._now
        if to not in (JobStatus.COMPLETED, JobStatus.CANCELLED):
            changes["confirmed_at"] = None  # a confirmation belongs to the holder who gave it
        return await query.update(**changes) == 1

    async def confirm_job(self, job_id: int, fieldworker_id: int, at: datetime | None) -> bool:
        """Conditional UPDATE of the job's confirmation while it is assigned to them."""
        query = t.Job.filter(
            id=job_id, status=JobStatus.ASSIGNED.value, fieldworker_id=fieldworker_id
        )
        if at is not None:
            query = query.filter(confirmed_at__isnull=True)
        return await query.update(confirmed_at=at) == 1

    async def fieldworker_timezone(self, fieldworker_id: int) -> str | None:
        """The fieldworker's time zone, or None when they do not exist."""
        zones = await t.Fieldworker.filter(id=fieldworker_id).values_list("timezone", flat=True)
        return str(zones[0]) if zones else None

    async def assigned_job_ids(
        self, fieldworker_id: int, start: datetime, end: datetime
    ) -> list[int]:
        """Ids of the fieldworker's assigned jobs starting in [start, end), soonest first."""
        return cast(
            "list[int]",
            await t.Job.filter(
                fieldworker_id=fieldworker_id,
                status=JobStatus.ASSIGNED.value,
                appointment__start__gte=start,
                appointment__start__lt=end,
            )
            .order_by("appointment__start", "id")
            .values_list("id", flat=True),
        )

    async def get_request(self, request_id: int) -> RequestView | None:
        """A job request, or None."""
        r = await t.JobRequest.get_or_none(id=request_id)
        return _request_view(r) if r else None

    async def find_request(self, job_id: int, fieldworker_id: int) -> RequestView | None:
        """One fieldworker's request for one job, or None."""
        r = await t.JobRequest.get_or_none(job_id=job_id, fieldworker_id=fieldworker_id)
        return _request_view(r) if r else None

    async def requests_of_job(self, job_id: int) -> list[RequestView]:
        """Every request of a job by id."""
        return [_request_view(r) for r in await t.JobRequest.filter(job_id=job_id).order_by("id")]

    async def create_request(
        self, job_id: int, booking_id: int, fieldworker_id: int, expires_at: datetime | None
    ) -> RequestView:
        """Insert a pending request with a reply code unique among the fieldworker's open ones."""
        taken = set(
            cast(
                "list[int]",
                await t.JobRequest.filter(
                    fieldworker_id=fieldworker_id, status=RequestStatus.PENDING.value
                ).values_list("reply_code", flat=True),
            )
        )
        code = reply_code(taken)
        r = await t.JobRequest.create(
            job_id=job_id,
            booking_id=booking_id,
            fieldworker_id=fieldworker_id,
            reply_code=code,
            expires_at=expires_at,
        )
        self.fresh_subjects.add(r.id)  # no timer can name it yet (`arm_timer`)
        return _request_view(r)

    async def move_request(
        self,
        request_id: int,
        from_statuses: Collection[RequestStatus],
        to: RequestStatus,
        *,
        actor: Actor | None = None,
        channel: Channel | None = None,
        reason: str | None = None,
        expires_at: datetime | None = None,
    ) -> bool:
        """Conditional UPDATE of a request's status (only along `dispatch.model.REQUEST_MOVES`)."""
        illegal = [f for f in from_statuses if not can_move_request(f, to)]
        if illegal:
            raise ValueError(f"illegal request move {illegal[0].value} -> {to.value}")
        changes: dict[str, Any] = {"status": to.value, "reason": reason, "responded_at": self._now}
        if actor is not None:
            changes["responded_by_kind"] = actor.kind.value
            changes["responded_by_id"] = actor.id
        if channel is not None:
            changes["channel"] = channel.value
        if to is RequestStatus.PENDING:
            changes["expires_at"] = expires_at
        # Plain SQL: every press and every withdrawal runs this (the ORM's query building cost
        # more CPU than the UPDATE itself).
        marks = ", ".join("?" * len(from_statuses))
        moved = await rows.update(
            t.JobRequest,
            changes,
            f"id = ? AND status IN ({marks})",
            [request_id, *(s.value for s in from_statuses)],
        )
        return moved == 1

    async def fail_notification(
        self, notification_id: int, error: str
    ) -> FailedNotification | None:
        """Conditional UPDATE to `failed`; None when it already was (or does not exist)."""
        query = t.Notification.filter(id=notification_id).exclude(status="failed")
        if not await query.update(status="failed", error=error, claimed_until=None):
            return None
        row = await t.Notification.get(id=notification_id)
        chat = row.recipient if row.channel == Channel.TELEGRAM.value else ""
        to_staff = chat.isdigit() and await t.Staff.filter(telegram_user_id=int(chat)).exists()
        return failed_notification(row, to_staff=to_staff)

    async def service_skills(self, service_code: str) -> frozenset[str] | None:
        """The service's required skills, or None for an unknown code."""
        found = await rows.models(t.Service, "code = ?", [service_code])
        return frozenset(found[0].required_skills or ()) if found else None

    async def add_history(
        self,
        booking_id: int,
        action: HistoryAction,
        actor: Actor,
        *,
        job_id: int | None = None,
        request_id: int | None = None,
        on_behalf_of: int | None = None,
        from_status: str | None = None,
        to_status: str | None = None,
        channel: Channel | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one history row (inserted with the transaction's others: `flush_history`)."""
        self._history.append(
            (
                booking_id,
                job_id,
                request_id,
                self._now,
                actor.kind.value,
                actor.id,
                actor.name,
                action.value,
                on_behalf_of,
                str(from_status) if from_status is not None else None,
                str(to_status) if to_status is not None else None,
                channel.value if channel else None,
                dict(details or {}),
            )
        )

    async def flush(self) -> None:
        """Insert the rows kept for the end of the transaction (before it commits)."""
        await self.flush_timers()
        await self.flush_history()

    async def flush_history(self) -> None:
        """Insert the history rows appended so far (before commit, or before history is read)."""
        new, self._history = self._history, []
        await rows.insert(t.History, _HISTORY_COLUMNS, new)
