"""Reschedule Assist (CONTRACT §5): a fieldworker who cannot come proposes other times.

After a fieldworker declines a job, or drops out of it ("No longer attending"), they may propose up
to `reschedule_assist.max_slots` other times for the same job (`invite`, `propose`): suggested from
their free working hours (`suggest_slots`, pure) or typed. The customer gets one SMS listing them; a
newer offer for the job supersedes the older one, and giving the job to someone withdraws it
(`withdraw_offers`). An offer expires after `offer_expires_s`. What the customer's answer does is
`dispatch.assist_choice`.

The adapters parse words (which job, which times); these rules decide.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dispatch.deadlines import TimerKind
from dispatch.eligibility import evaluate
from dispatch.errors import Conflict, DispatchError, Forbidden, Invalid, NotFound
from dispatch.events import (
    ProposalInvited,
    RescheduleProposed,
)
from dispatch.model import (
    OPEN_JOB_STATUSES,
    Actor,
    ActorKind,
    BookingStatus,
    Channel,
    ExclusionReason,
    FieldworkerProfile,
    HistoryAction,
    Interval,
    JobSpec,
    Point,
    RequestStatus,
)
from dispatch.offers import OfferStatus, OfferView
from dispatch.ports import BookingView, JobView, UnitOfWork
from dispatch.steps import load_job

#: Suggestions come from the fieldworker's free time over this many days from now.
SUGGEST_DAYS = 7
#: Suggested times start on this grid of their local clock (10:00, 10:30, ...).
SLOT_STEP = timedelta(minutes=30)
#: A suggestion starts at least this long from now: the customer needs time to answer.
MIN_LEAD = timedelta(hours=1)
#: With no working hours (always available), suggestions fall in this local day.
DEFAULT_DAY = (time(8, 0), time(18, 0))
#: A proposed time may be at most this far ahead.
MAX_AHEAD = timedelta(days=365)
#: The exclusion reasons that depend on the time alone: what a proposed time must be free of.
TIME_REASONS = frozenset(
    {
        ExclusionReason.OUTSIDE_WORKING_HOURS,
        ExclusionReason.TIME_OFF,
        ExclusionReason.SCHEDULE_CONFLICT,
    }
)
#: Who answers an offer: the booking's customer, by SMS.
CUSTOMER = Actor(ActorKind.SYSTEM, None, "customer")


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def time_reasons(profile: FieldworkerProfile, slot: Interval) -> tuple[ExclusionReason, ...]:
    """Why the fieldworker is not free at `slot` (working hours, time off, their other jobs):
    the eligibility rules themselves, read for the time alone."""
    return _time_reasons(_probe(profile), slot)


def _probe(profile: FieldworkerProfile) -> FieldworkerProfile:
    # Where they are plays no part in when they are free (and a territory is costly to read).
    return replace(profile, base_location=None, territories=None)


def _time_reasons(probe: FieldworkerProfile, slot: Interval) -> tuple[ExclusionReason, ...]:
    spec = JobSpec(job_id=0, service_code="", location=Point(0.0, 0.0), appointment=slot)
    result = evaluate(spec, [probe], travel_radius_km=1.0)
    return tuple(r for e in result.excluded for r in e.reasons if r in TIME_REASONS)


def _day_starts(day: date, zone: tzinfo, duration: timedelta, anytime: bool) -> list[datetime]:
    """Every start on the local grid of `day` (a slot within `DEFAULT_DAY` when `anytime`), UTC."""
    moment = datetime.combine(day, DEFAULT_DAY[0] if anytime else time(0, 0))
    until = datetime.combine(day, DEFAULT_DAY[1]) - duration if anytime else moment + timedelta(1)
    starts: set[datetime] = set()
    while moment < until or (anytime and moment == until):
        # A wall time a DST change skips or repeats resolves once (fold 0); duplicates merge.
        starts.add(moment.replace(tzinfo=zone).astimezone(UTC))
        moment += SLOT_STEP
    return sorted(starts)


def suggest_slots(
    profile: FieldworkerProfile,
    duration: timedelta,
    now: datetime,
    *,
    count: int,
    avoid: Sequence[Interval] = (),
    days: int = SUGGEST_DAYS,
) -> list[Interval]:
    """Up to `count` times the fieldworker is free for an appointment of `duration`, soonest first.

    From their working hours over the next `days` days in their own time zone (with none: any day
    between `DEFAULT_DAY`), starting on the `SLOT_STEP` grid at least `MIN_LEAD` from now, never
    overlapping their time off, their assigned jobs (`profile.busy`) or `avoid` (the time they
    could not make). One per day preferably: the earliest free time of each day first, then more
    of the same days when there are not enough days.
    """
    zone = _zone(profile.timezone)
    earliest, horizon = now + MIN_LEAD, now + timedelta(days=days)
    probe, blocked = _probe(profile), (*avoid, *profile.busy, *profile.time_off)

    def free_times(day: date) -> Iterator[Interval]:
        """The day's free times, soonest first, found one at a time: most days are never read
        past their first one (the eligibility rules cost about 0.1 ms a time)."""
        for start in _day_starts(day, zone, duration, profile.working_hours is None):
            slot = Interval(start, start + duration)
            if start < earliest or start > horizon or any(slot.overlaps(b) for b in blocked):
                continue
            if not _time_reasons(probe, slot):
                yield slot

    first, last = earliest.astimezone(zone).date(), horizon.astimezone(zone).date()
    days_left = [free_times(first + timedelta(days=i)) for i in range((last - first).days + 1)]
    picked: list[Interval] = []
    while days_left and len(picked) < count:  # each round: one more time from each day
        with_more = []
        for times in days_left:
            slot = next((t for t in times if not any(t.overlaps(p) for p in picked)), None)
            if slot is not None:
                picked.append(slot)
                with_more.append(times)
                if len(picked) == count:
                    break
        days_left = with_more
    return sorted(picked, key=lambda s: s.start)


@dataclass(frozen=True)
class _Proposal:
    """What a proposal for one job rests on, checked."""

    job: JobView
    booking: BookingView
    phone: str
    max_slots: int


async def _check(uow: UnitOfWork, job_id: int, fieldworker_id: int, *, lock: bool) -> _Proposal:
    """May this fieldworker propose other times for this job now? Refusals have stable codes:
    `assist_off`, `job_not_found`, `booking_not_open`, `job_not_open`, `not_yours`,
    `customer_unreachable`."""
    settings = await uow.settings()
    if not settings.reschedule_assist.enabled:
        raise Conflict("assist_off", "Proposing other times is switched off.")
    job, booking = await load_job(uow, job_id, lock=lock)
    if booking.status is not BookingStatus.OPEN:
        raise Conflict("booking_not_open", f"Booking {booking.id} is {booking.status.value}.")
    if job.status not in OPEN_JOB_STATUSES:
        raise Conflict("job_not_open", f"Job {job_id} is {job.status.value}.")
    mine = await uow.find_request(job_id, fieldworker_id)
    declined = mine is not None and mine.status is RequestStatus.DECLINED
    if not declined and not await uow.dropped_out(job.booking_id, job_id, fieldworker_id):
        raise Forbidden(
            "not_yours", "You can only propose times for a job you declined or cannot attend."
        )
    phone = await uow.customer_phone(job.booking_id)
    if phone is None or not uow.channels_on.sms:
        raise Conflict("customer_unreachable", "The customer cannot be reached by SMS.")
    return _Proposal(job, booking, phone, settings.reschedule_assist.max_slots)


async def fieldworker_schedule(
    uow: UnitOfWork, fieldworker_id: int, job: JobView, window: Interval
) -> FieldworkerProfile:
    """The fieldworker's profile with their other jobs in `window` (not those of the job's own
    appointment, which move with it) as `busy`."""
    profile = await uow.fieldworker_schedule(
        fieldworker_id, window, except_appointment_id=job.appointment_id
    )
    if profile is None:
        raise NotFound("fieldworker_not_found", f"fieldworker {fieldworker_id} does not exist")
    return profile


async def _suggest(uow: UnitOfWork, p: _Proposal, fieldworker_id: int) -> list[Interval]:
    now = uow.now()
    window = Interval(now, now + timedelta(days=SUGGEST_DAYS + 1))
    profile = await fieldworker_schedule(uow, fieldworker_id, p.job, window)
    duration = p.job.appointment.end - p.job.appointment.start
    return suggest_slots(profile, duration, now, count=p.max_slots, avoid=(p.job.appointment,))


async def suggestions(uow: UnitOfWork, job_id: int, fieldworker_id: int) -> list[Interval]:
    """Times this fieldworker could propose for the job (refused like `propose` when they may not
    propose; possibly none, when they are booked up: they can still type times)."""
    return await _suggest(
        uow, await _check(uow, job_id, fieldworker_id, lock=False), fieldworker_id
    )


async def may_propose(uow: UnitOfWork, job_id: int, fieldworker_id: int) -> bool:
    """True when the fieldworker may propose other times for the job now."""
    try:
        await _check(uow, job_id, fieldworker_id, lock=False)
    except DispatchError:
        return False
    return True


async def invite(
    uow: UnitOfWork,
    job_id: int,
    fieldworker_id: int,
    actor: Actor,
    request_id: int | None,
    *,
    reason: str | None,
    dropped: bool = False,
) -> bool:
    """After a fieldworker's own decline or dropout: offer them to propose other times (with
    suggestions) when they may. A decline on their behalf invites nobody. True when invited."""
    if actor.kind is not ActorKind.FIELDWORKER or actor.id != fieldworker_id:
        return False
    try:
        proposal = await _check(uow, job_id, fieldworker_id, lock=False)
    except DispatchError:
        return False
    suggested = await _suggest(uow, proposal, fieldworker_id)
    uow.emit(
        ProposalInvited(
            proposal.job.booking_id,
            job_id,
            fieldworker_id,
            request_id,
            tuple(suggested),
            reason,
            dropped,
        )
    )
    return True


def _slots(starts: Sequence[datetime], p: _Proposal, now: datetime) -> list[Interval]:
    """The proposed starts as appointments of the job's length, checked; refusals name the slot
    (`field` `slots.<i>`, from 0, in the order given)."""
    if not starts:
        raise Invalid("no_slots", "Propose at least one time.", field="slots")
    if len(set(starts)) > p.max_slots:
        raise Invalid("too_many_slots", f"Propose at most {p.max_slots} times.", field="slots")
    duration = p.job.appointment.end - p.job.appointment.start
    slots: list[Interval] = []
    for i, start in enumerate(starts):
        where = f"slots.{i}"
        if start.utcoffset() is None:
            raise Invalid("slot_without_offset", "A time needs its time zone.", field=where)
        slot = Interval(start.astimezone(UTC), start.astimezone(UTC) + duration)
        if slot.start <= now:
            raise Invalid("slot_in_past", f"{start.isoformat()} is in the past.", field=where)
        if slot.start > now + MAX_AHEAD:
            raise Invalid("slot_too_far", f"{start.isoformat()} is too far ahead.", field=where)
        if slot.start == p.job.appointment.start:
            raise Invalid("slot_unchanged", "That is the booked time.", field=where)
        if slot not in slots:
            slots.append(slot)
    return sorted(slots, key=lambda s: s.start)


async def propose(
    uow: UnitOfWork,
    job_id: int,
    fieldworker_id: int,
    starts: Sequence[datetime],
    actor: Actor,
    channel: Channel,
) -> OfferView:
    """The fieldworker proposes these start times for the job: the customer is offered them.

    Each time keeps the appointment's length and must be in the future and free in the
    fieldworker's schedule (`slot_outside_working_hours`, `slot_time_off`,
    `slot_schedule_conflict`), besides the refusals of `_check` and `_slots`. An open offer for
    the job is superseded (the customer's later answer is read against this one). The offer
    expires after `offer_expires_s` (0: when its last time begins).
    """
    p = await _check(uow, job_id, fieldworker_id, lock=True)
    now = uow.now()
    slots = _slots(starts, p, now)
    profile = await fieldworker_schedule(
        uow, fieldworker_id, p.job, Interval(slots[0].start, slots[-1].end)
    )
    given = [s.astimezone(UTC) for s in starts]
    for slot in slots:
        reasons = time_reasons(profile, slot)
        if reasons:
            raise Invalid(
                f"slot_{reasons[0].value}",
                f"You are not free at {slot.start.isoformat()} ({reasons[0].value}).",
                field=f"slots.{given.index(slot.start)}",
            )
    for older in await uow.open_offers_of_job(job_id):
        await uow.close_offer(older.id, OfferStatus.SUPERSEDED)
    settings = await uow.settings()
    expires_after = settings.reschedule_assist.offer_expires_s
    expires_at = slots[-1].start
    if expires_after:
        expires_at = min(expires_at, now + timedelta(seconds=expires_after))
    offer = await uow.create_offer(
        p.job.booking_id, job_id, fieldworker_id, slots, p.phone, expires_at
    )
    await uow.arm_timer(TimerKind.OFFER_EXPIRY, offer.id, p.job.booking_id, now, expires_at)
    await uow.add_history(
        p.job.booking_id,
        HistoryAction.RESCHEDULE_PROPOSED,
        actor,
        job_id=job_id,
        channel=channel,
        details={
            "fieldworker_id": fieldworker_id,
            "offer_id": offer.id,
            "slots": [{"start": s.start.isoformat(), "end": s.end.isoformat()} for s in slots],
            "expires_at": expires_at.isoformat(),
        },
    )
    uow.emit(
        RescheduleProposed(
            p.job.booking_id, offer.id, job_id, fieldworker_id, tuple(slots), channel
        )
    )
    return offer


async def job_meant_by_propose(
    uow: UnitOfWork, fieldworker_id: int, reply_code: int | None, remembered_job_id: int | None
) -> int:
    """The job a `PROPOSE` reply means: by the code of the request they declined, else the job the
    chat remembers (their last decline or dropout), else their only declined request's open job.
    Refusals: `no_such_code`, `nothing_to_propose`, `several_declined`."""
    declined = await uow.requests_of_fieldworker(fieldworker_id, [RequestStatus.DECLINED])
    if reply_code is not None:
        for request in reversed(declined):
            if request.reply_code == reply_code:
                return request.job_id
        raise NotFound("no_such_code", f"None of the jobs you declined has the code {reply_code}.")
    if remembered_job_id is not None:
        return remembered_job_id
    open_jobs = []
    for request in declined:
        job = await uow.get_job(request.job_id)
        if job is not None and job.status in OPEN_JOB_STATUSES:
            open_jobs.append(job.id)
    if len(open_jobs) == 1:
        return open_jobs[0]
    if not open_jobs:
        raise NotFound("nothing_to_propose", "You have no declined job to propose times for.")
    raise Conflict("several_declined", "You declined several jobs: add the job's code.")


async def withdraw_offers(uow: UnitOfWork, job_id: int) -> None:
    """The job was given to a fieldworker: its open offers are withdrawn."""
    for offer in await uow.open_offers_of_job(job_id):
        await uow.close_offer(offer.id, OfferStatus.WITHDRAWN)
