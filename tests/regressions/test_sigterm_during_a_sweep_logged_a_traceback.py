"""Bug: stopping the service (SIGTERM, as every deploy does) while a sweep was firing timers
cancelled the sweep in the middle of a timer's transaction, and APScheduler logged the
cancellation as `Job "sweep" raised an exception` with a traceback.

Now the scheduler is stopped first, the sweep ends after the timer in hand, and only then does the
service close the database: it exits 0 with a clean log, and the timers it had not reached fire
once after the restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from emulators import TelegramEmulator, TwilioEmulator, running
from tests.e2e.conftest import AUTH, SID, run_process
from tests.e2e.test_core_loop import seed
from tests.e2e.test_timers import STILL_FINDING, book_at, put_settings, start_in
from tests.e2e.test_timers_restart import counts, sleep_until


async def test_sigterm_while_timers_fire_exits_cleanly_and_loses_nothing(
    tmp_path: Path, db_url: str
) -> None:
    n = 16
    tg, sms = TelegramEmulator(), TwilioEmulator(account_sid=SID, auth_token=AUTH)
    async with running(tg.app) as tg_url, running(sms.app) as sms_url:
        # run_process stops the service with SIGTERM and checks exit 0 and a log free of
        # tracebacks.
        async for a in run_process(tmp_path, db_url, tg, sms, tg_url, sms_url, name="a"):
            await seed(a)
            # Off while booking, then on: every "still looking" deadline is due at once.
            await put_settings(
                a, customer_notify={"no_acceptance_after_s": 0}, unassigned_alert_lead_s=0
            )
            for i in range(1, n + 1):
                await book_at(a, i, start_in(3600))
            await sleep_until(start_in(1))
            await put_settings(a, customer_notify={"no_acceptance_after_s": 1})
            await sms.wait_for(lambda messages: bool(messages))
            # The sweep is firing them now; leaving the loop stops the service (SIGTERM).
        assert 0 < sum(counts(sms, n, STILL_FINDING)) < n, "not stopped during the sweep"

        async for b in run_process(tmp_path, db_url, tg, sms, tg_url, sms_url, name="b"):
            await sms.wait_for(lambda _: all(counts(sms, n, STILL_FINDING)), timeout=15)
            await asyncio.sleep(1)
            assert counts(sms, n, STILL_FINDING) == [1] * n
            del b
