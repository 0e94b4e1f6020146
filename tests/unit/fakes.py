"""An in-memory `dispatch.ports.UnitOfWork` and builders, to test the core without a database.

`FakeUnitOfWork` is the whole "database": one object holds every table as a dict of small mutable
rows, and every command a test runs gets the same object. Each port method mirrors
`models/uow.py` (the same filters, the same fields written), so the core decides here as it does
on a real database, concurrency aside. When a port method is added to `dispatch.ports.UnitOfWork`,
add it here next to its neighbours, copying the storage adapter's semantics, not what the core
happens to need today; `test_fake_is_complete.py` fails until you do, and `test_fakes.py` pins the
compare-and-set ones.

What it leaves out: transactions (a command that raises keeps what it wrote before the raise; the
core checks before its first write, and `RetryCommand` simply propagates), the outbox, and
randomness (reply codes are handed out in order, still unique among a fieldworker's pending
requests). `events` and `history` accumulate over every command run on it: clear `events`, or
compare lengths, to look at one command's."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from dispatch import bookings, responding
from dispatch.commands import Action, RespondResult
from dispatch.deadlines import TimerKind, TimerStatus, TimerView
from dispatch.eligibility import keeps_busy
from dispatch.events import Event
from dispatch.model import (
    Actor,
    ActorKind,
    BookingStatus,
    Channel,
    DispatchMode,
    FieldworkerProfile,
    HistoryAction,
    Interval,
    JobStatus,
    Point,
    RequestStatus,
    can_move_request,
)
from dispatch.narrowing import Narrowing, admits, territory_box
from dispatch.offers import OfferStatus, OfferView
from dispatch.ports import (
    Audience,
    BookingView,
    FailedNotification,
    FieldworkerIdentity,
    Identifier,
    JobView,
    NewBooking,
    ReplyingCustomer,
    RequestView,
)
from dispatch.reachability import ChannelsOn, Contact, is_reachable
from dispatch.settings import CompanySettings

E = TypeVar("E", bound=Event)

#: Where the test company works, and when: the day before the first appointment.
SITE = Point(52.52, 13.405)
START = datetime(2026, 12, 1, 9, tzinfo=UTC)
NOW = START - timedelta(days=1)
STAFF = Actor(ActorKind.STAFF, 1, "Dora")


@dataclass
class FakeClock:
    """A clock that only moves when a test moves it."""

    at: datetime = NOW

    def now(self) -> datetime:
        """The current (fake) aware UTC time."""
        return self.at

    def advance(self, **delta: float) -> datetime:
        """Move time forward by a `timedelta(**delta)` and return the new now."""
        self.at += timedelta(**delta)
        return self.at


# The rows: the columns of `models/tables.py` that the core reads or writes.


@dataclass
class BookingRow:
    """A stored booking; `new` keeps what it was created from, the other fields what can change.

    The storage adapter creates one customer per booking, so the customer's SMS opt-out lives here.
    """

    id: int
    new: NewBooking
    address: str
    notes: str
    location: Point
    status: BookingStatus = BookingStatus.OPEN
    customer_sms_opt_out: bool = False

    def view(self) -> BookingView:
        """The booking as the core sees it."""
        return BookingView(
            self.id,
            self.status,
            self.new.dispatch_mode,
            self.location,
            frozenset(self.new.required_skills),
            dict(self.new.custom_fields),
            self.address,
            self.notes,
        )


@dataclass
class JobRow:
    """A stored job: one service of one appointment."""

    id: int
    booking_id: int
    appointment: Interval
    service_code: str
    status: JobStatus = JobStatus.UNASSIGNED
    fieldworker_id: int | None = None
    assigned_at: datetime | None = None
    appointment_id: int = 0
    confirmed_at: datetime | None = None

    def view(self) -> JobView:
        """The job as the core sees it."""
        return JobView(
            self.id,
            self.booking_id,
            self.appointment,
            self.service_code,
            self.status,
            self.fieldworker_id,
            self.appointment_id,
            self.confirmed_at,
        )


@dataclass
class RequestRow:
    """A stored job request."""

    id: int
    job_id: int
    booking_id: int
    fieldworker_id: int
    expires_at: datetime | None
    reply_code: int
    status: RequestStatus = RequestStatus.PENDING
    reason: str | None = None
    responded_by_kind: ActorKind | None = None
    responded_by_id: int | None = None
    responded_at: datetime | None = None
    channel: Channel | None = None

    def view(self) -> RequestView:
        """The request as the core sees it."""
        return RequestView(
            self.id,
            self.job_id,
            self.booking_id,
            self.fieldworker_id,
            self.status,
            self.reason,
            self.reply_code,
        )


@dataclass
class ContactRow:
    """How a stored fieldworker is recognised and reached (the rest is their `FieldworkerProfile`).

    `phone`, `telegram_user_id` and `invite_code` are unique columns in the table.
    """

    invite_code: str
    invite_code_used: bool = False
    phone: str | None = None
    telegram_user_id: int | None = None
    telegram_chat_id: int | None = None
    telegram_username: str | None = None
    channels: list[str] = field(default_factory=list)
    sms_opt_out: bool = False
    email: str | None = None

    def contact(self) -> Contact:
        """What the reachability rule reads (`models.uow.contact_of`)."""
        return Contact(
            tuple(self.channels),
            self.telegram_chat_id,
            self.phone,
            self.sms_opt_out,
            self.telegram_user_id,
            self.email,
        )


@dataclass
class NotificationRow:
    """A stored outbox row: only what `fail_notification` reads and writes (the payload's marks
    as the renderer writes them are these fields)."""

    booking_id: int | None
    channel: Channel
    audience: Audience
    fieldworker_id: int | None = None
    request_id: int | None = None
    job_request: bool = False
    refused: tuple[Channel, ...] = ()
    status: str = "queued"
    error: str | None = None


@dataclass(frozen=True)
class HistoryRow:
    """One appended history row (statuses stored as strings, like the table)."""

    booking_id: int
    action: HistoryAction
    actor: Actor
    at: datetime
    job_id: int | None = None
    request_id: int | None = None
    on_behalf_of: int | None = None
    from_status: str | None = None
    to_status: str | None = None
    channel: Channel | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class TimerRow:
    """A stored timer (`models.tables.Timer`)."""

    id: int
    kind: TimerKind
    subject_id: int
    booking_id: int
    anchor_at: datetime
    due_at: datetime | None
    status: TimerStatus = TimerStatus.PENDING
    fired_at: datetime | None = None

    def view(self) -> TimerView:
        """The timer as the core sees it."""
        return TimerView(
            self.id, self.kind, self.subject_id, self.booking_id, self.anchor_at, self.due_at
        )


@dataclass
class OfferRow:
    """A stored reschedule offer (`models.tables.RescheduleOffer`)."""

    id: int
    booking_id: int
    job_id: int
    fieldworker_id: int
    slots: tuple[Interval, ...]
    customer_phone: str | None
    expires_at: datetime
    status: OfferStatus = OfferStatus.OPEN
    chosen: int | None = None
    closed_at: datetime | None = None

    def view(self) -> OfferView:
        """The offer as the core sees it."""
        return OfferView(
            self.id,
            self.booking_id,
            self.job_id,
            self.fieldworker_id,
            self.slots,
            self.status,
            self.customer_phone,
            self.expires_at,
            self.chosen,
        )


def _next_id(table: Mapping[int, object]) -> int:
    return max(table, default=0) + 1


#: `add_fieldworker` keywords that are contact fields rather than `FieldworkerProfile` ones.
CONTACT_FIELDS = frozenset(ContactRow.__dataclass_fields__)
#: A default linked Telegram account is this plus the fieldworker's id (far from tests' ids).
DEFAULT_TELEGRAM_ID = 900_000


class FakeUnitOfWork:
    """`dispatch.ports.UnitOfWork` over plain dicts and lists; see the module docstring."""

    def __init__(
        self,
        settings: CompanySettings | None = None,
        clock: FakeClock | None = None,
        channels_on: ChannelsOn | None = None,
    ) -> None:
        self.clock = clock or FakeClock()
        self.company_settings = settings or CompanySettings()
        # `Transactions`' defaults: Telegram on, SMS off until Twilio is configured.
        self.channels_on = channels_on or ChannelsOn(telegram=True, sms=False)
        self.services: dict[str, frozenset[str]] = {}  # code -> required skills
        self.fieldworkers: dict[int, FieldworkerProfile] = {}  # `busy` is filled on demand
        self.contacts: dict[int, ContactRow] = {}  # the same ids as `fieldworkers`
        self.bookings: dict[int, BookingRow] = {}
        self.jobs: dict[int, JobRow] = {}
        self.requests: dict[int, RequestRow] = {}
        self.notifications: dict[int, NotificationRow] = {}
        self.history: list[HistoryRow] = []
        self.events: list[Event] = []
        self.appointment_count = 0  # appointment ids are handed out in order
        self.timers: dict[int, TimerRow] = {}
        self.customer_messages: dict[str, datetime] = {}  # phone -> their last message
        self.offers: dict[int, OfferRow] = {}

    # Setting up the company (what staff do through the API before dispatching).

    def add_service(self, code: str, skills: Collection[str] = ()) -> None:
        """A service the company offers, with the skills it requires."""
        self.services[code] = frozenset(skills)

    def add_fieldworker(self, *, reachable: bool = True, **fields: Any) -> int:
        """A fieldworker from `FieldworkerProfile` and `ContactRow` fields; returns the new id.

        Given no way to reach them (phone, Telegram, channels), a fieldworker is reachable on a
        linked Telegram account, or (`reachable=False`) on nothing; given any, exactly those. The
        invite code defaults to `code-<id>`.
        """
        fw_id = _next_id(self.fieldworkers)
        contact = {k: fields.pop(k) for k in CONTACT_FIELDS & fields.keys()}
        if reachable and not contact.keys() - {"invite_code", "invite_code_used"}:
            telegram_id = DEFAULT_TELEGRAM_ID + fw_id
            contact.update(
                telegram_user_id=telegram_id,
                telegram_chat_id=telegram_id,
                channels=[Channel.TELEGRAM.value],
            )
        contact.setdefault("invite_code", f"code-{fw_id}")
        row = ContactRow(**contact)
        for identifier in Identifier:
            value = getattr(row, identifier.value)
            if value is not None and self._holder(identifier, value) is not None:
                raise AssertionError(f"duplicate {identifier.value} {value!r}")  # unique column
        fields.setdefault("name", f"Worker {fw_id}")
        self.fieldworkers[fw_id] = FieldworkerProfile(id=fw_id, **fields)
        self.contacts[fw_id] = row
        return fw_id

    # The port: time, events, settings.

    def now(self) -> datetime:
        """The clock's now."""
        return self.clock.now()

    def emit(self, event: Event) -> None:
        """Record an event (the real adapter turns them into outbox rows)."""
        self.events.append(event)

    async def settings(self) -> CompanySettings:
        """The company settings."""
        return self.company_settings

    # The port: bookings and jobs.

    async def insert_booking(self, new: NewBooking) -> tuple[int, list[int]]:
        """Store a booking and one job per (appointment, service), appointments first."""
        booking_id = _next_id(self.bookings)
        self.bookings[booking_id] = BookingRow(
            booking_id, new, new.address, new.notes, new.location
        )
        job_ids: list[int] = []
        for slot in new.appointments:
            self.appointment_count += 1
            for code in new.services:
                job_id = _next_id(self.jobs)
                self.jobs[job_id] = JobRow(
                    job_id, booking_id, slot, code, appointment_id=self.appointment_count
                )
                job_ids.append(job_id)
        return booking_id, job_ids

    async def get_booking(self, booking_id: int) -> BookingView | None:
        """A booking, or None."""
        row = self.bookings.get(booking_id)
        return row.view() if row else None

    async def set_booking_status(self, booking_id: int, status: BookingStatus) -> None:
        """Change a booking's status (no-op for an unknown id, like an UPDATE)."""
        if booking_id in self.bookings:
            self.bookings[booking_id].status = status

    async def update_booking_details(
        self, booking_id: int, *, address: str, notes: str, location: Point
    ) -> None:
        """Store a booking's address, notes and location (no-op for an unknown id)."""
        row = self.bookings.get(booking_id)
        if row is not None:
            row.address, row.notes, row.location = address, notes, location

    async def move_appointment(self, appointment_id: int, interval: Interval) -> None:
        """Store an appointment's new start and end: every job of it moves (no-op when unknown)."""
        for job in self.jobs.values():
            if job.appointment_id == appointment_id:
                job.appointment = interval

    async def jobs_of_booking(self, booking_id: int) -> list[JobView]:
        """The booking's jobs by id."""
        rows = sorted(self.jobs.values(), key=lambda j: j.id)
        return [j.view() for j in rows if j.booking_id == booking_id]

    async def get_job(self, job_id: int) -> JobView | None:
        """A job, or None."""
        row = self.jobs.get(job_id)
        return row.view() if row else None

    async def lock_job(self, job_id: int) -> JobView | None:
        """The job, fresh (one writer at a time here, so there is nothing to wait for)."""
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
        """Compare-and-set: only from `from_statuses` (and the expected fieldworker, if checked)."""
        job = self.jobs.get(job_id)
        if job is None or job.status not in from_statuses:
            return False
        # `check_fieldworker` with no expected id means "nobody holds it" (IS NULL).
        if check_fieldworker and job.fieldworker_id != expect_fieldworker_id:
            return False
        job.status = to
        job.fieldworker_id = fieldworker_id
        if to is JobStatus.ASSIGNED:
            job.assigned_at = self.now()
        if to not in (JobStatus.COMPLETED, JobStatus.CANCELLED):
            job.confirmed_at = None  # a confirmation belongs to the holder who gave it
        return True

    async def confirm_job(self, job_id: int, fieldworker_id: int, at: datetime | None) -> bool:
        """Compare-and-set of the confirmation: assigned to them, and (to record) not yet set."""
        job = self.jobs.get(job_id)
        if job is None or job.status is not JobStatus.ASSIGNED:
            return False
        if job.fieldworker_id != fieldworker_id or (at is not None and job.confirmed_at):
            return False
        job.confirmed_at = at
        return True

    async def assigned_job_ids(
        self, fieldworker_id: int, start: datetime, end: datetime
    ) -> list[int]:
        """Ids of the fieldworker's assigned jobs starting in [start, end), soonest first."""
        mine = [
            j
            for j in self.jobs.values()
            if j.fieldworker_id == fieldworker_id
            and j.status is JobStatus.ASSIGNED
            and start <= j.appointment.start < end
        ]
        return [j.id for j in sorted(mine, key=lambda j: (j.appointment.start, j.id))]

    # The port: job requests.

    async def get_request(self, request_id: int) -> RequestView | None:
        """A job request, or None."""
        row = self.requests.get(request_id)
        return row.view() if row else None

    async def find_request(self, job_id: int, fieldworker_id: int) -> RequestView | None:
        """One fieldworker's request for one job, or None."""
        for row in self.requests.values():
            if row.job_id == job_id and row.fieldworker_id == fieldworker_id:
                return row.view()
        return None

    async def requests_of_job(self, job_id: int) -> list[RequestView]:
        """Every request of a job by id."""
        rows = sorted(self.requests.values(), key=lambda r: r.id)
        return [r.view() for r in rows if r.job_id == job_id]

    async def requests_of_fieldworker(
        self, fieldworker_id: int, statuses: Collection[RequestStatus]
    ) -> list[RequestView]:
        """The fieldworker's requests in the given statuses, oldest (lowest id) first."""
        rows = sorted(self.requests.values(), key=lambda r: r.id)
        return [
            r.view() for r in rows if r.fieldworker_id == fieldworker_id and r.status in statuses
        ]

    async def upcoming_assigned_job_ids(self, fieldworker_id: int) -> list[int]:
        """Ids of the fieldworker's assigned jobs that have not ended by now, soonest first."""
        mine = [
            j
            for j in self.jobs.values()
            if j.fieldworker_id == fieldworker_id
            and j.status is JobStatus.ASSIGNED
            and j.appointment.end > self.now()
        ]
        return [j.id for j in sorted(mine, key=lambda j: (j.appointment.start, j.id))]

    async def customer_by_phone(self, phone: str) -> ReplyingCustomer | None:
        """The customer with this phone and the booking their message most likely concerns."""
        mine = [b for b in self.bookings.values() if b.new.customer_phone == phone]
        if not mine:
            return None
        upcoming = [
            (interval.start, b.id)
            for b in mine
            if b.status is BookingStatus.OPEN
            for interval in b.new.appointments
            if interval.end >= self.now()
        ]
        booking = self.bookings[min(upcoming)[1]] if upcoming else max(mine, key=lambda b: b.id)
        # The storage adapter creates one customer per booking: its id is the booking's here.
        return ReplyingCustomer(
            booking.id, booking.new.customer_name, booking.customer_sms_opt_out, booking.id
        )

    async def note_customer_message(self, phone: str, gap: timedelta) -> bool:
        """Record a customer's message now; True when it starts a conversation."""
        last = self.customer_messages.get(phone)
        self.customer_messages[phone] = self.now()
        return last is None or self.now() - last >= gap

    async def set_sms_opt_out(self, phone: str, opted_out: bool) -> None:
        """Every fieldworker and customer with this phone opted out of SMS (or back in)."""
        for contact in self.contacts.values():
            if contact.phone == phone:
                contact.sms_opt_out = opted_out
        for booking in self.bookings.values():
            if booking.new.customer_phone == phone:
                booking.customer_sms_opt_out = opted_out

    async def create_request(
        self, job_id: int, booking_id: int, fieldworker_id: int, expires_at: datetime | None
    ) -> RequestView:
        """Insert a pending request with a reply code unique among the fieldworker's pending ones.

        A second request for the same (job, fieldworker) is refused.
        """
        if await self.find_request(job_id, fieldworker_id) is not None:
            # The table's unique (job, fieldworker) constraint.
            raise AssertionError(f"duplicate request for job {job_id}, fw {fieldworker_id}")
        request_id = _next_id(self.requests)
        pending = await self.requests_of_fieldworker(fieldworker_id, [RequestStatus.PENDING])
        taken = {r.reply_code for r in pending}
        # The adapter draws codes at random from 1000-9999; in order is as unique and repeatable.
        code = 1000 + (request_id - 1) % 9000
        while code in taken:
            code = 1000 + (code - 999) % 9000
        row = RequestRow(request_id, job_id, booking_id, fieldworker_id, expires_at, code)
        self.requests[request_id] = row
        return row.view()

    async def create_requests(
        self,
        job_id: int,
        booking_id: int,
        fws: Sequence[int],
        expires_at: datetime | None,
    ) -> list[RequestView]:
        """`create_request` for each fieldworker, in their order."""
        return [await self.create_request(job_id, booking_id, fw, expires_at) for fw in fws]

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
        """Compare-and-set along `dispatch.model.REQUEST_MOVES`; writes what the adapter writes."""
        illegal = [f for f in from_statuses if not can_move_request(f, to)]
        if illegal:
            raise ValueError(f"illegal request move {illegal[0].value} -> {to.value}")
        row = self.requests.get(request_id)
        if row is None or row.status not in from_statuses:
            return False
        row.status = to
        row.reason = reason  # always written: a reopened request loses its old reason
        row.responded_at = self.now()
        if actor is not None:
            row.responded_by_kind = actor.kind
            row.responded_by_id = actor.id
        if channel is not None:
            row.channel = channel
        if to is RequestStatus.PENDING:
            row.expires_at = expires_at
        return True

    # The port: fieldworkers and services.

    async def candidates(
        self,
        job: JobView,
        *,
        narrowing: Narrowing | None = None,
        fieldworker_ids: Collection[int] | None = None,
    ) -> list[FieldworkerProfile]:
        """Fieldworkers by id (all, the listed ones, or those `narrowing` admits: the reference
        predicate, as storage applies it in SQL), `busy` holding their other assigned jobs that
        `keeps_busy`."""
        busy: dict[int, list[Interval]] = {}
        for other in self.jobs.values():
            if (
                other.id != job.id
                and other.status is JobStatus.ASSIGNED
                and other.fieldworker_id is not None
                and keeps_busy(job.booking_id, job.appointment, other.booking_id, other.appointment)
            ):
                busy.setdefault(other.fieldworker_id, []).append(other.appointment)
        wanted = set(fieldworker_ids) if fieldworker_ids is not None else None
        return [
            replace(profile, busy=tuple(busy.get(fw_id, ())))
            for fw_id, profile in sorted(self.fieldworkers.items())
            if (wanted is None or fw_id in wanted)
            and (
                narrowing is None or admits(narrowing, profile, territory_box(profile.territories))
            )
        ]

    async def reachable_fieldworkers(self, fieldworker_ids: Collection[int]) -> set[int]:
        """Those of the ids that exist and `dispatch.reachability` can reach with `channels_on`."""
        return {
            f
            for f in fieldworker_ids
            if f in self.contacts and is_reachable(self.contacts[f].contact(), self.channels_on)
        }

    async def fieldworker_exists(self, fieldworker_id: int) -> bool:
        """True when the fieldworker exists."""
        return fieldworker_id in self.fieldworkers

    async def fieldworker_timezone(self, fieldworker_id: int) -> str | None:
        """The fieldworker's time zone, or None when they do not exist."""
        profile = self.fieldworkers.get(fieldworker_id)
        return profile.timezone if profile is not None else None

    async def contact(self, fieldworker_id: int) -> Contact | None:
        """How the fieldworker can be reached, or None when unknown."""
        row = self.contacts.get(fieldworker_id)
        return row.contact() if row is not None else None

    async def fail_notification(
        self, notification_id: int, error: str
    ) -> FailedNotification | None:
        """Compare-and-set to `failed`; None when it already was (or does not exist)."""
        row = self.notifications.get(notification_id)
        if row is None or row.status == "failed":
            return None
        row.status, row.error = "failed", error
        return FailedNotification(
            notification_id,
            row.booking_id,
            row.channel,
            row.audience,
            row.fieldworker_id,
            row.request_id,
            row.job_request,
            row.refused,
        )

    def _holder(self, identifier: Identifier, value: str | int) -> int | None:
        for fw_id, contact in sorted(self.contacts.items()):
            if getattr(contact, identifier.value) == value:
                return fw_id
        return None

    async def holder_of(
        self, identifier: Identifier, value: str | int
    ) -> FieldworkerIdentity | None:
        """The fieldworker holding this phone, Telegram user id or invite code, or None."""
        fw_id = self._holder(identifier, value)
        if fw_id is None:
            return None
        c = self.contacts[fw_id]
        return FieldworkerIdentity(
            id=fw_id,
            name=self.fieldworkers[fw_id].name,
            phone=c.phone,
            invite_code=c.invite_code,
            telegram_user_id=c.telegram_user_id,
            telegram_chat_id=c.telegram_chat_id,
            telegram_username=c.telegram_username,
            channels=tuple(c.channels),
            invite_code_used=c.invite_code_used,
        )

    async def set_telegram(
        self, fieldworker_id: int, user_id: int | None, chat_id: int | None, username: str | None
    ) -> None:
        """Store the fieldworker's Telegram user id, chat id and username (no-op if unknown)."""
        contact = self.contacts.get(fieldworker_id)
        if contact is None:
            return
        holder = self._holder(Identifier.TELEGRAM_USER_ID, user_id) if user_id is not None else None
        if holder not in (None, fieldworker_id):
            # The column's unique constraint: the core must free the id first.
            raise AssertionError(f"duplicate telegram_user_id {user_id}")
        contact.telegram_user_id, contact.telegram_chat_id = user_id, chat_id
        contact.telegram_username = username

    async def set_channels(self, fieldworker_id: int, channels: Sequence[str]) -> None:
        """Store the channels the fieldworker is reached on (no-op for an unknown id)."""
        if fieldworker_id in self.contacts:
            self.contacts[fieldworker_id].channels = list(channels)

    async def spend_invite_code(self, fieldworker_id: int, code: str) -> bool:
        """Mark the code used when it is the fieldworker's and unused; True when this call did."""
        contact = self.contacts.get(fieldworker_id)
        if contact is None or contact.invite_code != code or contact.invite_code_used:
            return False
        contact.invite_code_used = True
        return True

    async def set_invite_code(self, fieldworker_id: int, code: str) -> bool:
        """A fresh, unused code; False for an unknown id."""
        contact = self.contacts.get(fieldworker_id)
        if contact is None:
            return False
        if self._holder(Identifier.INVITE_CODE, code) not in (None, fieldworker_id):
            raise AssertionError(f"duplicate invite_code {code!r}")  # unique column
        contact.invite_code, contact.invite_code_used = code, False
        return True

    async def service_skills(self, service_code: str) -> frozenset[str] | None:
        """The service's required skills, or None for an unknown code."""
        return self.services.get(service_code)

    # The port: history.

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
        self.history.append(
            HistoryRow(
                booking_id,
                action,
                actor,
                self.now(),
                job_id=job_id,
                request_id=request_id,
                on_behalf_of=on_behalf_of,
                from_status=str(from_status) if from_status is not None else None,
                to_status=str(to_status) if to_status is not None else None,
                channel=channel,
                details=dict(details or {}),
            )
        )

    # Timers (`dispatch.deadlines.TimerStore`).

    async def arm_timer(
        self,
        kind: TimerKind,
        subject_id: int,
        booking_id: int,
        anchor_at: datetime,
        due_at: datetime | None,
    ) -> None:
        """Create or re-arm the (kind, subject) timer: pending again, with this anchor and due."""
        for row in self.timers.values():
            if (row.kind, row.subject_id) == (kind, subject_id):
                row.booking_id, row.anchor_at, row.due_at = booking_id, anchor_at, due_at
                row.status, row.fired_at = TimerStatus.PENDING, None
                return
        timer_id = _next_id(self.timers)
        self.timers[timer_id] = TimerRow(timer_id, kind, subject_id, booking_id, anchor_at, due_at)

    async def disarm_timer(self, kind: TimerKind, subject_id: int) -> None:
        """Forget the (kind, subject) timer if it has not fired (a no-op otherwise)."""
        for timer_id, row in list(self.timers.items()):
            if (row.kind, row.subject_id, row.status) == (kind, subject_id, TimerStatus.PENDING):
                del self.timers[timer_id]

    def _due(self, row: TimerRow) -> bool:
        return (
            row.status is TimerStatus.PENDING
            and row.due_at is not None
            and (row.due_at <= self.now())
        )

    async def due_timer_ids(self, limit: int) -> list[int]:
        """Ids of pending timers due by now, soonest first, at most `limit`."""
        due = sorted(
            (r for r in self.timers.values() if self._due(r)), key=lambda r: (r.due_at, r.id)
        )
        return [r.id for r in due[:limit]]

    async def claim_timer(self, timer_id: int) -> TimerView | None:
        """Mark a due pending timer done and return it; None when it is not pending and due."""
        row = self.timers.get(timer_id)
        if row is None or not self._due(row):
            return None
        row.status, row.fired_at = TimerStatus.DONE, self.now()
        return row.view()

    async def drop_timer(self, timer_id: int) -> None:
        """Record that a claimed timer did not act."""
        if timer_id in self.timers:
            self.timers[timer_id].status = TimerStatus.DROPPED

    async def pending_timers(self, kind: TimerKind) -> list[TimerView]:
        """Every pending timer of a kind."""
        rows = [r for r in self.timers.values() if r.kind is kind]
        return [
            r.view() for r in sorted(rows, key=lambda r: r.id) if r.status is TimerStatus.PENDING
        ]

    async def set_timer_due(self, timer_id: int, due_at: datetime | None) -> None:
        """Move a pending timer's deadline (None: off)."""
        row = self.timers.get(timer_id)
        if row is not None and row.status is TimerStatus.PENDING:
            row.due_at = due_at

    # Reschedule offers (`dispatch.offers.OfferStore`).

    async def create_offer(
        self,
        booking_id: int,
        job_id: int,
        fieldworker_id: int,
        slots: Sequence[Interval],
        customer_phone: str,
        expires_at: datetime,
    ) -> OfferView:
        """Store an open offer."""
        offer_id = _next_id(self.offers)
        self.offers[offer_id] = OfferRow(
            offer_id, booking_id, job_id, fieldworker_id, tuple(slots), customer_phone, expires_at
        )
        return self.offers[offer_id].view()

    async def get_offer(self, offer_id: int) -> OfferView | None:
        """An offer, or None."""
        row = self.offers.get(offer_id)
        return row.view() if row else None

    async def open_offers_of_job(self, job_id: int) -> list[OfferView]:
        """The job's open offers, oldest first."""
        return [
            r.view()
            for _, r in sorted(self.offers.items())
            if r.job_id == job_id and r.status is OfferStatus.OPEN
        ]

    async def newest_offer_to(self, phone: str) -> OfferView | None:
        """The newest offer (any status) sent to this phone, or None."""
        mine = [r for _, r in sorted(self.offers.items()) if r.customer_phone == phone]
        return mine[-1].view() if mine else None

    async def close_offer(
        self, offer_id: int, to: OfferStatus, *, chosen: int | None = None
    ) -> bool:
        """Compare-and-set from open."""
        row = self.offers.get(offer_id)
        if row is None or row.status is not OfferStatus.OPEN:
            return False
        row.status, row.chosen, row.closed_at = to, chosen, self.now()
        return True

    async def customer_phone(self, booking_id: int) -> str | None:
        """The customer's phone unless they have none or sent STOP."""
        row = self.bookings.get(booking_id)
        if row is None or row.customer_sms_opt_out:
            return None
        return row.new.customer_phone or None

    async def fieldworker_schedule(
        self, fieldworker_id: int, window: Interval, *, except_appointment_id: int | None
    ) -> FieldworkerProfile | None:
        """The profile, `busy` holding their assigned jobs overlapping `window` (soonest first,
        each span once) but those of `except_appointment_id`."""
        profile = self.fieldworkers.get(fieldworker_id)
        if profile is None:
            return None
        busy: list[Interval] = []
        for job in sorted(self.jobs.values(), key=lambda j: (j.appointment.start, j.id)):
            if (
                job.fieldworker_id == fieldworker_id
                and job.status is JobStatus.ASSIGNED
                and job.appointment.overlaps(window)
                and job.appointment_id != except_appointment_id
                and job.appointment not in busy
            ):
                busy.append(job.appointment)
        return replace(profile, busy=tuple(busy))

    async def dropped_out(self, booking_id: int, job_id: int, fieldworker_id: int) -> bool:
        """True when history records the job `missed` while it was this fieldworker's."""
        return any(
            h.booking_id == booking_id
            and h.job_id == job_id
            and h.action is HistoryAction.JOB_MISSED
            and h.details.get("fieldworker_id") == fieldworker_id
            for h in self.history
        )

    # What a test looks at (not part of the port).

    def add_notification(self, booking_id: int | None, channel: Channel, **fields: Any) -> int:
        """An outbox row as the renderer would have written it; returns its id."""
        fields.setdefault("audience", Audience.FIELDWORKER)
        notification_id = _next_id(self.notifications)
        self.notifications[notification_id] = NotificationRow(booking_id, channel, **fields)
        return notification_id

    def request_of(self, job_id: int, fieldworker_id: int) -> RequestRow:
        """The stored request of one fieldworker for one job (KeyError when there is none)."""
        for row in self.requests.values():
            if row.job_id == job_id and row.fieldworker_id == fieldworker_id:
                return row
        raise KeyError((job_id, fieldworker_id))

    def asked(self, job_id: int, *statuses: RequestStatus) -> list[int]:
        """Fieldworkers holding a request for the job (in those statuses, if given), by request."""
        return [
            r.fieldworker_id
            for r in sorted(self.requests.values(), key=lambda r: r.id)
            if r.job_id == job_id and (not statuses or r.status in statuses)
        ]

    def actions(self, *, job_id: int | None = None) -> list[HistoryAction]:
        """History actions in the order they were recorded (of one job, if given)."""
        return [h.action for h in self.history if job_id is None or h.job_id == job_id]

    def rows(self, action: HistoryAction) -> list[HistoryRow]:
        """The history rows of one action."""
        return [h for h in self.history if h.action is action]

    def emitted(self, kind: type[E]) -> list[E]:
        """The events of one type, in emission order."""
        return [e for e in self.events if isinstance(e, kind)]

    def due_requests(self) -> list[int]:
        """Pending requests whose deadline has passed, the sweep's order (`bot/app.py`)."""
        due = [
            r
            for r in self.requests.values()
            if r.status is RequestStatus.PENDING
            and r.expires_at is not None
            and r.expires_at <= self.now()
        ]
        return [r.id for r in sorted(due, key=lambda r: r.expires_at or self.now())]


# Builders: a company and its bookings in one line each.


def fieldworker(fw_id: int) -> Actor:
    """A fieldworker acting for themself."""
    return Actor(ActorKind.FIELDWORKER, fw_id, f"Worker {fw_id}")


def near(point: Point, km: float) -> Point:
    """A point about `km` north of `point` (a degree of latitude is about 111 km)."""
    return Point(point.lat + km / 111.2, point.lon)


def company(
    fieldworkers: int = 3, *, services: Sequence[str] = ("plumb",), **settings: Any
) -> FakeUnitOfWork:
    """A company offering `services`, with fieldworkers 1..N offering them all near `SITE`.

    Fieldworker i lives i * 100 m from the site, so nearest-first is id order. `settings` are
    `CompanySettings` fields (validated).
    """
    uow = FakeUnitOfWork(CompanySettings.model_validate(settings))
    for code in services:
        uow.add_service(code)
    for i in range(fieldworkers):
        uow.add_fieldworker(services=frozenset(services), base_location=near(SITE, 0.1 * (i + 1)))
    return uow


@dataclass(frozen=True)
class Booked:
    """A booking created by `book`, with its jobs in creation order."""

    id: int
    job_ids: list[int]

    @property
    def job_id(self) -> int:
        """The first (often the only) job."""
        return self.job_ids[0]


async def book(
    uow: FakeUnitOfWork,
    *services: str,
    mode: DispatchMode = DispatchMode.AUTO,
    start: datetime = START,
    hours: float = 2,
    fieldworker_id: int | None = None,
    actor: Actor = STAFF,
) -> Booked:
    """Create a booking at `SITE` through `dispatch.bookings.create_booking` (default: `plumb`)."""
    new = NewBooking(
        customer_name="Cleo Customer",
        customer_phone="+4915100000000",
        customer_email=None,
        address="Street 1",
        location=SITE,
        services=services or ("plumb",),
        appointments=(Interval(start, start + timedelta(hours=hours)),),
        dispatch_mode=mode,
    )
    booking_id = await bookings.create_booking(
        uow, new, actor, Channel.API, fieldworker_id=fieldworker_id
    )
    return Booked(booking_id, [j.id for j in await uow.jobs_of_booking(booking_id)])


async def answer(
    uow: FakeUnitOfWork,
    job_id: int,
    fw_id: int,
    action: Action,
    *,
    reason: str | None = None,
    actor: Actor | None = None,
) -> RespondResult:
    """Fieldworker `fw_id` (or `actor` on their behalf) answers their request for the job."""
    request = uow.request_of(job_id, fw_id)
    channel = Channel.TELEGRAM if actor is None else Channel.API
    return await responding.respond(
        uow, request.id, action, actor or fieldworker(fw_id), channel, reason=reason
    )
