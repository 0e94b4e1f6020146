"""A fieldworker's `channels` is an order of preference; SMS backup of job requests (issue 9)."""

from __future__ import annotations

from models import tables as t
from tests.factories import (
    add_fieldworker,
    add_service,
    create_booking,
    save_settings,
    transactions,
)


async def requests_by_channel() -> dict[str, list[str]]:
    rows = await t.Notification.filter(template__startswith="job_request").order_by("id")
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row.channel, []).append(row.recipient)
    return out


async def test_a_job_request_goes_by_the_first_channel_in_their_order(db: str) -> None:
    await add_service()
    await add_fieldworker(
        "Tess", telegram=100, phone="+4915100000001", channels=["telegram", "sms"]
    )
    await add_fieldworker("Sam", telegram=101, phone="+4915100000002", channels=["sms", "telegram"])
    await create_booking(transactions(outbox=True))
    assert await requests_by_channel() == {"telegram": ["100"], "sms": ["+4915100000002"]}


async def test_sms_backup_sends_telegram_users_their_request_by_sms_too(db: str) -> None:
    await save_settings(sms_backup_for_requests=True)
    await add_service()
    await add_fieldworker(
        "Tess", telegram=100, phone="+4915100000001", channels=["telegram", "sms"]
    )
    await add_fieldworker("Tom", telegram=101, channels=["telegram"])  # no phone: Telegram only
    await add_fieldworker("Sam", phone="+4915100000002", channels=["sms"])
    await create_booking(transactions(outbox=True))
    assert await requests_by_channel() == {
        "telegram": ["100", "101"],
        "sms": ["+4915100000001", "+4915100000002"],
    }
    backup = await t.Notification.get(channel="sms", recipient="+4915100000001")
    request = await t.JobRequest.get(id=backup.request_id)
    assert str(request.reply_code) in backup.body  # answerable by SMS as well


async def test_without_sms_backup_telegram_users_get_only_telegram(db: str) -> None:
    await add_service()
    await add_fieldworker(
        "Tess", telegram=100, phone="+4915100000001", channels=["telegram", "sms"]
    )
    await create_booking(transactions(outbox=True))
    assert await requests_by_channel() == {"telegram": ["100"]}
