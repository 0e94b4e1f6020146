"""How fast a button press is answered: `dispatchbot run` against a stock PTB bot, in one run.

    python bench/bench_press.py [--bookings 100] [--workers 5] [--concurrency 32]
                                [--single 100] [--pg postgres://postgres@127.0.0.1:5432/bench_press]
                                [--no-pg] [--no-stock] [--no-sqlite] [--sqlite-options OPTS]
                                [--baseline CHECKOUT] [--profile DIR]

Each system runs as its own process against the Bot API emulator (in this process), which plays
Telegram: it delivers each press to the webhook, runs a Bot API method the bot puts in its answer,
and records when every `answerCallbackQuery` arrives. Measured from the moment a press is posted to
the arrival of its answer.

dispatchbot is set up through the REST API: a service, `--workers` fieldworkers reachable on
Telegram (their `telegram_user_id` is known), `--bookings` bookings each broadcast to all of them.
Then every fieldworker presses Accept on every request, in random order, `--concurrency` at once:
the first accept of each job wins, the others are told it is taken, and the other request messages
are edited by the outbox meanwhile. Before that, `--single` presses one at a time (on bookings of
their own) give the unloaded latency. The stock bot (`bench/stock_bot.py`) gets the same number of
presses on messages of its own, and answers and edits each inside the webhook request.

Figures only, nothing asserted; compare runs on the same machine. `--profile DIR` attaches `py-spy
record` (when installed) to dispatchbot during the loaded pass and leaves its collapsed stacks per
backend in DIR (`press-sqlite.txt`, `press-postgres.txt`; a baseline's end `-baseline.txt`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from press_driver import SECRET, Answers, Figures, Press, free_port, press_all, stop, wait_listening

from emulators import TelegramEmulator, running

TOKEN = "123456:BENCH-token"
API_TOKEN = "bench-api-token"
FIRST_USER = 700_001
ROOT = Path(__file__).resolve().parent.parent


# -- the stock bot ---------------------------------------------------------------------------


async def bench_stock(presses: int, single: int, concurrency: int) -> tuple[Figures, Figures]:
    """The stock bot: `single` presses one at a time, then `presses` at `concurrency`."""
    emu = TelegramEmulator()
    answers = Answers(emu)
    async with running(emu.app) as tg_url:
        port = free_port()
        proc = subprocess.Popen(  # noqa: ASYNC220 - outlives this call, stopped below
            [
                *(sys.executable, str(ROOT / "bench" / "stock_bot.py"), "--port", str(port)),
                *("--base-url", f"{tg_url}/bot", "--token", TOKEN),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            await wait_listening(port, proc)
            targets: list[Press] = []
            async with aiohttp.ClientSession() as http:
                for i in range(presses + single):
                    user = FIRST_USER + i % 5
                    keyboard = {
                        "inline_keyboard": [[{"text": "Accept", "callback_data": f"a:{i}"}]]
                    }
                    async with http.post(
                        f"{tg_url}/bot{TOKEN}/sendMessage",
                        json={"chat_id": user, "text": f"job {i}", "reply_markup": keyboard},
                    ) as resp:
                        sent = (await resp.json())["result"]
                    targets.append(Press(user, f"a:{i}", user, sent["message_id"]))
            webhook = f"http://127.0.0.1:{port}/telegram/webhook"
            one = await press_all(emu, answers, webhook, targets[:single], 1, 1)
            many = await press_all(emu, answers, webhook, targets[single:], concurrency, 10_000)
        finally:
            stop(proc)
    return one, many


# -- dispatchbot -----------------------------------------------------------------------------


async def reset_postgres(url: str) -> None:
    """Create the benchmark's own database if missing, and empty it."""
    import asyncpg  # type: ignore[import-untyped]

    dsn = url.replace("postgres://", "postgresql://", 1)
    name = dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@asynccontextmanager
async def dispatchbot(
    database_url: str, tg_url: str, workdir: Path, label: str, code: Path | None = None
) -> AsyncIterator[tuple[str, int]]:
    """`dispatchbot run` in webhook mode against the emulator; yields its base URL and pid."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TELEGRAM_"))},
        "DATABASE_URL": database_url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "PUBLIC_URL": base,
        "API_TOKEN": API_TOKEN,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"{tg_url}/bot",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TIMEZONE": "UTC",
    }
    if code is not None:  # another checkout's code (a baseline), ahead of the installed one
        env["PYTHONPATH"] = str(code)
    command = [sys.executable, "-m", "bot", "run"]
    log = open(workdir / f"dispatchbot-{label}.log", "wb")  # noqa: SIM115, ASYNC230
    proc = subprocess.Popen(  # noqa: ASYNC220 - outlives this call, stopped below
        command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        await wait_listening(port, proc)
        yield base, proc.pid
    finally:
        stop(proc)
        log.close()


@asynccontextmanager
async def profiled(pid: int, out: Path | None) -> AsyncIterator[None]:
    """`py-spy record` attached to `pid` for the block (when `out` is given and py-spy exists)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if out is None or not os.path.exists(spy):  # noqa: ASYNC240 - once
        yield
        return
    os.makedirs(out.parent, exist_ok=True)
    command = [spy, "record", "--format", "raw", "--rate", "250", "--pid", str(pid)]
    proc = subprocess.Popen(  # noqa: ASYNC220 - stopped below
        [*command, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    await asyncio.sleep(1)  # attached
    try:
        yield
    finally:
        stop(proc, signal.SIGINT)  # py-spy writes its profile on SIGINT


async def setup(base: str, emu: TelegramEmulator, workers: int, bookings: int) -> list[Press]:
    """Through the REST API: a service, fieldworkers, bookings; returns every Accept button."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with aiohttp.ClientSession(base_url=base, headers=headers) as http:

        async def call(method: str, path: str, body: Any) -> Any:
            async with http.request(method, f"/api/v1{path}", json=body) as resp:
                answer = await resp.json()
                if resp.status >= 300:
                    raise RuntimeError(f"{method} {path}: {resp.status} {answer}")
                return answer

        await call("PUT", "/settings", {"dispatch_mode": "auto"})
        await call("POST", "/services", {"code": "plumb", "name": "Plumbing"})
        for i in range(workers):
            await call(
                "POST",
                "/fieldworkers",
                {
                    "name": f"Worker {i}",
                    "phone": f"+49151100{i:05d}",
                    "telegram_user_id": FIRST_USER + i,
                    "channels": ["telegram"],
                    "services": ["plumb"],
                    "base_location": {"lat": 52.52, "lon": 13.40},
                    "working_hours": None,
                    "timezone": "Europe/Berlin",
                    "status": "active",
                },
            )
    return await setup_bookings(base, emu, workers, bookings, 0)


def accept_buttons(emu: TelegramEmulator, workers: int) -> list[Press]:
    """Every live Accept button in the fieldworkers' chats."""
    found = []
    for user in range(FIRST_USER, FIRST_USER + workers):
        for message in emu.chat_messages(user):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if str(button.get("text", "")).startswith("Accept"):
                        found.append(
                            Press(user, button["callback_data"], user, message["message_id"])
                        )
    return found


async def bench_dispatchbot(
    database_url: str, args: argparse.Namespace, label: str, code: Path | None = None
) -> tuple[Figures, Figures]:
    """dispatchbot on one backend: the single presses, then every Accept at `concurrency`."""
    emu = TelegramEmulator()
    answers = Answers(emu)
    workers, single_bookings = args.workers, -(-args.single // args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        if database_url == "sqlite":
            options = f"?{args.sqlite_options}" if args.sqlite_options else ""
            database_url = f"sqlite://{tmp}/bench.sqlite3{options}"
        else:
            await reset_postgres(database_url)
        async with (
            running(emu.app) as tg_url,
            dispatchbot(database_url, tg_url, Path(tmp), label, code) as (base, pid),
        ):
            webhook = f"{base}/telegram/webhook"
            first = await setup(base, emu, workers, single_bookings)
            random.Random(3).shuffle(first)
            one = await press_all(emu, answers, webhook, first[: args.single], 1, 1)
            await settle(emu)
            before = {(p.chat_id, p.message_id) for p in first}
            more = await setup_bookings(base, emu, workers, args.bookings, single_bookings)
            presses = [p for p in more if (p.chat_id, p.message_id) not in before]
            random.Random(7).shuffle(presses)
            out = args.profile / f"press-{label}.txt" if args.profile else None
            async with profiled(pid, out):
                many = await press_all(emu, answers, webhook, presses, args.concurrency, 100_000)
            await settle(emu)
            if args.keep_log:
                keep = Path(f"{args.keep_log}.baseline") if code is not None else args.keep_log
                shutil.copy(Path(tmp) / f"dispatchbot-{label}.log", keep)
    return one, many


async def setup_bookings(
    base: str, emu: TelegramEmulator, workers: int, bookings: int, offset: int
) -> list[Press]:
    """`bookings` more bookings, starting after the first `offset`; returns every Accept."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    day = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
    async with aiohttp.ClientSession(base_url=base, headers=headers) as http:
        for b in range(offset, offset + bookings):
            start = day + timedelta(days=2, hours=3 * b)
            body = {
                "customer": {"name": f"Customer {b}", "phone": None, "email": None},
                "address": f"Street {b}, Berlin",
                "location": {"lat": 52.52, "lon": 13.41},
                "services": ["plumb"],
                "appointments": [
                    {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}
                ],
            }
            async with http.post("/api/v1/bookings", json=body) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"POST /bookings: {resp.status} {await resp.text()}")
    await emu.wait_for(lambda _calls: len(accept_buttons(emu, workers)) >= workers * bookings, 300)
    return accept_buttons(emu, workers)


async def settle(emu: TelegramEmulator, quiet: float = 1.0) -> None:
    """Until the emulator has seen no call for `quiet` seconds (the outbox is drained)."""
    while True:
        count = len(emu.calls)
        await asyncio.sleep(quiet)
        if len(emu.calls) == count:
            return


async def main(args: argparse.Namespace) -> None:
    """Run every system and print the figures and ratios."""
    total = args.bookings * args.workers
    print(
        f"press -> answerCallbackQuery: {total} accepts over {args.bookings} bookings x "
        f"{args.workers} fieldworkers, {args.concurrency} concurrent; {args.single} one at a time"
    )
    if args.no_stock:
        stock_one = stock = Figures(1, 1.0, [1.0], 0)  # ratios meaningless
    else:
        stock_one, stock = await bench_stock(total, args.single, args.concurrency)
        print(stock_one.line("stock, one at a time"))
        print(stock.line(f"stock, {args.concurrency} concurrent"))
        print(f"stock, slowest at {args.concurrency}: {stock.slowest()}")
    backends = [] if args.no_sqlite else [("sqlite", "sqlite")]
    backends += [] if args.no_pg else [("postgres", args.pg)]
    runs: list[tuple[str, str, Path | None]] = [(label, url, None) for label, url in backends]
    if args.baseline is not None:
        runs += [(f"{label} (baseline)", url, args.baseline) for label, url in backends]
    for label, url, code in runs:
        # Files of its own per pass (`press-sqlite-baseline.txt`, a log ending `.baseline`).
        tag = label.split()[0] + ("-baseline" if code is not None else "")
        one, many = await bench_dispatchbot(url, args, tag, code)
        print(one.line(f"{label}, one at a time"))
        print(many.line(f"{label}, {args.concurrency} conc."))
        print(f"{label}, slowest at {args.concurrency}: {many.slowest()}")
        print(
            f"{label}: {many.rate / stock.rate:.2f}x stock presses/s; p99 {many.pct(99):.0f} ms "
            f"vs stock {stock.pct(99):.0f} ms; one at a time p50 {one.pct(50):.1f} ms vs stock "
            f"{stock_one.pct(50):.1f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=100)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--single", type=int, default=100)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/bench_press")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-stock", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--sqlite-options", default="", help="appended to the SQLite URL, e.g. synchronous=NORMAL"
    )
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--keep-log", type=Path, default=None)
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="also run dispatchbot from this checkout (e.g. the main branch) for a before/after",
    )
    asyncio.run(main(parser.parse_args()))
