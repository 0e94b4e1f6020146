"""What an operator watches on `/metrics`, counted where each thing happens.

The core stays pure: responses and assignments are counted from its events once their transaction
has committed (`count_events`, registered by the outbox renderer), messages and provider failures
by the sender, timer lag by the sweep, and the outbox's depth and oldest age are read from the
database at each scrape (`refresh_outbox_gauges`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from dispatch import events as ev
from models import tables as t
from models.uow import TortoiseUnitOfWork
from models.views import utcnow

#: Seconds: from a few seconds (a quick accept) to days (booked well ahead, assigned late).
_ASSIGN_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400, 259200)
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600)
_WINDOW_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

NOTIFICATIONS_SENT = Counter(
    "dispatch_notifications_sent", "Outbox messages delivered to a provider", ["channel"]
)
NOTIFICATIONS_FAILED = Counter(
    "dispatch_notifications_failed", "Outbox messages given up on", ["channel"]
)
REQUESTS_SENT = Counter(
    "dispatch_job_requests_sent", "Job requests delivered to a provider, by channel", ["channel"]
)
RESPONSES = Counter(
    "dispatch_request_responses",
    "Answers to job requests: accepted, declined (by reason) or no_longer_attending",
    ["response", "reason"],
)
TIME_TO_ASSIGN = Histogram(
    "dispatch_time_to_assign_seconds",
    "From a job's creation to its assignment",
    buckets=_ASSIGN_BUCKETS,
)
OUTBOX_DEPTH = Gauge("dispatch_outbox_depth", "Outbox messages queued, not yet sent or given up")
OUTBOX_OLDEST = Gauge(
    "dispatch_outbox_oldest_age_seconds", "Age of the oldest queued outbox message (0 if none)"
)
PROVIDER_FAILURES = Counter(
    "dispatch_provider_failures",
    "Failed provider calls (each attempt), by provider and kind",
    ["provider", "kind"],
)
UNCONFIRMED_SECONDS = Histogram(
    "dispatch_outbox_unconfirmed_seconds",
    "From an attempt recorded to the provider's id recorded: when a crash can repeat a message",
    ["channel"],
    buckets=_WINDOW_BUCKETS,
)
MID_SEND_RESOLVED = Counter(
    "dispatch_outbox_mid_send_resolved",
    "Rows found mid-send (a crash, a lost answer): proven sent, or sent again",
    ["channel", "outcome"],
)
TIMER_LAG = Histogram(
    "dispatch_timer_lag_seconds", "How late a timer fired: now - due_at", buckets=_LAG_BUCKETS
)

#: The label of a typed decline reason that is none of the configured ones (bounded labels).
OTHER_REASON = "other"


def reason_label(reason: str | None, configured: Iterable[str]) -> str:
    """A reason as a label: one of the configured reasons, `other` for free text, `none`."""
    if not reason:
        return "none"
    return reason if reason in set(configured) else OTHER_REASON


def count_events(
    events: Sequence[ev.Event], configured_reasons: Sequence[str], assigned: dict[int, datetime]
) -> None:
    """Count a committed transaction's responses and assignments.

    `assigned` maps each assigned job to its creation time (read in the transaction).
    """
    for event in events:
        if isinstance(event, ev.RequestAccepted):
            RESPONSES.labels("accepted", "none").inc()
        elif isinstance(event, ev.RequestDeclined):
            response = "no_longer_attending" if event.no_longer_attending else "declined"
            RESPONSES.labels(response, reason_label(event.reason, configured_reasons)).inc()
    now = utcnow()
    for created_at in assigned.values():
        TIME_TO_ASSIGN.observe(max(0.0, (now - created_at).total_seconds()))


async def count_on_commit(uow: TortoiseUnitOfWork) -> None:
    """Count `uow`'s responses and assignments on `/metrics` once its transaction commits."""
    counted = (ev.RequestAccepted, ev.RequestDeclined, ev.JobAssigned)
    events = [e for e in uow.events if isinstance(e, counted)]
    if not events:
        return
    reasons = tuple((await uow.settings()).decline_reasons)
    assigned = await assigned_jobs_created(events)
    uow.after_commit.append(lambda: count_events(events, reasons, assigned))


async def assigned_jobs_created(events: Sequence[ev.Event]) -> dict[int, datetime]:
    """The creation time of each job the events assign (for the time-to-assign histogram)."""
    job_ids = {e.job_id for e in events if isinstance(e, ev.JobAssigned)}
    if not job_ids:
        return {}
    rows: list[Any] = await t.Job.filter(id__in=sorted(job_ids)).values_list("id", "created_at")
    return {int(job_id): created for job_id, created in rows}


async def refresh_outbox_gauges() -> None:
    """Read the outbox's depth and its oldest queued row's age (at each scrape)."""
    queued = t.Notification.filter(status="queued")
    OUTBOX_DEPTH.set(await queued.count())
    oldest: list[Any] = await (
        queued.order_by("created_at").limit(1).values_list("created_at", flat=True)
    )
    age = (utcnow() - oldest[0]).total_seconds() if oldest else 0.0
    OUTBOX_OLDEST.set(max(0.0, age))
