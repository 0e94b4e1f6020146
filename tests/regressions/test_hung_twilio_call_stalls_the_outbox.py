"""Bug: a hung Twilio call stalled the outbox for good.

twilio 9's `AsyncTwilioHttpClient(timeout=15)` stores the timeout but never applies it, so a call
Twilio never answered waited forever; with two instances the row's 60 s claim then expired and the
SMS went out twice. Now the client applies its timeout, and the sender bounds every provider call
itself: a call that times out is a failed attempt, retried with backoff. (That no second process
takes over a call still under way is `test_live_slow_call_was_taken_over`: claims are now short
and renewed by a heartbeat instead of outlasting every call.)
"""

from __future__ import annotations

import asyncio

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from models import tables as t
from models.views import utcnow
from notifications.sender import OutboxSender
from notifications.twilio_transport import TwilioHttpClient
from tests.regressions.conftest import AUTH, FROM, SID, Providers, queue, until

PHONE = "+4915100000002"


async def test_the_twilio_client_applies_its_timeout(providers: Providers) -> None:
    p = providers
    p.sms.delay_next(3600)
    client = Client(SID, AUTH, http_client=TwilioHttpClient(timeout=0.5))
    client.api.base_url = p.twilio.api.base_url
    try:
        call = asyncio.create_task(client.messages.create_async(to=PHONE, from_=FROM, body="hello"))
        done, _ = await asyncio.wait([call], timeout=5)
        assert done, "the call is still waiting for an answer that never comes"
        assert isinstance(call.exception(), TimeoutError)
    finally:
        await client.http_client.close()


async def test_the_sender_bounds_a_hung_call_and_retries_it(providers: Providers) -> None:
    p = providers
    p.sms.delay_next(3600)
    # The stock client, which waits forever: the sender's own bound must end the call.
    stock = Client(SID, AUTH, http_client=AsyncTwilioHttpClient())
    stock.api.base_url = p.twilio.api.base_url
    sender = OutboxSender(twilio=stock, twilio_from=FROM, poll_interval=0.05, provider_timeout=1)
    row_id = await queue("sms", PHONE, "Your fieldworker is on the way")
    task = asyncio.create_task(sender.run())
    try:
        await until(lambda: p.sms.held == 1, what="the SMS call under way")

        async def attempted() -> bool:
            row = await t.Notification.get(id=row_id)
            return row.attempts >= 1 and row.error is not None

        await until(attempted, what="the hung call counted as a failed attempt")
        row = await t.Notification.get(id=row_id)
        assert row.status == "queued" and row.claimed_until is None
        assert (row.error or "").startswith("ProviderTimeout: no answer from Twilio within 1s")
        assert row.next_attempt_at > utcnow(), "retried later, with backoff"

        await p.sms.wait_for(PHONE, timeout=15)  # the retry is answered

        async def sent() -> bool:
            return (await t.Notification.get(id=row_id)).status == "sent"

        await until(sent, what="the row marked sent")
        row = await t.Notification.get(id=row_id)
        assert row.attempts == 2 and row.error is None
        assert len(p.sms.messages_to(PHONE)) == 1
    finally:
        p.sms.release()
        sender.stop()
        await task
        await stock.http_client.close()
