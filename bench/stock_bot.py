"""The yardstick of `bench_press.py`: a stock python-telegram-bot 22 bot inside aiohttp.

PTB's default transport (httpx), no database; its callback handler answers the query and edits the
message inside the webhook request, as PTB's `customwebhookbot` example would:

    python bench/stock_bot.py --port 8099 --base-url http://127.0.0.1:9000/bot --token 1:T

Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes


async def on_press(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the press, then edit the message: two Bot API calls."""
    query = update.callback_query
    assert query is not None
    await query.answer("✅ The job is yours!")
    await query.edit_message_text("Accepted.")


async def serve(port: int, base_url: str, token: str) -> None:
    """Run the bot's webhook on 127.0.0.1:`port` until a signal arrives."""
    application = Application.builder().token(token).base_url(base_url).updater(None).build()
    application.add_handler(CallbackQueryHandler(on_press))

    async def webhook(request: web.Request) -> web.Response:
        update = Update.de_json(await request.json(), application.bot)
        await application.process_update(update)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/telegram/webhook", webhook)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with application:
        await application.start()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("stock bot ready", flush=True)
        await stop.wait()
        await runner.cleanup()
        await application.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.base_url, args.token))
