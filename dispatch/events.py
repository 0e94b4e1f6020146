"""What happened: the core emits these; adapters turn them into messages in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dispatch.model import Actor, Channel, Interval


class WithdrawnBecause(StrEnum):
    """Why an open request was closed without the fieldworker answering it."""

    TAKEN = "taken"  # another fieldworker won (auto mode)
    NOT_SELECTED = "not_selected"  # staff confirmed someone else (manual mode)
    ASSIGNED_BY_STAFF = "assigned_by_staff"  # staff assigned the job directly
    CANCELLED = "cancelled"  # the booking or job was cancelled
    EXPIRED = "expired"  # the assignment timeout passed without an answer
    RESCHEDULED = "rescheduled"  # the appointment moved: asked again at the new time, or not


@dataclass(frozen=True)
class Event:
    """Base of every core event."""

    booking_id: int


@dataclass(frozen=True)
class BookingCreated(Event):
    """A booking and its jobs exist."""


@dataclass(frozen=True)
class BookingCancelled(Event):
    """The booking was cancelled; its jobs with it."""


@dataclass(frozen=True)
class Holder:
    """A fieldworker holding a job of a booking: an open request for it, or the job (assigned)."""

    fieldworker_id: int
    job_id: int
    #: Their pending request, whose message shows the job's details under working buttons.
    pending_request_id: int | None = None


@dataclass(frozen=True)
class BookingChanged(Event):
    """Staff changed a booking's details (`fields`: "address", "notes", "location").

    `holders` are the fieldworkers to tell: those holding an open request for one of its jobs or
    an assigned job of it, in job order.
    """

    fields: tuple[str, ...]
    holders: tuple[Holder, ...]


@dataclass(frozen=True)
class RequestSent(Event):
    """A fieldworker was asked to take a job (again, after a pend, when `resent`)."""

    request_id: int
    job_id: int
    fieldworker_id: int
    resent: bool = False


@dataclass(frozen=True)
class RequestAccepted(Event):
    """A request was accepted; `assigned` tells whether that gave the fieldworker the job."""

    request_id: int
    job_id: int
    fieldworker_id: int
    actor: Actor
    channel: Channel
    assigned: bool


@dataclass(frozen=True)
class RequestRejectedLate(Event):
    """An accept arrived after the job was gone (lost the race, withdrawn, expired)."""

    request_id: int
    job_id: int
    fieldworker_id: int


@dataclass(frozen=True)
class RequestDeclined(Event):
    """A request was declined, with its reason.

    `no_longer_attending`: the fieldworker held the job and said they cannot come after all (their
    "No longer attending" or SMS `CANCEL`), rather than turning an offer down.
    """

    request_id: int
    job_id: int
    fieldworker_id: int
    reason: str | None
    actor: Actor
    channel: Channel
    no_longer_attending: bool = False


@dataclass(frozen=True)
class RequestWithdrawn(Event):
    """An open or accepted request was closed by someone else's decision."""

    request_id: int
    job_id: int
    fieldworker_id: int
    because: WithdrawnBecause


@dataclass(frozen=True)
class RequestPended(Event):
    """Staff put an answered request back to pending; the fieldworker is asked again."""

    request_id: int
    job_id: int
    fieldworker_id: int
    actor: Actor


@dataclass(frozen=True)
class JobAssigned(Event):
    """A job now belongs to a fieldworker (`previous_fieldworker_id` set on a reassignment).

    `via_accept` is True when an accepted request gave the job (the fieldworker's own accept or one
    on their behalf): the `RequestAccepted` event already tells the fieldworker then.
    """

    job_id: int
    fieldworker_id: int
    previous_fieldworker_id: int | None
    actor: Actor
    via_accept: bool
    request_id: int | None = None  # the fieldworker's own request for the job, if any


@dataclass(frozen=True)
class JobUnassigned(Event):
    """A job lost its fieldworker and is open again.

    `rescheduled`: its appointment moved to a time they are not eligible for (the customer hears
    of the new time once, by `AppointmentRescheduled`, not of a lost fieldworker).
    """

    job_id: int
    fieldworker_id: int
    actor: Actor
    rescheduled: bool = False


@dataclass(frozen=True)
class JobCompleted(Event):
    """Staff marked an assigned job done; `request_id`: the holder's accepted request, if any."""

    job_id: int
    fieldworker_id: int
    request_id: int | None


@dataclass(frozen=True)
class JobCancelled(Event):
    """A job assigned directly to a fieldworker (no request to withdraw) was cancelled."""

    job_id: int
    fieldworker_id: int


@dataclass(frozen=True)
class FieldworkerCancelled(Event):
    """The assigned fieldworker is no longer attending (their own word, or a decline on their
    behalf): the job is `missed`; `rebroadcast` when others were asked at once."""

    job_id: int
    fieldworker_id: int
    reason: str | None
    rebroadcast: bool


@dataclass(frozen=True)
class AcceptanceWaiting(Event):
    """A fieldworker accepted a `manual` booking's job: it waits for staff to confirm someone."""

    request_id: int
    job_id: int
    fieldworker_id: int


@dataclass(frozen=True)
class AssignmentTimedOut(Event):
    """Every request of a job expired unanswered (the assignment timeout); staff are alerted."""

    job_id: int
    asked: int


@dataclass(frozen=True)
class JobNobodyToAsk(Event):
    """Matching found no eligible fieldworker left to ask for a job."""

    job_id: int


@dataclass(frozen=True)
class DeliveryFailed(Event):
    """A notification could not be delivered (CONTRACT §5: staff are told).

    `fallback` is the channel it is sent by now, None when no other channel reaches the person;
    `refused` lists every channel that refused it so far, this one included. `alert_staff` is False
    for a failed staff alert, which must not cause another one.
    """

    notification_id: int
    channel: Channel
    fieldworker_id: int | None
    request_id: int | None
    job_id: int | None
    fallback: Channel | None
    refused: tuple[Channel, ...]
    alert_staff: bool


@dataclass(frozen=True)
class CustomerStillWaiting(Event):
    """Nobody has taken these jobs `no_acceptance_after_s` after the booking was made: the
    customer hears that we are still finding their fieldworker."""

    job_ids: tuple[int, ...]


@dataclass(frozen=True)
class UnassignedSoon(Event):
    """Jobs of one appointment are still unassigned `unassigned_alert_lead_s` before its start.

    Staff are alerted; `suggested` maps a job to the nearest eligible fieldworker not asked yet
    (for an "Assign" button), when there is one; `tell_customer` per `customer_notify`.
    """

    appointment_id: int
    job_ids: tuple[int, ...]
    suggested: tuple[tuple[int, int], ...] = ()
    tell_customer: bool = False


@dataclass(frozen=True)
class CustomerReplied(Event):
    """A customer's SMS that answers nothing: forwarded to the staff who receive alerts."""

    customer_id: int
    phone: str
    text: str


@dataclass(frozen=True)
class JobRescheduled(Event):
    """An assigned job's appointment moved and its fieldworker keeps it: they hear the new time
    (`previous` is the old one)."""

    job_id: int
    fieldworker_id: int
    previous: Interval


@dataclass(frozen=True)
class AppointmentRescheduled(Event):
    """An appointment moved from `previous` to `current`.

    `job_ids` are its jobs still to be done (the customer hears once per reschedule, however many
    jobs and appointments: `tell_customer` per `customer_notify.rescheduled`); `staff_job_ids` those
    left open for staff to dispatch again (manual mode), who are alerted.
    """

    appointment_id: int
    previous: Interval
    current: Interval
    job_ids: tuple[int, ...]
    staff_job_ids: tuple[int, ...] = ()
    tell_customer: bool = True


@dataclass(frozen=True)
class RequestNudged(Event):
    """A request still unanswered `nudge_after_s` after it was sent: the fieldworker is reminded
    once (on Telegram as a reply to the request's message, by SMS with its reply code)."""

    request_id: int
    job_id: int
    fieldworker_id: int


@dataclass(frozen=True)
class JobReminder(Event):
    """The assigned fieldworker is reminded `reminder_before_s` before the job starts."""

    job_id: int
    fieldworker_id: int


@dataclass(frozen=True)
class AttendanceAsked(Event):
    """The day before (`day_before_confirmation`), the assigned fieldworker is asked to confirm
    they will attend (`Confirm` / `Can't attend`); `reply_code` names the job in an SMS answer,
    when they hold a request for it."""

    job_id: int
    fieldworker_id: int
    reply_code: int | None = None


@dataclass(frozen=True)
class ProposalInvited(Event):
    """A fieldworker who just declined a job, or dropped out of it, may propose other times for it
    (Reschedule Assist). `suggested` are free times from their working hours; `request_id` is the
    request they declined (None for a job they were given directly); `reason` theirs."""

    job_id: int
    fieldworker_id: int
    request_id: int | None
    suggested: tuple[Interval, ...]
    reason: str | None = None
    no_longer_attending: bool = False


@dataclass(frozen=True)
class RescheduleProposed(Event):
    """A fieldworker proposed other times for a job: the customer is offered `slots` (one SMS);
    `channel` is where the fieldworker proposed (confirmed there)."""

    offer_id: int
    job_id: int
    fieldworker_id: int
    slots: tuple[Interval, ...]
    channel: Channel = Channel.SYSTEM


@dataclass(frozen=True)
class RescheduleChosen(Event):
    """The customer chose slot `chosen` (from 1) of an offer: the appointment moved to `slot`;
    `assigned` when the proposer got the job (otherwise it is dispatched again at the new time)."""

    offer_id: int
    job_id: int
    fieldworker_id: int
    chosen: int
    slot: Interval
    assigned: bool


@dataclass(frozen=True)
class RescheduleOfferExpired(Event):
    """The customer chose none of the proposed times before the offer ran out."""

    offer_id: int
    job_id: int
    fieldworker_id: int
