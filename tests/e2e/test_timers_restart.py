"""Timers survive SIGKILL: `dispatchbot run` killed before its deadlines, or in the middle of the
sweep that fires them, and started again once they have passed. Each customer SMS and staff alert
arrives exactly once (counted at the emulators), nothing is lost, and a deadline whose appointment
started while the service was down is dropped."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from emulators import TelegramEmulator, TwilioEmulator, running
from tests.e2e.conftest import ADMIN_ID, AUTH, SID, Service, run_process
from tests.e2e.test_core_loop import seed
from tests.e2e.test_timers import (
    NOT_CONFIRMED,
    STILL_FINDING,
    alert_of,
    book_at,
    customer,
    history_actions,
    put_settings,
    sms_with,
    start_in,
)

#: SWEEP_INTERVAL_S of the services here (the default is 5): a duplicate would come from a later
#: sweep, so the tests wait a sweep or two for one; a shorter interval makes that wait shorter.
SWEEP_S = 1


class Emulators:
    """The Bot API and Twilio emulators, shared by every run of the service in a test."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.tmp_path, self.database_url = tmp_path, database_url
        self.tg = TelegramEmulator()
        self.sms = TwilioEmulator(account_sid=SID, auth_token=AUTH)
        self.urls: tuple[str, str] = ("", "")

    def run(self, name: str) -> AsyncGenerator[Service, None]:
        """One run of `dispatchbot run` against these emulators (checked at its SIGTERM)."""
        return run_process(
            self.tmp_path,
            self.database_url,
            self.tg,
            self.sms,
            *self.urls,
            name=name,
            SWEEP_INTERVAL_S=str(SWEEP_S),
        )

    async def start(self, name: str) -> tuple[Service, AsyncGenerator[Service, None]]:
        """A run to be killed: the service and the generator to close after the kill."""
        runs = self.run(name)
        return await anext(runs), runs


async def sigkill(s: Service, runs: AsyncGenerator[Service, None]) -> None:
    """SIGKILL the process: no clean-up of any kind runs in it."""
    s.proc.send_signal(signal.SIGKILL)
    assert await asyncio.to_thread(s.proc.wait) == -signal.SIGKILL
    await runs.aclose()  # skips the clean-exit checks, closes the log and the HTTP session


async def wait_recorded(s: Service, booking_id: int, template: str) -> None:
    """Until the booking's outbox rows of `template` are recorded as sent (or delivered)."""
    rows: list[dict[str, Any]] = []
    for _ in range(200):
        status, found = await s.api("GET", f"/notifications?booking_id={booking_id}")
        rows = [r for r in found if r["message_key"] == template] if status == 200 else []
        if rows and all(r["status"] in ("sent", "delivered") for r in rows):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"booking {booking_id}'s {template} was not recorded as sent: {rows}")


async def sleep_until(when: datetime) -> None:
    """Sleep until a wall-clock moment."""
    await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))


def counts(sms: TwilioEmulator, n: int, text: str) -> list[int]:
    """How many SMS holding `text` each of customers 1..n got."""
    return [sum(text in m["body"] for m in sms.messages_to(customer(i))) for i in range(1, n + 1)]


async def test_killed_right_after_booking_each_follow_up_comes_once_after_restart(
    tmp_path: Path, database_url: str
) -> None:
    lead = 20
    em = Emulators(tmp_path, database_url)
    async with running(em.tg.app) as tg_url, running(em.sms.app) as sms_url:
        em.urls = (tg_url, sms_url)
        a, runs = await em.start("a")
        await seed(a)
        await put_settings(
            a, customer_notify={"no_acceptance_after_s": 6}, unassigned_alert_lead_s=lead
        )
        regular = [int((await book_at(a, i, start_in(lead + 7)))["id"]) for i in (1, 2, 3)]
        # Booking 4 starts in 8 s: its alert is due at once (less than `lead` ahead), and it has
        # started by the time the service is back, so its "still looking" SMS must not go.
        late_start = start_in(8)
        late = int((await book_at(a, 4, late_start))["id"])
        await em.tg.wait_for(lambda calls: bool(alert_of(calls, late)))
        await em.sms.wait_for(lambda _: bool(sms_with(a, customer(4), NOT_CONFIRMED)))
        assert not [m for m in em.sms.messages if STILL_FINDING in m["body"]], (
            "the machine was too slow: a deadline passed before the kill"
        )
        # The alert's send is recorded before the kill: a kill between Telegram's answer and
        # that record may repeat a message (README "What a crash can repeat"), which is not
        # what this test is about: each deadline fires once.
        await wait_recorded(a, late, "staff_unassigned_soon")
        await sigkill(a, runs)

        # Down until every deadline has passed and booking 4 has started.
        await sleep_until(late_start)
        await asyncio.sleep(1)
        async for b in em.run("b"):
            await em.sms.wait_for(lambda _: all(counts(em.sms, 3, STILL_FINDING)), timeout=15)
            await em.sms.wait_for(lambda _: all(counts(em.sms, 3, NOT_CONFIRMED)))
            await em.tg.wait_for(lambda calls: all(alert_of(calls, bid) for bid in regular))
            await asyncio.sleep(SWEEP_S + 1)  # a sweep or two: time for any duplicate

            assert counts(em.sms, 3, STILL_FINDING) == [1, 1, 1]
            assert counts(em.sms, 3, NOT_CONFIRMED) == [1, 1, 1]
            assert [len(alert_of(em.tg.calls, bid)) for bid in regular] == [1, 1, 1]
            # Booking 4: alerted once before the kill; its "still looking" deadline came while
            # the service was down and after the start: dropped, not sent late.
            assert len(alert_of(em.tg.calls, late)) == 1
            assert [m["body"] for m in em.sms.messages_to(customer(4))] == [
                m["body"] for m in sms_with(b, customer(4), NOT_CONFIRMED)
            ]
            assert len(em.sms.messages_to(customer(4))) == 1
            assert (await history_actions(b, late)).count("customer_notified") == 1


async def test_killed_during_the_sweep_that_fires_many_timers_nothing_twice_nothing_lost(
    tmp_path: Path, database_url: str
) -> None:
    n, lead = 16, 30
    em = Emulators(tmp_path, database_url)
    async with running(em.tg.app) as tg_url, running(em.sms.app) as sms_url:
        em.urls = (tg_url, sms_url)
        a, runs = await em.start("a")
        await seed(a)
        await put_settings(
            a, customer_notify={"no_acceptance_after_s": 12}, unassigned_alert_lead_s=lead
        )
        start = start_in(lead + 13)  # every alert is due at once, 13 s from now
        bids = [int((await book_at(a, i, start))["id"]) for i in range(1, n + 1)]
        all_due = max(start - timedelta(seconds=lead), start_in(12)) + timedelta(seconds=0.5)
        assert not em.sms.messages, "the machine was too slow: a deadline passed before the kill"
        await sigkill(a, runs)

        # Back after every deadline: the start-up sweep has 2n timers to fire. Killed again as
        # soon as the first of their SMS arrives, i.e. in the middle of that sweep.
        await sleep_until(all_due)
        b, runs = await em.start("b")
        await em.sms.wait_for(lambda messages: bool(messages), timeout=15)
        await sigkill(b, runs)
        killed_at = datetime.now(UTC)

        async for c in em.run("c"):
            await em.sms.wait_for(lambda messages: len(messages) >= 2 * n - 3, timeout=20)
            # The owner's n alerts share one chat: Telegram's one message a second per chat.
            await em.tg.wait_for(
                lambda calls: sum(bool(alert_of(calls, bid)) for bid in bids) >= n - 3,
                timeout=n + 20,
            )
            await every_follow_up_recorded(c, bids, timeout=20)
            await asyncio.sleep(SWEEP_S + 1)  # a sweep or two: time for any duplicate
            await check_each_once(c, bids, killed_at)


def follow_ups(notes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A booking's outbox rows of its three follow-ups, by template (the owner's alert only)."""
    return {
        n["message_key"]: n
        for n in notes
        if n["message_key"] in ("customer_no_acceptance_sms", "customer_unassigned_soon_sms")
        or (n["message_key"] == "staff_unassigned_soon" and n["recipient"] == str(ADMIN_ID))
    }


async def every_follow_up_recorded(s: Service, bids: list[int], timeout: float) -> None:  # noqa: ASYNC109
    """Wait until each booking's three follow-ups are in the outbox (sent or not)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    waiting = list(bids)
    while waiting:
        status, notes = await s.api("GET", f"/notifications?booking_id={waiting[0]}")
        if status == 200 and len(follow_ups(notes)) == 3:
            waiting.pop(0)
            continue
        assert loop.time() < deadline, f"booking {waiting[0]}: follow-ups missing: {notes}"
        await asyncio.sleep(0.1)


async def check_each_once(s: Service, bids: list[int], killed_at: datetime) -> None:
    """Every timer acted once (one message of each kind per booking in the outbox, once in the
    history), nobody got a message twice, and every message arrived but those whose provider call
    was under way when the process was killed: their rows stay claimed by the dead process until
    the sender's lease ends (60 s, longer than this test), then go (README, Timers)."""
    under_way = []
    fired = [0, 0]  # follow-ups recorded before and after the kill
    for i, bid in enumerate(bids, 1):
        status, notes = await s.api("GET", f"/notifications?booking_id={bid}")
        assert status == 200, notes
        mine = follow_ups(notes)
        assert len(mine) == 3 and len(notes) == len({n["id"] for n in notes}), notes
        kinds = [n["message_key"] for n in notes]
        assert all(kinds.count(k) == 1 for k in mine), kinds
        got = {
            "customer_no_acceptance_sms": len(sms_with(s, customer(i), STILL_FINDING)),
            "customer_unassigned_soon_sms": len(sms_with(s, customer(i), NOT_CONFIRMED)),
            "staff_unassigned_soon": len(alert_of(s.tg.calls, bid)),
        }
        for template, row in mine.items():
            assert got[template] <= 1, (bid, template, "sent twice")
            if row["status"] != "sent":
                # Killed before or inside its provider call: at most that one attempt is
                # recorded (h-outbox records an attempt before the call).
                assert row["status"] == "queued" and row["attempts"] <= 1, row
                under_way.append((bid, template))
            else:
                assert got[template] == 1, (bid, template, "recorded sent but never arrived")
        status, history = await s.api("GET", f"/bookings/{bid}/history")
        actions = [h["action"] for h in history]
        assert actions.count("customer_notified") == 2, (bid, actions)
        assert actions.count("unassigned_alerted") == 1, (bid, actions)
        for h in history:
            if h["action"] in ("customer_notified", "unassigned_alerted"):
                fired[datetime.fromisoformat(h["at"]) > killed_at] += 1
    # The provider calls under way at the kill: at most one per recipient being served then.
    assert len(under_way) <= 3, under_way
    assert all(fired), f"the kill did not come in the middle of the sweep: {fired}"
