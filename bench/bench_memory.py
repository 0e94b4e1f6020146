"""Prints the memory of `dispatchbot run` holding a large company, and its growth under presses.

    python bench/bench_memory.py [--fieldworkers 10000] [--bookings 100000]
                                 [--soak-seconds 60] [--rate 50] [--warmup-seconds 60]

A temporary SQLite file is seeded by bulk inserts with FIELDWORKERS fieldworkers (Telegram, one
service) and BOOKINGS bookings (one appointment and one job each): most of them done in the past
year with their history, and enough open ones in the coming days, each with one pending job request
on Telegram, for every press of the soak. `dispatchbot run` is started on it in webhook mode against
the Bot API emulator (Telegram's limits off: this measures memory, not pacing). The figures: RSS
(VmRSS of the process) once it answers /healthz, after a warm-up of WARMUP_SECONDS (default 60) of
presses, during and at the end of a soak of SOAK_SECONDS (issue 10 asks for 300) at RATE presses
a second, each an Accept pressed on its own pending request through the webhook, as Telegram
delivers it. Growth is measured from the end of the warm-up to the end of the soak (the first
minute fills SQLite's page cache and Python's pools with the working set; the soak samples
show it). Figures only; no assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from emulators import TelegramEmulator, make_callback_update, running
from models.db import close_db, init_db

TOKEN = "123456:BENCH-memory"
SECRET = "bench-secret"
API_TOKEN = "bench-api-token"
USER_BASE = 500_000_000  # Telegram user id of fieldworker i is USER_BASE + i
_UPDATE_ID = [1]  # one sequence for every press: a repeated update_id is a redelivery


def iso(at: datetime) -> str:
    """A datetime as tortoise stores it in SQLite."""
    return at.isoformat(sep=" ")


Press = tuple[int, int, int]  # request id, the fieldworker's Telegram id (= chat), message id


def seed(path: Path, fieldworkers: int, bookings: int, pending: int) -> list[Press]:
    """Bulk-insert the company; returns (request id, user id, message id) of each pending one."""
    rng = random.Random(10)
    now = datetime.now(UTC)
    created = iso(now - timedelta(days=400))
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO service (code, name, required_skills, created_at) VALUES (?, ?, ?, ?)",
        ("plumb", "Plumbing", "[]", created),
    )
    db.executemany(
        "INSERT INTO fieldworker (id, name, phone, telegram_user_id, telegram_chat_id, channels,"
        " services, skills, custom_fields, base_lat, base_lon, time_off, status, timezone,"
        " invite_code, sms_opt_out, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, '[]', '{}', ?, ?, '[]', 'active', 'Europe/Berlin', ?, 0, ?)",
        (
            (
                i,
                f"Fieldworker {i}",
                f"+4915{i:09d}",
                USER_BASE + i,
                USER_BASE + i,
                '["telegram"]',
                '["plumb"]',
                52.3 + rng.random() * 0.4,
                13.1 + rng.random() * 0.6,
                f"INV{i:08d}",
                created,
            )
            for i in range(1, fieldworkers + 1)
        ),
    )
    db.executemany(
        "INSERT INTO customer (id, name, sms_opt_out, created_at) VALUES (?, ?, 0, ?)",
        ((i, f"Customer {i}", created) for i in range(1, bookings + 1)),
    )
    done = bookings - pending
    rows = []
    for i in range(1, bookings + 1):
        if i <= done:  # in the past year, completed by someone
            start = now - timedelta(days=1 + rng.randrange(365), hours=rng.randrange(10))
            status, job_status, fw = "completed", "completed", rng.randrange(1, fieldworkers + 1)
        else:  # in the coming days, offered to one fieldworker each, a day apart for each of them
            n = i - done - 1
            start = now + timedelta(days=2 + n // fieldworkers, hours=n % 8)
            status, job_status, fw = "open", "offered", n % fieldworkers + 1
        rows.append((i, start, status, job_status, fw))
    db.executemany(
        "INSERT INTO booking (id, address, lat, lon, dispatch_mode, status, required_skills,"
        " custom_fields, notes, created_at, updated_at, customer_id)"
        " VALUES (?, ?, 52.5, 13.4, 'auto', ?, '[]', '{}', '', ?, ?, ?)",
        (
            (i, f"Street {i}, Berlin", status, iso(start - timedelta(days=3)), created, i)
            for i, start, status, _, _ in rows
        ),
    )
    db.executemany(
        'INSERT INTO appointment (id, start, "end", booking_id) VALUES (?, ?, ?, ?)',
        ((i, iso(start), iso(start + timedelta(hours=2)), i) for i, start, _, _, _ in rows),
    )
    db.executemany(
        "INSERT INTO job (id, service_code, status, version, assigned_at, created_at,"
        " appointment_id, booking_id, fieldworker_id) VALUES (?, 'plumb', ?, 1, ?, ?, ?, ?, ?)",
        (
            (
                i,
                job_status,
                iso(start - timedelta(days=2)) if job_status == "completed" else None,
                iso(start - timedelta(days=3)),
                i,
                i,
                fw if job_status == "completed" else None,
            )
            for i, start, _, job_status, fw in rows
        ),
    )
    requests = []
    for i, start, _, job_status, fw in rows:
        pending_one = job_status == "offered"
        requests.append(
            (
                i,
                i,
                i,
                "pending" if pending_one else "accepted",
                None if pending_one else "fieldworker",
                None if pending_one else fw,
                None if pending_one else iso(start - timedelta(days=2)),
                None if pending_one else "telegram",
                1000 + i % 9000,
                USER_BASE + fw,
                1 + (i - done - 1) // fieldworkers if pending_one else None,
                iso(start - timedelta(days=3)),
                fw,
            )
        )
    db.executemany(
        "INSERT INTO job_request (id, job_id, booking_id, status, responded_by_kind,"
        " responded_by_id, responded_at, channel, reply_code, telegram_chat_id,"
        " telegram_message_id, created_at, fieldworker_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        requests,
    )
    history = []
    for i, start, _, job_status, fw in rows:
        at = start - timedelta(days=3)
        history.append((i, None, iso(at), "api", None, "booking_created", None, "open"))
        if job_status == "completed":
            history.append(
                (i, i, iso(at), "fieldworker", fw, "job_assigned", "offered", "assigned")
            )
            history.append(
                (i, i, iso(start + timedelta(hours=2)), "staff", 1, "job_completed", "assigned",
                 "completed")
            )  # fmt: skip
        else:
            history.append((i, i, iso(at), "system", None, "request_sent", None, "pending"))
    db.executemany(
        "INSERT INTO history (booking_id, job_id, at, actor_kind, actor_id, actor_name, action,"
        " from_status, to_status, details) VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, '{}')",
        history,
    )
    db.commit()
    db.close()
    return [
        (i, USER_BASE + fw, 1 + (i - done - 1) // fieldworkers)
        for i, _, _, job_status, fw in rows
        if job_status == "offered"
    ]


async def post_requests(http: aiohttp.ClientSession, tg_url: str, presses: list[Press]) -> None:
    """Put each pending request's message in its chat, as the sender did when it was sent."""
    by_round: dict[int, list[Press]] = {}
    for press in presses:
        by_round.setdefault(press[2], []).append(press)
    limit = asyncio.Semaphore(64)

    async def post(request_id: int, chat: int) -> None:
        async with limit:
            body = {"chat_id": chat, "text": f"New job request {request_id}"}
            async with http.post(f"{tg_url}/bot{TOKEN}/sendMessage", json=body) as resp:
                resp.raise_for_status()

    for message_id in sorted(by_round):  # message k of a chat after message k - 1
        await asyncio.gather(*(post(r, chat) for r, chat, _ in by_round[message_id]))


def rss_mib(pid: int) -> float:
    """Resident set size of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def soak(
    http: aiohttp.ClientSession,
    base: str,
    presses: list[tuple[int, int, int]],
    seconds: float,
    rate: float,
    pid: int,
) -> tuple[int, int, list[tuple[float, float]]]:
    """Press Accept at `rate` a second for `seconds`; returns (sent, answered 200, RSS samples)."""
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(200)  # presses in flight at most (Telegram holds up to 100)
    ok = 0
    samples: list[tuple[float, float]] = []
    update_id = _UPDATE_ID

    async def press(request_id: int, user: int, message_id: int) -> None:
        nonlocal ok
        update_id[0] += 1
        update = make_callback_update(
            update_id[0], user, f"a:{request_id}", message_chat_id=user, message_id=message_id
        )
        try:
            async with http.post(
                f"{base}/telegram/webhook",
                data=json.dumps(update),
                headers={
                    "X-Telegram-Bot-Api-Secret-Token": SECRET,
                    "Content-Type": "application/json",
                },
            ) as resp:
                ok += resp.status == 200
        finally:
            limit.release()

    start = loop.time()
    tasks = []
    next_sample = start
    for n in range(int(seconds * rate)):
        at = start + n / rate
        if at >= next_sample:
            samples.append((loop.time() - start, rss_mib(pid)))
            next_sample += 5
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await limit.acquire()
        tasks.append(asyncio.create_task(press(*presses[n])))
    await asyncio.gather(*tasks)
    samples.append((loop.time() - start, rss_mib(pid)))
    return len(tasks), ok, samples


async def main(
    fieldworkers: int, bookings: int, seconds: float, rate: float, warmup: float
) -> None:
    pending = int((seconds + warmup) * rate) + 100
    if pending > bookings:
        raise SystemExit("more presses than bookings: lower --rate or --soak-seconds")
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        path = Path(tmp) / "bench.sqlite3"
        await init_db(f"sqlite://{path}")
        await close_db()
        t0 = time.perf_counter()
        presses = seed(path, fieldworkers, bookings, pending)
        print(
            f"seeded {fieldworkers} fieldworkers and {bookings} bookings ({pending} open, one "
            f"pending request each) in {time.perf_counter() - t0:.1f} s; database "
            f"{path.stat().st_size / 2**20:.0f} MiB",
            flush=True,
        )
        tg = TelegramEmulator()
        async with running(tg.app) as tg_url, aiohttp.ClientSession() as http:
            await post_requests(http, tg_url, presses)
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TELE"))},
                "DATABASE_URL": f"sqlite://{path}",
                "HTTP_HOST": "127.0.0.1",
                "HTTP_PORT": str(port),
                "PUBLIC_URL": base,
                "API_TOKEN": API_TOKEN,
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": f"{tg_url}/bot",
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TIMEZONE": "Europe/Berlin",
            }
            log = open(Path(tmp) / "run.log", "wb")  # noqa: SIM115, ASYNC230 - closed below
            proc = subprocess.Popen(  # noqa: ASYNC220 - runs beside the bench
                [sys.executable, "-m", "bot", "run"], env=env, cwd=tmp, stdout=log, stderr=log
            )
            try:
                await _healthy(http, base, proc)
                await asyncio.sleep(2)
                idle = rss_mib(proc.pid)
                print(f"RSS of dispatchbot run, started and idle: {idle:.1f} MiB", flush=True)
                _, _, warm = await soak(http, base, presses, warmup, rate, proc.pid)
                warmed = warm[-1][1]
                print(
                    "warm-up RSS, MiB: "
                    + ", ".join(f"{at:.0f}s {r:.1f}" for at, r in warm[:: max(1, len(warm) // 8)])
                    + f"; growth during it {(warmed - idle) / idle * 100:+.1f} %",
                    flush=True,
                )
                print(f"RSS after a {warmup:g} s warm-up at {rate:g} presses/s: "
                      f"{warmed:.1f} MiB", flush=True)  # fmt: skip
                t0 = time.perf_counter()
                sent, ok, samples = await soak(
                    http, base, presses[int(warmup * rate) :], seconds, rate, proc.pid
                )
                offered = time.perf_counter() - t0
                await _all_acted_on(path, proc.pid, samples, t0)
                took = time.perf_counter() - t0
                end, peak = samples[-1][1], max(r for _, r in samples)
                shown = samples[:: max(1, len(samples) // 12)]
                print(
                    "soak RSS, MiB: " + ", ".join(f"{at:.0f}s {r:.1f}" for at, r in shown),
                    flush=True,
                )
                print(
                    f"soak: {sent} presses offered at {rate:g}/s ({sent / offered:.1f}/s taken), "
                    f"{ok} answered 200, all acted on after {took:.1f} s ({sent / took:.1f}/s); "
                    f"RSS {warmed:.1f} -> {end:.1f} MiB (peak {peak:.1f}): growth "
                    f"{(end - warmed) / warmed * 100:+.1f} % over {seconds:g} s",
                    flush=True,
                )
            finally:
                proc.terminate()
                proc.wait(30)
                log.close()
        db = sqlite3.connect(path)
        assigned = db.execute("SELECT count(*) FROM job WHERE status = 'assigned'").fetchone()[0]
        updates = dict(db.execute("SELECT status, count(*) FROM inbound_event GROUP BY status"))
        db.close()
        print(
            f"{assigned} jobs assigned by the presses; updates by status {updates}; "
            f"{len(tg.calls)} Bot API calls answered",
            flush=True,
        )
        lines = (Path(tmp) / "run.log").read_text(errors="replace").splitlines()
        bad = [line for line in lines if "WARNING" in line or "ERROR" in line or "Trace" in line]
        print(f"run.log: {len(lines)} lines, {len(bad)} warnings or errors", flush=True)
        for line in bad[:5]:
            print(f"  {line[:160]}", flush=True)


async def _all_acted_on(
    path: Path, pid: int, samples: list[tuple[float, float]], t0: float
) -> None:
    """Wait until the service has acted on every update it took (up to 10 minutes)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for _ in range(600):
            left = db.execute("SELECT count(*) FROM inbound_event WHERE status = 'new'").fetchone()
            if left[0] == 0:
                break
            await asyncio.sleep(1)
        await asyncio.sleep(2)  # the last presses' messages go out
    finally:
        db.close()
    samples.append((time.perf_counter() - t0, rss_mib(pid)))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _healthy(http: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"dispatchbot run exited with {proc.returncode}")
        try:
            async with http.get(f"{base}/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("dispatchbot run did not become healthy")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fieldworkers", type=int, default=10_000)
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--soak-seconds", type=float, default=60, help="issue 10: 300")
    parser.add_argument("--rate", type=float, default=50, help="presses a second")
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=60,
        help="presses before growth is measured: the first minute fills SQLite's page cache and "
        "the allocator's pools with the working set; growth after it is what a leak shows",
    )
    a = parser.parse_args()
    asyncio.run(main(a.fieldworkers, a.bookings, a.soak_seconds, a.rate, a.warmup_seconds))
