"""What the core needs from the outside world; the tortoise adapter in `models/` implements it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from dispatch.deadlines import TimerStore
from dispatch.events import Event
from dispatch.model import (
    Actor,
    BookingStatus,
    Channel,
    DispatchMode,
    FieldworkerProfile,
    HistoryAction,
    Interval,
    JobStatus,
    Point,
    RequestStatus,
)
from dispatch.narrowing import Narrowing
from dispatch.offers import OfferStore
from dispatch.reachability import ChannelsOn, Contact
from dispatch.settings import CompanySettings

T = TypeVar("T")


@dataclass(frozen=True)
class BookingView:
    """A booking as the core sees it."""

    id: int
    status: BookingStatus
    dispatch_mode: DispatchMode
    location: Point
    required_skills: frozenset[str] = frozenset()
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    address: str = ""
    notes: str = ""


@dataclass(frozen=True)
class JobView:
    """One service of one appointment."""

    id: int
    booking_id: int
    appointment: Interval
    service_code: str
    status: JobStatus
    fieldworker_id: int | None
    appointment_id: int
    #: When its fieldworker confirmed they will attend (the day-before confirmation), if they did.
    confirmed_at: datetime | None = None


@dataclass(frozen=True)
class RequestView:
    """One fieldworker asked to take one job."""

    id: int
    job_id: int
    booking_id: int
    fieldworker_id: int
    status: RequestStatus
    reason: str | None = None
    reply_code: int | None = None  # the number an SMS reply names it by


@dataclass(frozen=True)
class NewBooking:
    """A booking to create; the adapter has validated shapes, the core checks meaning."""

    customer_name: str
    customer_phone: str | None
    customer_email: str | None
    address: str
    location: Point
    services: tuple[str, ...]
    appointments: tuple[Interval, ...]
    dispatch_mode: DispatchMode
    required_skills: frozenset[str] = frozenset()
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    notes: str = ""


class Identifier(StrEnum):
    """What names one fieldworker from outside; the values are the API's field names."""

    PHONE = "phone"
    TELEGRAM_USER_ID = "telegram_user_id"
    INVITE_CODE = "invite_code"


@dataclass(frozen=True)
class FieldworkerIdentity:
    """How a fieldworker is recognised and reached on Telegram: what linking reads."""

    id: int
    name: str
    phone: str | None
    invite_code: str
    telegram_user_id: int | None
    telegram_chat_id: int | None
    telegram_username: str | None
    channels: tuple[str, ...]
    #: The invite code linked a Telegram account already (it links nobody else).
    invite_code_used: bool = False


class Audience(StrEnum):
    """Who a notification is for."""

    FIELDWORKER = "fieldworker"
    CUSTOMER = "customer"
    STAFF = "staff"


@dataclass(frozen=True)
class FailedNotification:
    """A notification its channel refused or could not deliver, as the core sees it.

    `refused` lists the channels that refused this message before this one (the notification
    it falls back from, and so on); `job_request` is True for the message asking the fieldworker
    to answer `request_id`.
    """

    id: int
    booking_id: int | None
    channel: Channel
    audience: Audience
    fieldworker_id: int | None = None
    request_id: int | None = None
    job_request: bool = False
    refused: tuple[Channel, ...] = ()


@dataclass(frozen=True)
class ReplyingCustomer:
    """A customer an SMS came from, and the booking it most likely concerns."""

    customer_id: int
    name: str
    sms_opt_out: bool
    booking_id: int


class TransactionRunner(Protocol):
    """Runs a command in a unit of work of its own (one transaction), retrying conflicts."""

    async def run(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run `fn(uow)` in one transaction and return what it returned."""
        ...


class UnitOfWork(TimerStore, OfferStore, Protocol):
    """One database transaction: reads, compare-and-set writes, history, and emitted events.

    Rule for callers: a command that changes a job or its requests calls `lock_job` (or wins the
    conditional `move_job`) before touching the job's requests, so every process takes locks in the
    same order: the job row first, then its requests.
    """

    events: list[Event]
    channels_on: ChannelsOn

    def now(self) -> datetime:
        """The transaction's notion of now (aware, UTC)."""
        ...

    def emit(self, event: Event) -> None:
        """Record an event; the adapter turns it into outbox rows before commit."""
        ...

    async def settings(self) -> CompanySettings:
        """The company settings."""
        ...

    async def insert_booking(self, new: NewBooking) -> tuple[int, list[int]]:
        """Store a booking, its customer, appointments and one job per (appointment, service)."""
        ...

    async def get_booking(self, booking_id: int) -> BookingView | None:
        """A booking, or None."""
        ...

    async def set_booking_status(self, booking_id: int, status: BookingStatus) -> None:
        """Change a booking's status."""
        ...

    async def update_booking_details(
        self, booking_id: int, *, address: str, notes: str, location: Point
    ) -> None:
        """Store a booking's address, notes and location."""
        ...

    async def move_appointment(self, appointment_id: int, interval: Interval) -> None:
        """Store an appointment's new start and end (its jobs move with it)."""
        ...

    async def jobs_of_booking(self, booking_id: int) -> list[JobView]:
        """The booking's jobs by id."""
        ...

    async def get_job(self, job_id: int) -> JobView | None:
        """A job, or None."""
        ...

    async def lock_job(self, job_id: int) -> JobView | None:
        """Take the job's row lock (a write) and return it fresh; None when it does not exist."""
        ...

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
        """Conditional UPDATE of a job's status and fieldworker; True when this call changed it.

        Any move but to `completed` or `cancelled` forgets the job's attendance confirmation.
        """
        ...

    async def confirm_job(self, job_id: int, fieldworker_id: int, at: datetime | None) -> bool:
        """Record (or, with None, forget) that the job's fieldworker confirmed they will attend.

        A conditional UPDATE: only while the job is assigned to `fieldworker_id`, and a confirmation
        is only recorded once (True when this call changed the row). `move_job` forgets it whenever
        the job moves (a confirmation belongs to the holder it came from).
        """
        ...

    async def assigned_job_ids(
        self, fieldworker_id: int, start: datetime, end: datetime
    ) -> list[int]:
        """Ids of the fieldworker's assigned jobs starting in [start, end), soonest first."""
        ...

    async def get_request(self, request_id: int) -> RequestView | None:
        """A job request, or None."""
        ...

    async def find_request(self, job_id: int, fieldworker_id: int) -> RequestView | None:
        """The request of one fieldworker for one job, or None."""
        ...

    async def requests_of_job(self, job_id: int) -> list[RequestView]:
        """Every request of a job by id."""
        ...

    async def requests_of_fieldworker(
        self, fieldworker_id: int, statuses: Collection[RequestStatus]
    ) -> list[RequestView]:
        """The fieldworker's requests in the given statuses, oldest first."""
        ...

    async def upcoming_assigned_job_ids(self, fieldworker_id: int) -> list[int]:
        """Ids of the fieldworker's assigned jobs that have not ended yet, soonest first."""
        ...

    async def set_sms_opt_out(self, phone: str, opted_out: bool) -> None:
        """Every fieldworker and customer with this phone opted out of SMS (or back in)."""
        ...

    async def customer_by_phone(self, phone: str) -> ReplyingCustomer | None:
        """The customer with this phone and their booking a message most likely concerns.

        The open booking whose next appointment (not yet ended) starts soonest; without one, their
        newest booking. None when no booking's customer has this phone.
        """
        ...

    async def note_customer_message(self, phone: str, gap: timedelta) -> bool:
        """Record a customer's message now; True when it starts a conversation (none before, or
        the last one `gap` or longer ago)."""
        ...

    async def create_request(
        self, job_id: int, booking_id: int, fieldworker_id: int, expires_at: datetime | None
    ) -> RequestView:
        """Insert a pending request."""
        ...

    async def create_requests(
        self, job_id: int, booking_id: int, fws: Sequence[int], expires_at: datetime | None
    ) -> list[RequestView]:
        """`create_request` for each fieldworker (a broadcast), in their order."""

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
        """Conditional UPDATE of a request's status; True when this call changed it."""
        ...

    async def candidates(
        self,
        job: JobView,
        *,
        narrowing: Narrowing | None = None,
        fieldworker_ids: Collection[int] | None = None,
    ) -> list[FieldworkerProfile]:
        """Fieldworkers by id as eligibility profiles, `busy` holding their other assigned jobs that
        `dispatch.eligibility.keeps_busy` counts.

        Every fieldworker; or only those of `fieldworker_ids` that exist; or (with `narrowing`)
        only those `dispatch.narrowing.admits`, a superset of the eligible ones that storage finds
        without reading the whole fleet. Both given: those listed that it admits.
        """
        ...

    async def reachable_fieldworkers(self, fieldworker_ids: Collection[int]) -> set[int]:
        """Those of the ids who can receive a job request on at least one channel now."""
        ...

    async def fieldworker_exists(self, fieldworker_id: int) -> bool:
        """True when the fieldworker exists."""
        ...

    async def fieldworker_timezone(self, fieldworker_id: int) -> str | None:
        """The fieldworker's own time zone (IANA name), or None when they do not exist."""
        ...

    async def contact(self, fieldworker_id: int) -> Contact | None:
        """How the fieldworker can be reached (`dispatch.reachability`), or None when unknown."""
        ...

    async def fail_notification(
        self, notification_id: int, error: str
    ) -> FailedNotification | None:
        """Mark a notification failed with `error`: a compare-and-set, like `move_request`.

        None when it was failed already (a second report of the same failure) or does not exist.
        """
        ...

    async def holder_of(
        self, identifier: Identifier, value: str | int
    ) -> FieldworkerIdentity | None:
        """The fieldworker holding this phone, Telegram user id or invite code, or None."""
        ...

    async def set_telegram(
        self, fieldworker_id: int, user_id: int | None, chat_id: int | None, username: str | None
    ) -> None:
        """Store the fieldworker's Telegram user id, chat id and username (all three at once)."""
        ...

    async def set_channels(self, fieldworker_id: int, channels: Sequence[str]) -> None:
        """Store the channels the fieldworker is reached on, in order of preference."""
        ...

    async def spend_invite_code(self, fieldworker_id: int, code: str) -> bool:
        """Mark the fieldworker's code used if it is `code` and unused; True when this call did.

        A conditional UPDATE: of two links racing with one code, exactly one spends it.
        """
        ...

    async def set_invite_code(self, fieldworker_id: int, code: str) -> bool:
        """Give the fieldworker a fresh, unused invite code; False when they do not exist."""
        ...

    async def service_skills(self, service_code: str) -> frozenset[str] | None:
        """The skills a service requires, or None for an unknown service."""
        ...

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
        """Append one history row."""
        ...
