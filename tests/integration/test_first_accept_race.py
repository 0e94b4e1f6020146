"""First accept wins, exactly once: 20 simultaneous accepts in one process and across two processes,
on SQLite and PostgreSQL (the `db_url` fixture runs each test on both)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from dispatch import responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from models import tables as t
from models.transactions import Transactions
from tests.factories import add_fieldworkers, add_service, create_booking

N = 20


async def seed_booking(n: int = N) -> list[int]:
    """One job broadcast to `n` Telegram-linked fieldworkers; returns the request ids."""
    await add_service()
    await add_fieldworkers(n, telegram=1000)
    await create_booking()
    ids = list(await t.JobRequest.all().order_by("id").values_list("id", flat=True))
    assert len(ids) == n
    return ids


async def assert_one_winner() -> None:
    """Exactly one request accepted and the job assigned to that fieldworker."""
    statuses = await t.JobRequest.all().values_list("status", flat=True)
    assert sorted(statuses).count("accepted") == 1
    assert set(statuses) == {"accepted", "withdrawn"}
    job = await t.Job.get()
    winner = await t.JobRequest.get(status="accepted")
    assert job.status == "assigned" and job.fieldworker_id == winner.fieldworker_id
    assert await t.History.filter(action="job_assigned").count() == 1


async def accept(tx: Transactions, request_id: int, fieldworker_id: int) -> str:
    result = await tx.run(
        lambda uow: responding.respond(
            uow,
            request_id,
            Action.ACCEPT,
            Actor(ActorKind.FIELDWORKER, fieldworker_id),
            Channel.TELEGRAM,
        )
    )
    return result.outcome.value


async def test_twenty_concurrent_accepts_in_one_process(db: str) -> None:
    ids = await seed_booking()
    owners = dict(await t.JobRequest.all().values_list("id", "fieldworker_id"))
    tx = Transactions()
    outcomes = await asyncio.gather(*(accept(tx, rid, owners[rid]) for rid in ids))
    assert outcomes.count("assigned") == 1
    assert set(outcomes) == {"assigned", "taken"}
    await assert_one_winner()


WORKER = """
import asyncio, json, sys
from dispatch import responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from models.db import init_db, close_db
from models import tables as t
from models.transactions import Transactions

async def main(url, ids, go_file):
    await init_db(url, migrate=False)
    owners = dict(await t.JobRequest.filter(id__in=ids).values_list("id", "fieldworker_id"))
    tx = Transactions()
    # Both processes start accepting at the same moment.
    import os, time
    while not os.path.exists(go_file):
        time.sleep(0.005)
    async def one(rid):
        r = await tx.run(lambda uow: responding.respond(
            uow, rid, Action.ACCEPT, Actor(ActorKind.FIELDWORKER, owners[rid]), Channel.TELEGRAM))
        return r.outcome.value
    out = await asyncio.gather(*(one(r) for r in ids))
    await close_db()
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]))
"""


async def test_twenty_concurrent_accepts_across_two_processes(db: str, tmp_path: Path) -> None:
    ids = await seed_booking()
    go = tmp_path / "go"
    halves = [ids[0::2], ids[1::2]]
    procs = [
        subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-c", WORKER, db, json.dumps(h), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for h in halves
    ]
    await asyncio.sleep(1.0)  # let both connect
    go.write_text("go")
    outcomes: list[str] = []
    for proc in procs:
        out, err = await asyncio.to_thread(proc.communicate, timeout=60)
        assert proc.returncode == 0, err
        outcomes.extend(json.loads(out.strip().splitlines()[-1]))
    assert outcomes.count("assigned") == 1, outcomes
    assert set(outcomes) <= {"assigned", "taken"}
    await assert_one_winner()
