"""The decision transactions of a press and a broadcast, in one process: statements and time.

    python bench/bench_decision.py [--workers 5] [--bookings 30]
    PYTHONPATH=/path/to/other/checkout python bench/bench_decision.py   # the same for that code

On a temporary SQLite file, with the real outbox renderer (Telegram on): a booking created in
`auto` mode and broadcast to `--workers` fieldworkers (create), then every fieldworker accepts in
turn: the first accept wins and withdraws the others (win), the rest find the job taken (lose).
Printed per kind: the SQL statements one transaction sends (BEGIN and COMMIT included) and the
median wall and CPU time over the last two thirds of `--bookings` runs. No HTTP, no Bot API, no
sender: what the database work of a decision costs, which is what a press waits for.

Figures only, nothing asserted; compare runs on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosqlite.core

sys.path.insert(0, str(Path.cwd()))  # PYTHONPATH's checkout first, else this one

from dispatch import responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from models import tables as t
from models.db import close_db, init_db
from models.transactions import Transactions
from notifications.render import OutboxRenderer
from tests import factories as f

STATEMENTS = [0]
_execute = aiosqlite.core.Connection._execute


async def _counting(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    STATEMENTS[0] += 1
    return await _execute(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]


aiosqlite.core.Connection._execute = _counting  # type: ignore[method-assign]


async def main(workers: int, bookings: int) -> None:
    """Create, win and lose `bookings` times; print the figures."""
    figures: dict[str, list[tuple[int, float, float]]] = defaultdict(list)

    async def measure(kind: str, work: Any) -> Any:
        STATEMENTS[0] = 0
        wall, cpu = time.perf_counter(), time.process_time()
        result = await work
        figures[kind].append((STATEMENTS[0], time.perf_counter() - wall, time.process_time() - cpu))
        return result

    with tempfile.TemporaryDirectory() as tmp:
        await init_db(f"sqlite://{tmp}/decision.sqlite3")
        try:
            await f.add_service()
            await f.add_fieldworkers(workers, telegram=1000)
            renderer = OutboxRenderer(
                telegram_enabled=True, sms_enabled=False, company_timezone="UTC"
            )
            tx = Transactions(renderer)
            for i in range(bookings):
                starts = (f.START + timedelta(days=i),)
                booking_id = await measure("create", f.create_booking(tx, starts=starts))
                requests = await t.JobRequest.filter(booking_id=booking_id).order_by("id")
                for k, request in enumerate(requests):
                    actor = Actor(ActorKind.FIELDWORKER, request.fieldworker_id)

                    async def accept(uow: Any, rid: int = request.id, who: Actor = actor) -> Any:
                        return await responding.respond(
                            uow, rid, Action.ACCEPT, who, Channel.TELEGRAM
                        )

                    await measure("win" if k == 0 else "lose", tx.run(accept))
        finally:
            await close_db()
    print(f"decision transactions, SQLite, {workers} fieldworkers asked per booking")
    for kind, runs in figures.items():
        kept = runs[len(runs) // 3 :]  # the first third warms caches up
        print(
            f"{kind:7} {kept[-1][0]:4d} statements  "
            f"wall p50 {statistics.median(r[1] for r in kept) * 1000:7.2f} ms  "
            f"CPU p50 {statistics.median(r[2] for r in kept) * 1000:7.2f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--bookings", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.workers, args.bookings))
