"""The dispatch core under random interleavings of every command (hypothesis, stateful).

Commands: create (auto or manual), accept, decline, pend, assign (also forced, also reassign),
unassign, expire (time passes), no longer attending, re-broadcast, reschedule, cancel, fire due
timers, Reschedule Assist (a fieldworker proposes times, the customer answers). After
each step the invariants a dispatcher relies on must hold:

- a job is assigned or completed exactly when it has a fieldworker (a cancelled one keeps the
  fieldworker who held it, for the record);
- an assigned job has at most one accepted request, and only its assignee's; in `auto` mode a job
  won by an accept keeps that accept;
- nobody who declined a job is asked for it again unless staff asked (pend, send requests);
- history only grows, and replaying it gives every request's status and every job's assignee;
- a job has at most one open reschedule offer, and only while it is open (not assigned, cancelled
  or completed) in an open booking.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dispatch import (
    assignment,
    assist,
    assist_choice,
    bookings,
    offering,
    rescheduling,
    responding,
    timers,
)
from dispatch.commands import Action, AppointmentMove
from dispatch.errors import DispatchError
from dispatch.events import RequestPended, RequestSent
from dispatch.model import (
    OPEN_JOB_STATUSES,
    ActorKind,
    BookingStatus,
    Channel,
    DispatchMode,
    HistoryAction,
    JobStatus,
    RequestStatus,
)
from dispatch.offers import OfferStatus
from dispatch.reachability import ChannelsOn
from tests.unit.fakes import STAFF, FakeUnitOfWork, book, company, fieldworker

#: The phone of every customer `book` creates: each answer reads the newest offer to it.
CUSTOMER_PHONE = "+4915100000000"

FIELDWORKERS = 4
fw_ids = st.integers(min_value=1, max_value=FIELDWORKERS)
picks = st.integers(min_value=0, max_value=10_000)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class Dispatching(RuleBasedStateMachine):
    """One company of four fieldworkers, every command at random."""

    def __init__(self) -> None:
        super().__init__()
        self.uow: FakeUnitOfWork = company(FIELDWORKERS, assignment_timeout_s=600)
        self.uow.channels_on = ChannelsOn(telegram=True, sms=True)  # customers get offers
        self.history_seen: list[Any] = []
        self.declined: set[tuple[int, int]] = set()  # (job, fieldworker) that said no
        self.staff_asking = False

    # -- helpers ---------------------------------------------------------------------------------

    def _job(self, pick: int) -> int | None:
        jobs = sorted(self.uow.jobs)
        return jobs[pick % len(jobs)] if jobs else None

    def _booking(self, pick: int) -> int | None:
        ids = sorted(self.uow.bookings)
        return ids[pick % len(ids)] if ids else None

    async def _quietly(self, coro: Any) -> Any:
        """Run a command; a refusal (DispatchError) is a legal answer that must change nothing."""
        before = (len(self.uow.history), len(self.uow.events))
        try:
            return await coro
        except DispatchError:
            assert (len(self.uow.history), len(self.uow.events)) == before, "a refusal wrote"
            return None

    def _step(self, coro: Any, *, staff_asks: bool = False) -> None:
        start = len(self.uow.events)
        run(self._quietly(coro))
        for event in self.uow.events[start:]:
            if not isinstance(event, RequestSent | RequestPended):
                continue
            asked = (event.job_id, event.fieldworker_id)
            if staff_asks:
                # Staff asked them again: their decline is superseded (if this request then
                # expires, "re-broadcast to everyone incl. expired" may reopen it).
                self.declined.discard(asked)
            else:
                assert asked not in self.declined, (
                    f"fieldworker {event.fieldworker_id} declined job {event.job_id} and was "
                    "asked again without staff asking"
                )
        for h in self.uow.history[len(self.history_seen) :]:
            if h.action is HistoryAction.REQUEST_DECLINED:
                request = self.uow.requests[h.request_id]
                self.declined.add((request.job_id, request.fieldworker_id))

    # -- commands --------------------------------------------------------------------------------

    @rule(manual=st.booleans(), services=st.sampled_from([("plumb",), ("plumb", "paint")]))
    def create(self, manual: bool, services: tuple[str, ...]) -> None:
        mode = DispatchMode.MANUAL if manual else DispatchMode.AUTO
        for code in services:
            if code not in self.uow.services:
                self.uow.add_service(code)
                for fw in self.uow.fieldworkers.values():
                    object.__setattr__(fw, "services", fw.services | {code})
        start = self.uow.now() + timedelta(days=1 + len(self.uow.bookings))
        self._step(book(self.uow, *services, mode=mode, start=start))

    @precondition(lambda self: self.uow.jobs)
    @rule(pick=picks, fw=fw_ids, accept=st.booleans(), by_staff=st.booleans())
    def answer(self, pick: int, fw: int, accept: bool, by_staff: bool) -> None:
        job_id = self._job(pick)
        request = next(
            (r for r in self.uow.requests.values() if (r.job_id, r.fieldworker_id) == (job_id, fw)),
            None,
        )
        if request is None:
            return
        actor = STAFF if by_staff else fieldworker(fw)
        action = Action.ACCEPT if accept else Action.DECLINE
        self._step(
            responding.respond(
                self.uow, request.id, action, actor, Channel.TELEGRAM, reason="Too far"
            )
        )

    @precondition(lambda self: self.uow.requests)
    @rule(pick=picks)
    def pend(self, pick: int) -> None:
        ids = sorted(self.uow.requests)
        request_id = ids[pick % len(ids)]
        self._step(
            responding.respond(self.uow, request_id, Action.PEND, STAFF, Channel.API),
            staff_asks=True,
        )

    @precondition(lambda self: self.uow.jobs)
    @rule(pick=picks, fw=fw_ids)
    def send_requests(self, pick: int, fw: int) -> None:
        job_id = self._job(pick)
        self._step(
            offering.send_requests(self.uow, [job_id], [fw], STAFF, Channel.API),
            staff_asks=True,
        )

    @precondition(lambda self: self.uow.jobs)
    @rule(pick=picks, fw=fw_ids, force=st.booleans())
    def assign(self, pick: int, fw: int, force: bool) -> None:
        job_id = self._job(pick)
        self._step(assignment.assign(self.uow, job_id, fw, STAFF, Channel.API, force=force))

    @precondition(lambda self: self.uow.jobs)
    @rule(pick=picks, rebroadcast=st.booleans())
    def unassign(self, pick: int, rebroadcast: bool) -> None:
        job_id = self._job(pick)
        self._step(
            assignment.unassign(
                self.uow, job_id, STAFF, Channel.API, reason="sick", rebroadcast=rebroadcast
            )
        )

    @precondition(lambda self: self.uow.jobs)
    @rule(pick=picks)
    def no_longer_attending(self, pick: int) -> None:
        job_id = self._job(pick)
        holder = self.uow.jobs[job_id].fieldworker_id
        if holder is None:
            return
        self._step(
            responding.no_longer_attending(
                self.uow, job_id, holder, fieldworker(holder), Channel.TELEGRAM, reason="Personal"
            )
        )

    @rule(minutes=st.integers(min_value=1, max_value=30))
    def time_passes(self, minutes: int) -> None:
        self.uow.clock.advance(minutes=minutes)
        for request_id in self.uow.due_requests():
            self._step(offering.expire_request(self.uow, request_id))
        self._step(timers.fire_due(self.uow))

    @precondition(lambda self: self.uow.bookings)
    @rule(pick=picks, include_expired=st.booleans())
    def rebroadcast(self, pick: int, include_expired: bool) -> None:
        booking_id = self._booking(pick)
        self._step(
            offering.rebroadcast(
                self.uow, booking_id, STAFF, Channel.API, include_expired=include_expired
            )
        )

    @precondition(lambda self: self.uow.bookings)
    @rule(pick=picks, hours=st.sampled_from([0, 1, 24, 25]), ask_decliners=st.booleans())
    def reschedule(self, pick: int, hours: int, ask_decliners: bool) -> None:
        # A day later overlaps the next booking: an assigned fieldworker may clash and lose a job.
        booking_id = self._booking(pick)
        first = next(j for j in self.uow.jobs.values() if j.booking_id == booking_id)
        start = first.appointment.start + timedelta(hours=hours)
        move = AppointmentMove(None, start, start + timedelta(hours=2))
        self._step(
            rescheduling.reschedule(
                self.uow, booking_id, [move], STAFF, Channel.API, ask_decliners=ask_decliners
            ),
            staff_asks=ask_decliners,
        )

    @precondition(lambda self: self.uow.bookings)
    @rule(pick=picks)
    def cancel(self, pick: int) -> None:
        booking_id = self._booking(pick)
        self._step(bookings.cancel_booking(self.uow, booking_id, STAFF, Channel.API))

    @precondition(lambda self: self.declined)
    @rule(
        pick=picks,
        days=st.lists(st.integers(min_value=-2, max_value=9), min_size=1, max_size=4),
    )
    def propose(self, pick: int, days: list[int]) -> None:
        # One who declined proposes; refused when the job moved on, a time is past, too many...:
        # a refusal changes nothing.
        job_id, fw = sorted(self.declined)[pick % len(self.declined)]
        start = self.uow.jobs[job_id].appointment.start
        starts = [start + timedelta(days=d, hours=3) for d in days]
        self._step(assist.propose(self.uow, job_id, fw, starts, fieldworker(fw), Channel.SMS))

    @precondition(lambda self: self.uow.offers)
    @rule(number=st.one_of(st.none(), st.integers(min_value=0, max_value=4), st.just(1)))
    def customer_answers(self, number: int | None) -> None:
        self._step(assist_choice.choose(self.uow, CUSTOMER_PHONE, number))

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def a_job_has_a_fieldworker_exactly_when_it_is_held(self) -> None:
        for job in self.uow.jobs.values():
            if job.status is JobStatus.CANCELLED:
                continue  # keeps who held it when it was cancelled, for the record
            held = job.status in (JobStatus.ASSIGNED, JobStatus.COMPLETED)
            assert held == (job.fieldworker_id is not None), (job.id, job.status)

    @invariant()
    def an_assigned_job_has_at_most_its_assignees_accept(self) -> None:
        for job in self.uow.jobs.values():
            accepted = [
                r
                for r in self.uow.requests.values()
                if r.job_id == job.id and r.status is RequestStatus.ACCEPTED
            ]
            booking = self.uow.bookings[job.booking_id]
            if job.status is JobStatus.ASSIGNED:
                assert len(accepted) <= 1, f"job {job.id} has {len(accepted)} accepted requests"
                assert all(r.fieldworker_id == job.fieldworker_id for r in accepted), job.id
                won_by_accept = [
                    h
                    for h in self.uow.history
                    if h.job_id == job.id
                    and h.action in (HistoryAction.JOB_ASSIGNED, HistoryAction.JOB_REASSIGNED)
                ]
                last = won_by_accept[-1] if won_by_accept else None
                if (
                    booking.new.dispatch_mode is DispatchMode.AUTO
                    and last is not None
                    and last.actor.kind is ActorKind.FIELDWORKER
                ):
                    assert len(accepted) == 1, f"auto job {job.id} won by an accept lost it"
            elif booking.new.dispatch_mode is DispatchMode.AUTO:
                assert not accepted or job.status is JobStatus.COMPLETED, (
                    f"open auto job {job.id} ({job.status}) has an accepted request"
                )

    @invariant()
    def an_open_offer_is_for_an_open_job_and_alone(self) -> None:
        open_offers = [o for o in self.uow.offers.values() if o.status is OfferStatus.OPEN]
        jobs = [o.job_id for o in open_offers]
        assert len(jobs) == len(set(jobs)), f"several open offers for one job: {jobs}"
        for offer in open_offers:
            job = self.uow.jobs[offer.job_id]
            assert job.status in OPEN_JOB_STATUSES, f"open offer {offer.id} for a {job.status} job"
            assert self.uow.bookings[job.booking_id].status is BookingStatus.OPEN

    @invariant()
    def history_only_grows(self) -> None:
        now = list(self.uow.history)
        assert now[: len(self.history_seen)] == self.history_seen
        self.history_seen = now

    def _replay(self) -> tuple[dict[int, str], dict[int, int | None]]:
        """Each request's status and each job's assignee, from the history alone."""
        request_status: dict[int, str] = {}
        assignee: dict[int, int | None] = {}
        for h in self.uow.history:
            if h.request_id is not None and h.action.value.startswith("request_"):
                request_status[h.request_id] = h.to_status
            if h.job_id is None:
                continue
            if h.action in (HistoryAction.JOB_ASSIGNED, HistoryAction.JOB_REASSIGNED):
                assignee[h.job_id] = h.details["fieldworker_id"]
            elif h.action in (HistoryAction.JOB_UNASSIGNED, HistoryAction.JOB_MISSED):
                assignee[h.job_id] = None
        return request_status, assignee

    @invariant()
    def history_replays_to_the_current_requests_and_assignees(self) -> None:
        request_status, assignee = self._replay()
        for request in self.uow.requests.values():
            assert request_status.get(request.id) == request.status.value, (
                f"request {request.id} is {request.status} but history says "
                f"{request_status.get(request.id)}"
            )
        for job in self.uow.jobs.values():
            if job.status is JobStatus.ASSIGNED:
                assert assignee.get(job.id) == job.fieldworker_id, (job.id, assignee.get(job.id))
        for booking in self.uow.bookings.values():
            if booking.status is BookingStatus.CANCELLED:
                assert HistoryAction.BOOKING_CANCELLED in [
                    h.action for h in self.uow.history if h.booking_id == booking.id
                ]


Dispatching.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDispatching = Dispatching.TestCase
