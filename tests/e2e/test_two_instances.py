"""Two `dispatchbot run` processes on one PostgreSQL database, as several instances are deployed:
a booking made through one, accepts arriving through both at once - one winner, every message sent
exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulators import TelegramEmulator, TwilioEmulator, make_callback_update, running
from tests.conftest import require_postgres, reset_postgres
from tests.e2e.conftest import AUTH, SID, run_process
from tests.e2e.test_core_loop import CUSTOMER, book, requests_sent, seed


@pytest.mark.postgres
async def test_two_instances_share_one_database(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    require_postgres()
    url = str(request.getfixturevalue("pg_url"))
    await reset_postgres(url)
    tg, sms = TelegramEmulator(), TwilioEmulator(account_sid=SID, auth_token=AUTH)
    async with running(tg.app) as tg_url, running(sms.app) as sms_url:
        async for a in run_process(tmp_path, url, tg, sms, tg_url, sms_url, name="a"):
            async for b in run_process(tmp_path, url, tg, sms, tg_url, sms_url, name="b"):
                await seed(a)
                booking = await book(a)
                await tg.wait_for(lambda calls: len(requests_sent(calls)) == 3)
                presses = []
                for i, call in enumerate(requests_sent(tg.calls)):
                    chat = call.params["chat_id"]
                    data = call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                    update = make_callback_update(
                        880000 + i,
                        chat,
                        data,
                        message_chat_id=chat,
                        message_id=call.result["message_id"],
                    )
                    # Each press reaches both instances, as a load balancer retry would.
                    presses += [a.post_update(update), b.post_update(update)]
                assert set(await asyncio.gather(*presses)) == {200}
                await tg.wait_for("answerCallbackQuery", count=3)
                await sms.wait_for(CUSTOMER)
                await asyncio.sleep(1.5)  # time for any duplicate send to show up

                _, got = await b.api("GET", f"/bookings/{booking['id']}")
                job = got["jobs"][0]
                statuses = sorted(r["status"] for r in job["requests"])
                assert job["status"] == "assigned" and statuses.count("accepted") == 1
                assert statuses.count("withdrawn") == 2
                assert len(tg.calls_of("answerCallbackQuery")) == 3, "each update acted on once"
                assert len(requests_sent(tg.calls)) == 3, "no request sent twice"
                edits = [c for c in tg.calls_of("editMessageText", ok_only=True)]
                assert len(edits) == 3, [c.summary() for c in edits]
                assert len(sms.messages_to(CUSTOMER)) == 1, "the customer is told once"
