"""Short English for the codes the core returns: outcomes, exclusion reasons, skip reasons."""

from __future__ import annotations

from collections.abc import Iterable

from dispatch.commands import NotSent, Outcome
from dispatch.model import Excluded, ExclusionReason
from models import tables as t

STAFF_ONLY = "This command is for staff."

OUTCOME_WORDS: dict[Outcome, str] = {
    Outcome.ASSIGNED: "accepted, the job is theirs",
    Outcome.ACCEPTED: "accepted, waiting for staff to confirm (/assign)",
    Outcome.ALREADY_ACCEPTED: "already accepted",
    Outcome.TAKEN: "too late, the job belongs to someone else",
    Outcome.CLOSED: "the request is no longer open",
    Outcome.JOB_CLOSED: "the job is cancelled or completed",
    Outcome.REASON_REQUIRED: "a reason is required",
    Outcome.DECLINED: "declined",
    Outcome.PENDED: "pending again, asked again",
    Outcome.NOT_FOUND: "the request no longer exists",
}

REASON_WORDS: dict[ExclusionReason, str] = {
    ExclusionReason.OUTSIDE_RADIUS: "outside travel radius",
    ExclusionReason.OUTSIDE_TERRITORY: "outside territory",
    ExclusionReason.MISSING_SERVICE: "does not do this service",
    ExclusionReason.MISSING_SKILL: "missing skill",
    ExclusionReason.CUSTOM_FIELD_MISMATCH: "requirements not met",
    ExclusionReason.OUTSIDE_WORKING_HOURS: "outside working hours",
    ExclusionReason.TIME_OFF: "time off",
    ExclusionReason.SCHEDULE_CONFLICT: "busy with another job",
    ExclusionReason.INACTIVE: "inactive",
    ExclusionReason.RESTRICTED: "restricted",
}

SKIP_WORDS: dict[str, str] = {
    "unreachable": "cannot be reached (no linked Telegram chat or SMS)",
    "not_eligible": "not eligible",
    "already_pending": "already has a pending request",
    "already_accepted": "already accepted",
}


def outcome_words(outcome: Outcome) -> str:
    """A few words saying how an on-behalf response ended."""
    return OUTCOME_WORDS.get(outcome, outcome.value.replace("_", " "))


def reason_words(reasons: Iterable[ExclusionReason]) -> str:
    """Exclusion reasons as a comma-separated phrase."""
    return ", ".join(REASON_WORDS.get(r, r.value) for r in reasons)


def excluded_words(excluded: Excluded) -> str:
    """Why one fieldworker is excluded, with the distance when it matters."""
    text = reason_words(excluded.reasons)
    if ExclusionReason.OUTSIDE_RADIUS in excluded.reasons and excluded.distance_km is not None:
        text += f" ({excluded.distance_km:.1f} km)"
    return text


def skip_words(code: str) -> str:
    """Why `send_requests` did not ask a fieldworker."""
    return SKIP_WORDS.get(code, code.replace("_", " "))


def not_sent_words(not_sent: Iterable[NotSent]) -> list[tuple[int, str]]:
    """`(fieldworker id, "jobs 4, 5: why")`: one line per fieldworker and reason, in order."""
    groups: dict[tuple[int, str], list[int]] = {}
    for n in not_sent:
        why = skip_words(n.reason)
        if n.exclusions:
            why += f" ({reason_words(n.exclusions)})"
        groups.setdefault((n.fieldworker_id, why), []).append(n.job_id)
    return [
        (fw_id, ("job " if len(jobs) == 1 else "jobs ") + ", ".join(map(str, jobs)) + f": {why}")
        for (fw_id, why), jobs in groups.items()
    ]


def fieldworker_label(fw: t.Fieldworker | None, fieldworker_id: int | None = None) -> str:
    """`Ann Smith (#7)`, or `#7` when the row is gone."""
    if fw is None:
        return f"#{fieldworker_id}" if fieldworker_id is not None else "nobody"
    return f"{fw.name} (#{fw.id})"
