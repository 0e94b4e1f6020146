"""Two `dispatchbot run` processes on one PostgreSQL database, both sweeping: many bookings made
through both, whose timers come due together. Each timer fires once: one SMS of each kind per
booking, one staff alert per job."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulators import TelegramEmulator, TwilioEmulator, running
from tests.conftest import require_postgres, reset_postgres
from tests.e2e.conftest import AUTH, SID, run_process
from tests.e2e.test_core_loop import seed
from tests.e2e.test_timers import (
    NOT_CONFIRMED,
    STILL_FINDING,
    alert_of,
    book_at,
    history_actions,
    put_settings,
    start_in,
)
from tests.e2e.test_timers_restart import SWEEP_S, counts


@pytest.mark.postgres
async def test_two_instances_fire_each_timer_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    require_postgres()
    url = str(request.getfixturevalue("pg_url"))
    await reset_postgres(url)
    n, lead = 24, 30
    tg, sms = TelegramEmulator(), TwilioEmulator(account_sid=SID, auth_token=AUTH)
    sweep = {"SWEEP_INTERVAL_S": str(SWEEP_S)}
    async with running(tg.app) as tg_url, running(sms.app) as sms_url:
        async for a in run_process(tmp_path, url, tg, sms, tg_url, sms_url, name="a", **sweep):
            async for b in run_process(tmp_path, url, tg, sms, tg_url, sms_url, name="b", **sweep):
                await seed(a)
                await put_settings(
                    b, customer_notify={"no_acceptance_after_s": 4}, unassigned_alert_lead_s=lead
                )
                # Made through both instances, so each has deadlines it armed itself (and wakes
                # for) and deadlines only its regular sweep finds. The alerts all come due at
                # one moment, the "still looking" SMS within a second or two.
                start = start_in(lead + 5)
                bids = [
                    int((await book_at(a if i % 2 else b, i, start))["id"]) for i in range(1, n + 1)
                ]
                await sms.wait_for(lambda _: all(counts(sms, n, STILL_FINDING)), timeout=20)
                await sms.wait_for(lambda _: all(counts(sms, n, NOT_CONFIRMED)), timeout=20)
                # Every alert goes to the one owner chat, which Telegram allows a message a second.
                await tg.wait_for(
                    lambda calls, bids=bids: all(alert_of(calls, i) for i in bids), timeout=60
                )
                await asyncio.sleep(SWEEP_S + 1)  # both instances swept again meanwhile

                assert counts(sms, n, STILL_FINDING) == [1] * n
                assert counts(sms, n, NOT_CONFIRMED) == [1] * n
                assert [len(alert_of(tg.calls, bid)) for bid in bids] == [1] * n
                for i, bid in enumerate(bids, 1):
                    actions = await history_actions(a if i % 2 else b, bid)
                    assert actions.count("customer_notified") == 2, (bid, actions)
                    assert actions.count("unassigned_alerted") == 1, (bid, actions)
                assert len(sms.messages) == 2 * n, "no SMS to anybody else"
