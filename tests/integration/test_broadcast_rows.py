"""A broadcast writes its requests, timers, history and outbox rows from plain values
(`models.rows`): read back through the models, every column is what the models wrote before."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from models import tables as t
from tests.factories import add_fieldworker, add_fieldworkers, add_service, create_booking
from tests.factories import transactions as make_transactions

NOW = datetime(2026, 11, 20, 8, 30, 15, 123456, tzinfo=UTC)


async def test_every_column_of_a_broadcast_reads_back_as_the_models_wrote_it(db: str) -> None:
    await add_service()
    telegram = await add_fieldworkers(3, telegram=500)
    by_sms = [
        await add_fieldworker(f"Texter {i}", phone=f"+49151000005{i}", channels=["sms"])
        for i in range(2)
    ]
    asked_order = [fw.id for fw in [*telegram, *by_sms]]
    tx = make_transactions(outbox=True, clock=lambda: NOW)
    bookings = [await create_booking(tx) for _ in range(3)]

    pending_codes: dict[int, list[int]] = defaultdict(list)
    for booking_id in bookings:
        requests = await t.JobRequest.filter(booking_id=booking_id).order_by("id")
        assert [r.fieldworker_id for r in requests] == asked_order  # ids in the order asked
        for r in requests:
            assert (r.status, r.reason, r.responded_at, r.channel) == ("pending", None, None, None)
            assert r.expires_at == NOW + timedelta(seconds=900)
            assert r.created_at is not None and r.created_at.tzinfo is not None
            assert 1000 <= r.reply_code <= 9999
            pending_codes[r.fieldworker_id].append(r.reply_code)

        timers = await t.Timer.filter(booking_id=booking_id, kind="nudge").order_by("id")
        assert [x.subject_id for x in timers] == [r.id for r in requests]
        for x in timers:
            assert (x.status, x.anchor_at, x.due_at, x.fired_at) == (
                "pending",
                NOW,
                NOW + timedelta(seconds=600),
                None,
            )
            assert x.created_at is not None

        history = await t.History.filter(booking_id=booking_id, action="request_sent")
        assert sorted(h.request_id for h in history) == [r.id for r in requests]
        for h in sorted(history, key=lambda h: h.id):
            request = next(r for r in requests if r.id == h.request_id)
            assert h.details == {"fieldworker_id": request.fieldworker_id}
            assert (h.at, h.actor_kind, h.to_status, h.channel, h.from_status) == (
                NOW,
                "system",
                "pending",
                "api",
                None,
            )

        sent = await t.Notification.filter(booking_id=booking_id, request_id__not_isnull=True)
        sent.sort(key=lambda n: n.id)
        assert [n.request_id for n in sent] == [r.id for r in requests]
        assert [n.channel for n in sent] == ["telegram"] * 3 + ["sms"] * 2
        for n, r in zip(sent, requests, strict=True):
            assert (n.status, n.attempts, n.next_attempt_at, n.error) == ("queued", 0, NOW, None)
            assert n.created_at is not None
            assert n.payload["fieldworker_id"] == r.fieldworker_id
            assert n.payload["job_request"] is True
            if n.channel == "sms":
                assert f"YES {r.reply_code} or NO {r.reply_code}" in n.body
            else:
                assert n.body.startswith(f"📋 New job request #{r.id}\n<b>Plumbing</b>")
                assert n.payload["reply_markup"]["inline_keyboard"][0][0]["text"] == "Accept ✅"

    # A fieldworker's open requests never share a reply code.
    for codes in pending_codes.values():
        assert len(codes) == len(set(codes)) == len(bookings)
