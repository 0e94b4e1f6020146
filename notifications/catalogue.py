"""What the product says, as data: events, channels and merge fields (CONTRACT §4 `/templates`).

Every message is a template per **event** (what happened: `job_request`, `customer_assigned`, ...)
and **channel** (`telegram`, `sms`, `email`). An event declares the merge fields its templates may
use; a template naming any other is refused (`notifications.templates.check`). The default texts
are package data (`notifications/default_templates/*.toml`); staff override them through
`PUT /templates/{event}/{channel}`.

Inside the code a message is still named by its **message key** (the outbox row's `template`,
e.g. `customer_assigned_sms`): `MESSAGES` maps each key to its event and channel, and to fixed
values (every staff alert is the one `staff_alert` event; the key sets its `kind`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TELEGRAM, SMS, EMAIL = "telegram", "sms", "email"
CHANNELS = (TELEGRAM, SMS, EMAIL)
#: Telegram parse modes a template may declare (None: plain text).
PARSE_MODES = ("HTML", "MarkdownV2")

#: What a fieldworker's own reply (a button, an SMS) can do: the `outcome` of an `answer`.
ANSWER_OUTCOMES = (
    "assigned",
    "accepted",
    "already_accepted",
    "taken",
    "closed",
    "job_closed",
    "declined",
    "not_found",
    "cancelled",
    "confirmed",
    "already_confirmed",
    "not_assigned",
)

#: Every merge field, with what it holds (`GET /templates` shows these).
FIELDS: dict[str, str] = {
    "customer": "the customer's full name",
    "customer_first_name": "the customer's first name",
    "service": "the service's name (several joined with 'and' in one customer message)",
    "when": "local date and time of the appointment, in the recipient's time zone",
    "date": "local date of the appointment (e.g. Tue 1 Dec)",
    "time": "local start time of the appointment (e.g. 10:00)",
    "address": "the booking's address",
    "notes": "the booking's notes (may be empty)",
    "summary": "one line: service · when · address",
    "booking_id": "the booking's id",
    "job_id": "the job's id",
    "request_id": "the job request's id",
    "code": "the reply code a fieldworker answers by SMS (YES 4821)",
    "distance_km": "distance from the fieldworker's base in km (none when unknown)",
    "fieldworker": "the fieldworker's name (first name to customers, full name to staff)",
    "reason": "the reason given for a decline or a drop-out (may be empty)",
    "previous": "the appointment's previous local date and time",
    "options": "the proposed slots, numbered (1) ..., 2) ...)",
    "choices": "what the customer may reply (1, 2 or 3)",
    "chosen": "the slot the customer chose",
    "assigned": "whether the fieldworker keeps the job at the chosen time",
    "accept_url": "signed link that accepts the request",
    "decline_url": "signed link that declines the request",
    "verb": "what staff did on the fieldworker's behalf (accepted, declined)",
    "changed": "what changed in the booking (address, location, notes)",
    "summaries": "one summary line per job of the booking",
    "invite": "the Reschedule Assist invitation (may be empty)",
    "suggested": "whether free times are suggested as buttons",
    "max_slots": "how many times a fieldworker may propose",
    "kind": (
        "which staff alert: acceptance_waiting, nobody_to_ask, assignment_timeout, "
        "fieldworker_cancelled, delivery_failed, unassigned_soon, job_rescheduled, "
        "customer_replied"
    ),
    "asked": "how many fieldworkers were asked",
    "rebroadcast": "whether other fieldworkers were asked again",
    "status": "the job's status",
    "suggested_fieldworker": "the nearest eligible fieldworker staff may assign (may be empty)",
    "fieldworker_id": "the fieldworker's id",
    "recipient": "who a failed message was for",
    "channel": "the channel a message failed on",
    "error": "the provider's error (may be empty)",
    "fallback": "the channel a failed message went by instead (may be empty)",
    "phone": "the customer's phone number",
    "text": "the customer's words",
    "outcome": "what a fieldworker's reply did: " + ", ".join(ANSWER_OUTCOMES),
}

_JOB = (
    "customer",
    "customer_first_name",
    "service",
    "when",
    "date",
    "time",
    "address",
    "notes",
    "summary",
    "booking_id",
    "job_id",
)
_FW = (*_JOB, "fieldworker")
_REQUEST = (*_FW, "request_id", "code", "distance_km")
_CUSTOMER = ("customer", "customer_first_name", "service", "when", "date", "time", "booking_id")
_STAFF = (
    *_JOB,
    "kind",
    "fieldworker",
    "fieldworker_id",
    "asked",
    "reason",
    "rebroadcast",
    "status",
    "suggested_fieldworker",
    "recipient",
    "channel",
    "error",
    "fallback",
    "phone",
    "text",
)
STAFF_ALERT_KINDS = (
    "acceptance_waiting",
    "nobody_to_ask",
    "assignment_timeout",
    "fieldworker_cancelled",
    "delivery_failed",
    "unassigned_soon",
    "job_rescheduled",
    "customer_replied",
)


@dataclass(frozen=True)
class EventSpec:
    """One event: who receives it, on which channels, and the merge fields it offers."""

    name: str
    audience: str  # fieldworker | customer | staff
    description: str
    fields: tuple[str, ...]
    channels: tuple[str, ...]
    #: Fields only one channel has (the email's signed links).
    channel_fields: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def fields_for(self, channel: str) -> tuple[str, ...]:
        """The merge fields a template of this event on `channel` may use."""
        return self.fields + self.channel_fields.get(channel, ())


def _fw(
    name: str, description: str, *extra: str, channels: tuple[str, ...] = CHANNELS
) -> EventSpec:
    return EventSpec(name, "fieldworker", description, (*_FW, *extra), channels)


def _cu(
    name: str, description: str, *extra: str, channels: tuple[str, ...] = (SMS, EMAIL)
) -> EventSpec:
    return EventSpec(name, "customer", description, (*_CUSTOMER, *extra), channels)


_EVENTS = (
    EventSpec(
        "job_request",
        "fieldworker",
        "a job request (Telegram buttons, SMS reply code, or email links)",
        _REQUEST,
        CHANNELS,
        {EMAIL: ("accept_url", "decline_url")},
    ),
    _fw("request_accepted", "their accept, and the job is theirs"),
    _fw("request_accepted_manual", "their accept, waiting for staff to confirm (manual mode)"),
    _fw("request_declined", "their decline", "reason", "invite"),
    _fw("request_no_longer_attending", "their drop-out from an assigned job", "reason", "invite"),
    _fw("request_taken", "another fieldworker took the job"),
    _fw("request_not_selected", "staff gave the job to someone else (manual mode)"),
    _fw("request_assigned_elsewhere", "staff assigned the job to someone else"),
    _fw("request_cancelled", "the job was cancelled while the request was open"),
    _fw("request_expired", "the request expired unanswered"),
    _fw("request_rescheduled", "the job moved while the request was open"),
    _fw("on_behalf", "staff answered a request on their behalf", "verb"),
    _fw("assigned_fieldworker", "staff assigned them a job"),
    _fw("job_taken_from_you", "their job was reassigned"),
    _fw("job_unassigned", "they are no longer assigned to a job"),
    _fw("job_rescheduled", "their job moved and is still theirs", "previous"),
    _fw("job_unassigned_rescheduled", "their job moved to a time they are not free"),
    _fw("decline_reason_prompt", "asks why they decline", channels=(TELEGRAM,)),
    _fw("booking_changed", "the address or notes of their job changed", "changed", "summaries"),
    _fw("job_completed", "their job was marked completed"),
    EventSpec(
        "nudge",
        "fieldworker",
        "an unanswered request, once",
        (*_FW, "request_id", "code"),
        CHANNELS,
        {EMAIL: ("accept_url", "decline_url")},
    ),
    _fw("reminder", "their job starts soon"),
    _fw("day_before_confirmation", "asks them to confirm the day before", "code"),
    _fw("attendance_confirmed", "thanks for confirming", channels=(TELEGRAM,)),
    _fw(
        "assist_invite",
        "Reschedule Assist: propose other times",
        "suggested",
        "max_slots",
        channels=(TELEGRAM,),
    ),
    _fw("assist_sent", "Reschedule Assist: their times went to the customer", "options"),
    _fw("assist_chosen", "Reschedule Assist: the customer chose, the job is theirs", "chosen"),
    _fw(
        "assist_chosen_not_free",
        "Reschedule Assist: the customer chose, but they are no longer free",
        "chosen",
    ),
    _fw("assist_expired", "Reschedule Assist: the customer chose none of their times"),
    _cu("customer_assigned", "a fieldworker was assigned", "fieldworker"),
    _cu("customer_fieldworker_changed", "another fieldworker will come", "fieldworker"),
    _cu("customer_fieldworker_cancelled", "the fieldworker dropped out", "fieldworker"),
    _cu("customer_rescheduled", "the appointment moved"),
    _cu("customer_cancelled", "the booking was cancelled"),
    _cu("customer_no_acceptance", "nobody accepted yet (assignment timeout)"),
    _cu("customer_unassigned_soon", "still unassigned close to the start"),
    _cu(
        "reschedule_offer",
        "Reschedule Assist: times the fieldworker proposes (the customer replies 1, 2 or 3)",
        "fieldworker",
        "options",
        "choices",
        channels=(SMS,),
    ),
    _cu(
        "customer_reschedule_chosen",
        "Reschedule Assist: the customer's choice was carried out",
        "fieldworker",
        "assigned",
    ),
    EventSpec(
        "customer_reply_ack",
        "customer",
        "acknowledges a customer's SMS, once per conversation",
        (),
        (SMS,),
    ),
    EventSpec(
        "answer",
        "fieldworker",
        "the answer to a fieldworker's own reply: a pressed button's toast (Telegram, at most "
        "200 characters) or the SMS answering YES / NO / CANCEL / CONFIRM",
        ("outcome",),
        (TELEGRAM, SMS),
    ),
    EventSpec("help", "fieldworker", "how the bot works (/help, HELP)", (), (TELEGRAM, SMS)),
    EventSpec(
        "staff_alert",
        "staff",
        "an alert to staff; `kind` says which: " + ", ".join(STAFF_ALERT_KINDS),
        _STAFF,
        (TELEGRAM,),
    ),
)
EVENTS: dict[str, EventSpec] = {e.name: e for e in _EVENTS}


@dataclass(frozen=True)
class Message:
    """What a message key renders: an event's template on a channel, with fixed values."""

    event: str
    channel: str
    fixed: dict[str, Any] = field(default_factory=dict)


def _messages() -> dict[str, Message]:
    out: dict[str, Message] = {}
    for spec in _EVENTS:
        if spec.name in ("answer", "help"):
            continue  # said at once, in answer: no outbox row names them
        if spec.audience == "fieldworker":
            out[spec.name] = Message(spec.name, TELEGRAM)
            out[f"{spec.name}_sms"] = Message(spec.name, SMS)
            out[f"{spec.name}_email"] = Message(spec.name, EMAIL)
        elif spec.audience == "customer":
            out[f"{spec.name}_sms"] = Message(spec.name, SMS)
            out[f"{spec.name}_email"] = Message(spec.name, EMAIL)
    for kind in STAFF_ALERT_KINDS:
        out[f"staff_{kind}"] = Message("staff_alert", TELEGRAM, {"kind": kind})
    # Keys older than the catalogue, kept: outbox rows and history name them.
    out["job_assigned_to_you"] = Message("assigned_fieldworker", TELEGRAM)
    out["reschedule_offer"] = Message("reschedule_offer", SMS)
    out["reschedule_chosen_sms"] = Message("customer_reschedule_chosen", SMS)
    out["customer_reply_ack"] = Message("customer_reply_ack", SMS)
    return out


MESSAGES: dict[str, Message] = _messages()


def message(key: str) -> Message:
    """The event and channel of a message key (KeyError for an unknown key: a programming error)."""
    return MESSAGES[key]
