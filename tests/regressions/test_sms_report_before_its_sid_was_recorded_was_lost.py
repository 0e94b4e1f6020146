"""Bug: a Twilio delivery report that reached us before the sender had recorded the message's SID
was dropped.

The sender stores the SID Twilio answers a send with; Twilio's report about that message can
arrive in the moment between (CI found it: `test_reaching_fieldworkers` posted `undelivered` as
soon as the Twilio emulator had the message, and the fieldworker's failed SMS was never recorded
nor alerted). `/sms/status` looked the SID up once, found nothing and answered 200. Now a report
that finds no row looks again for up to 1.9 s (`handlers.sms.REPORT_LOOKS`). Checked where the bug
lived: the real handler behind aiohttp, the request signed as Twilio signs it, the SID recorded
0.2 s after the report arrived.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from emulators import running
from handlers.context import CHAT, ChatContext
from handlers.sms import sms_status
from models import tables as t
from tests.factories import add_fieldworker, add_service, add_staff, create_booking, transactions

AUTH = "twilio-auth-token"
PUBLIC = "https://dispatch.example.com"
OWNER = 900
PHONE = "+4915100000704"
SID = "SM" + "8" * 32


async def test_a_report_ahead_of_its_sid_is_recorded(db: str) -> None:
    tx = transactions(outbox=True)
    await add_staff("Owen Owner", role="owner", telegram=OWNER)
    await add_service()
    dana = await add_fieldworker("Dana Roe", channels=["sms"], phone=PHONE)
    booking_id = await create_booking(tx, phone=None)
    request = await t.Notification.get(booking_id=booking_id, template="job_request_sms")

    app = web.Application()
    app[CHAT] = ChatContext(tx=tx, timezone="UTC", twilio_auth_token=AUTH, public_url=PUBLIC)
    app.router.add_post("/sms/status", sms_status)
    form = {"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    signature = RequestValidator(AUTH).compute_signature(f"{PUBLIC}/sms/status", form)

    async def sender_records_the_sid_late() -> None:
        await asyncio.sleep(0.2)
        await t.Notification.filter(id=request.id).update(status="sent", provider_id=SID)

    async with running(app) as url, aiohttp.ClientSession() as http:
        late = asyncio.create_task(sender_records_the_sid_late())
        async with http.post(
            f"{url}/sms/status", data=form, headers={"X-Twilio-Signature": signature}
        ) as resp:
            assert resp.status == 200
        await late

    request = await t.Notification.get(id=request.id)
    assert (request.status, request.error) == ("failed", "Twilio undelivered (error 30003)")
    [failed] = await t.History.filter(booking_id=booking_id, action="delivery_failed")
    assert failed.details["fieldworker_id"] == dana.id
    [alert] = await t.Notification.filter(template="staff_delivery_failed")
    assert "Dana Roe" in alert.body and "could not be delivered by SMS" in alert.body
