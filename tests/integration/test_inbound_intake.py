"""Telegram updates recorded together (a group commit under a burst) on SQLite and PostgreSQL:
each is taken once, a redelivery (earlier, or in the same group) is not, and nothing unstorable
is written."""

from __future__ import annotations

import asyncio

from bot.inbound import GroupRecorder
from models import tables as t
from models.inbound import record, record_many


async def test_a_group_records_each_new_update_once(db: str) -> None:
    assert await record("tg:1", {"update_id": 1})

    rows = await record_many(
        [
            ("tg:1", {"update_id": 1}),  # recorded before: a redelivery
            ("tg:2", {"update_id": 2}),
            ("tg:3", {"update_id": 3, "text": "a\x00b"}),  # PostgreSQL refuses NUL
            ("tg:2", {"update_id": 2}),  # the same update twice in one group
            ("tg:4", {"update_id": 4}),
        ]
    )

    assert [row and row.key for row in rows] == [None, "tg:2", None, None, "tg:4"]
    assert all(row.claimed_until is not None for row in rows if row), "taken by the recorder"
    assert sorted(await t.InboundEvent.all().values_list("key", flat=True)) == [
        "tg:1",
        "tg:2",
        "tg:4",
    ]


async def test_a_burst_shares_commits_and_each_caller_gets_its_own_row(db: str) -> None:
    recorder = GroupRecorder()
    keys = [f"tg:{i % 20}" for i in range(30)]  # ten of them redelivered within the burst

    rows = await asyncio.gather(*(recorder.record(key, {"update_id": 0}) for key in keys))

    taken = [row.key for row in rows if row is not None]
    assert sorted(taken) == sorted({*keys}), "each update taken once, by one caller"
    assert all(row.key == key for row, key in zip(rows, keys, strict=True) if row is not None)
    assert await t.InboundEvent.all().count() == 20
