"""Serve the Bot API and Twilio emulators on fixed local ports until interrupted.

    python -m emulators [--telegram-port 8081] [--twilio-port 8082]

Point a service at them with ``TELEGRAM_API_BASE_URL=http://127.0.0.1:8081/bot`` and
``TWILIO_API_BASE_URL=http://127.0.0.1:8082``. ``EMULATOR_TELEGRAM_LIMITS=true`` makes the Bot API
emulator enforce Telegram's rate limits (429 with ``retry_after`` beyond them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from aiohttp import web

from emulators import TelegramEmulator, TelegramLimits, TwilioEmulator


async def serve(telegram_port: int, twilio_port: int) -> None:
    """Serve both emulators on 127.0.0.1 until cancelled."""
    limits = TelegramLimits.from_env()
    runners = []
    for app, port in (
        (TelegramEmulator(limits=limits).app, telegram_port),
        (TwilioEmulator().app, twilio_port),
    ):
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
    print(
        f"Bot API emulator at http://127.0.0.1:{telegram_port}/bot "
        f"(Telegram's limits {'on' if limits else 'off'}), "
        f"Twilio emulator at http://127.0.0.1:{twilio_port}",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m emulators", description=__doc__)
    parser.add_argument("--telegram-port", type=int, default=8081)
    parser.add_argument("--twilio-port", type=int, default=8082)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.telegram_port, args.twilio_port))
