"""Bug (issue 7): an SMS Twilio reported `undelivered` or `failed` was only marked failed.

Twilio's status callback (`/sms/status`) set the outbox row to failed and nothing else: staff
were not told that a fieldworker or customer never got their message, and the booking's history
did not show it. Now the callback goes through the core: `delivery_failed` in the history (actor
system) and one staff alert per failed message; a redelivered callback changes nothing. Checked
where the bug lived: the real handler behind aiohttp, with requests signed as Twilio signs them.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from emulators import running
from handlers.context import CHAT, ChatContext
from handlers.sms import sms_status
from models import tables as t
from tests.factories import add_fieldworker, add_service, add_staff, create_booking, transactions

AUTH = "twilio-auth-token"
PUBLIC = "https://dispatch.example.com"  # what Twilio calls; signatures are over this URL
OWNER = 900
PHONE = "+4915100000703"
SID = "SM" + "7" * 32


async def test_an_undelivered_sms_is_recorded_and_alerted_once(db: str) -> None:
    tx = transactions(outbox=True)
    await add_staff("Owen Owner", role="owner", telegram=OWNER)
    await add_service()
    cara = await add_fieldworker("Cara Diaz", channels=["sms"], phone=PHONE)
    booking_id = await create_booking(tx, phone=None)
    request = await t.Notification.get(booking_id=booking_id, template="job_request_sms")
    await t.Notification.filter(id=request.id).update(status="sent", provider_id=SID)

    app = web.Application()
    app[CHAT] = ChatContext(tx=tx, timezone="UTC", twilio_auth_token=AUTH, public_url=PUBLIC)
    app.router.add_post("/sms/status", sms_status)
    form = {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    signature = RequestValidator(AUTH).compute_signature(f"{PUBLIC}/sms/status", form)
    async with running(app) as url, aiohttp.ClientSession() as http:
        for _ in range(2):  # Twilio may deliver a callback twice
            async with http.post(
                f"{url}/sms/status", data=form, headers={"X-Twilio-Signature": signature}
            ) as resp:
                assert resp.status == 200

            request = await t.Notification.get(id=request.id)
            assert (
                request.status == "failed" and request.error == "Twilio undelivered (error 30003)"
            )
            [failed] = await t.History.filter(booking_id=booking_id, action="delivery_failed")
            assert (failed.actor_kind, failed.channel) == ("system", "sms")
            assert failed.details["fieldworker_id"] == cara.id
            assert failed.details["fallback"] is None  # SMS is her only channel
            [alert] = await t.Notification.filter(template="staff_delivery_failed")
            assert alert.recipient == str(OWNER)
            assert "Cara Diaz" in alert.body and "could not be delivered by SMS" in alert.body
            assert "No other channel reaches them" in alert.body
