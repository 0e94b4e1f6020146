"""In-process HTTP emulators of the Telegram Bot API and the Twilio Messages API.

Both emulators are plain :class:`aiohttp.web.Application` objects that speak the real wire
formats, so the production clients (python-telegram-bot with
:class:`notifications.telegram_transport.AiohttpRequest`, the twilio SDK) can be pointed at them
unchanged. They are used by the test suite, the benchmarks and ``dispatchbot demo`` (offline).

Typical use::

    tg = TelegramEmulator(token=TOKEN)
    async with running(tg.app) as tg_url:
        bot = telegram.Bot(TOKEN, base_url=f"{tg_url}/bot", request=AiohttpRequest())
        ...
        await tg.wait_for("sendMessage")

Everything runs on the caller's event loop and binds to 127.0.0.1 only. `emulators.smtp.SmtpSink`
is the mail server (real SMTP, on aiosmtpd) behind `SMTP_URL` in the demo and the tests.
"""

from emulators.common import BOT_USER, running
from emulators.telegram import Call, TelegramEmulator
from emulators.telegram_limits import TelegramLimits
from emulators.twilio import TwilioEmulator
from emulators.updates import make_callback_update, make_message_update

__all__ = [
    "BOT_USER",
    "Call",
    "TelegramEmulator",
    "TelegramLimits",
    "TwilioEmulator",
    "make_callback_update",
    "make_message_update",
    "running",
]
