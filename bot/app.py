"""The composition root: builds the aiohttp application with every adapter wired in.

`build_app(config)` is the one place that reads configuration and creates clients; nothing touches
the network at import. Start-up order: database (schema), roles and owners, Telegram (PTB with
`.updater(None)` inside our server), Twilio, outbox sender, scheduler, then webhook or polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from typing import Any, cast

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.config import Config
from bot.context import CTX, AppContext
from bot.inbound import ReplyingRequest, TelegramIntake, poll_updates
from bot.sweep import start_scheduler
from models import tables as t
from models.access import bootstrap_owners, ensure_default_roles
from models.db import check_writable, close_db, init_db
from models.inbound import unstorable
from models.transactions import Transactions
from notifications import template_store
from notifications.email_transport import SmtpSettings
from notifications.links import LinkSigner, derive_key
from notifications.metrics import refresh_outbox_gauges
from notifications.render import OutboxRenderer
from notifications.sender import PROVIDER_TIMEOUT, OutboxSender
from rest.routing import loads_bounded

log = logging.getLogger(__name__)

HEALTH_TIMEOUT = 3.0  # seconds; a load balancer's own check usually gives up at 5


def _public(config: Config, path: str) -> str | None:
    return config.public_url.rstrip("/") + path if config.public_url else None


def build_telegram(config: Config, app_ctx: AppContext) -> Any:
    """The PTB application on our aiohttp transport, with every handler registered."""
    from telegram.ext import ApplicationBuilder

    from admin_commands import telegram as admin
    from admin_commands.invocation import StaffContext
    from handlers import telegram as fieldworker_chat
    from handlers.context import ChatContext
    from notifications.telegram_bot import AnswerOnceBot
    from notifications.telegram_transport import AiohttpRequest

    bot = AnswerOnceBot(  # answers each callback query once, even across a crash
        config.telegram_bot_token or "",
        base_url=config.telegram_api_base_url,
        # A press answered while its webhook request is open answers in that request's body.
        request=ReplyingRequest(connection_pool_size=32),
        get_updates_request=AiohttpRequest(connection_pool_size=2, read_timeout=40.0),
    )
    application = ApplicationBuilder().bot(bot).updater(None).build()
    tz = config.timezone
    admin.register(application, StaffContext(tx=app_ctx.tx, timezone=tz))
    fieldworker_chat.register(application, ChatContext(tx=app_ctx.tx, timezone=tz))
    return application


def build_twilio(config: Config) -> Any:
    """The twilio client on its aiohttp transport, pointed at TWILIO_API_BASE_URL."""
    from twilio.rest import Client

    from notifications.twilio_transport import TwilioHttpClient

    client = Client(
        config.twilio_account_sid,
        config.twilio_auth_token,
        # Bounds every call (the stock client ignores its own timeout) and keeps Retry-After.
        http_client=TwilioHttpClient(timeout=PROVIDER_TIMEOUT),
    )
    client.api.base_url = config.twilio_api_base_url.rstrip("/")
    return client


def malformed(update: Any) -> str | None:
    """What in a parsed Update has a shape Telegram never sends, or None when nothing has.

    PTB's `de_json` takes any JSON types as they come (a `"text": 12`, a message without its
    `chat`), and its filters and our handlers then fail on them. Checked: the message's chat and
    text, its command entities, a shared contact, the sender, and a button press's sender and data.
    A press without a message (on an inline message) is well formed.
    """
    message = update.effective_message
    if message is not None:
        chat = getattr(message, "chat", None)
        if chat is None or type(chat.id) is not int or not isinstance(chat.type, str):
            return "a message without a chat"
        if not isinstance(getattr(message, "text", None), str | None):
            return "text that is not a string"
        for entity in getattr(message, "entities", None) or ():
            if not (type(entity.offset) is int and type(entity.length) is int):
                return "an entity without an offset and length"
        contact = getattr(message, "contact", None)
        if contact is not None and not (
            isinstance(contact.phone_number, str) and isinstance(contact.user_id, int | None)
        ):
            return "a contact without a phone number"
    user = update.effective_user
    if user is not None and type(user.id) is not int:
        return "a sender without an id"
    query = update.callback_query
    if query is not None and (query.from_user is None or not isinstance(query.data, str | None)):
        return "a button press without a sender or with data that is not a string"
    return None


async def telegram_webhook(request: web.Request) -> web.Response:
    """POST /telegram/webhook: 401 on a wrong secret; 200 once the update is recorded.

    The update is processed while Telegram waits (bounded: `bot.inbound`), and a press's answer
    comes back in this response's body when it is known in time.
    """
    ctx = request.app[CTX]
    intake = ctx.intake
    secret = ctx.config.telegram_webhook_secret
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if intake is None:
        return web.json_response({"error": "telegram channel is off"}, status=404)
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return web.json_response({"error": "unauthorized"}, status=401)
    try:
        # Not `request.json()`: deep nesting raises RecursionError there (DESIGN, Known traps).
        payload = loads_bounded(await request.read())
        if not isinstance(payload, dict) or type(payload.get("update_id")) is not int:
            raise ValueError("no update_id")
        # NUL, ids beyond 64 bits: refused now, not failed at the insert (update_id is in range,
        # so its key fits the column).
        problem = unstorable(f"tg:{payload['update_id']}", payload)
        if problem is not None:
            raise ValueError(problem)
        # A body PTB cannot read, or whose parts our handlers read have the wrong shape, is
        # refused now, not failed (with a traceback, three times) later.
        update = intake.parse(payload)
        problem = malformed(update)
        if problem is not None:
            raise ValueError(problem)
    except Exception:  # any parse failure: malformed JSON, or not an Update
        return web.json_response({"error": "not a Telegram update"}, status=400)
    reply = await intake.answer(payload, update=update)
    return web.json_response(reply if reply is not None else {"ok": True})


async def healthz(_request: web.Request) -> web.Response:
    """200 when the database can be written (a write rolled back), 503 otherwise."""
    try:
        # Reads succeed while another process holds SQLite's write lock: only a write tells.
        await check_writable(HEALTH_TIMEOUT)
    except Exception as exc:
        log.warning("health check failed: %s", f"{type(exc).__name__}: {exc}")
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ok"})


async def metrics(_request: web.Request) -> web.Response:
    """Prometheus text exposition; the outbox's depth and oldest age are read now."""
    try:
        await refresh_outbox_gauges()
    except Exception as exc:  # a busy database must not hide the other series
        log.warning("outbox gauges not refreshed: %s", f"{type(exc).__name__}: {exc}")
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _smtp(config: Config, links: LinkSigner | None) -> SmtpSettings | None:
    """The SMTP settings when SMTP_URL is set; says at start when email links are off."""
    if not config.smtp_url:
        return None
    if links is None:
        log.warning(
            "email links are off: set LINK_SECRET (or API_TOKEN) to send job requests by email"
        )
    return SmtpSettings.from_url(config.smtp_url, config.smtp_sender)


def build_app(config: Config) -> web.Application:
    """The whole service as one aiohttp application (routes, start-up and clean-up)."""
    from handlers.context import CHAT, ChatContext
    from handlers.email_links import add_routes as add_link_routes
    from handlers.sms import sms_inbound, sms_status
    from rest.api import ApiContext, create_api

    secret = config.link_secret_value
    links = LinkSigner(derive_key(secret), config.link_base_url) if secret else None
    renderer = OutboxRenderer(
        telegram_enabled=config.telegram_enabled,
        sms_enabled=config.sms_enabled,
        company_timezone=config.timezone,
        email_enabled=config.email_requests_enabled,
        links=links,
        customer_email=config.email_enabled,
    )
    tx = Transactions(
        renderer,
        sms_enabled=config.sms_enabled,
        telegram_enabled=config.telegram_enabled,
        email_enabled=config.email_requests_enabled,
    )
    app_ctx = AppContext(config=config, tx=tx)
    app = web.Application(client_max_size=1024 * 1024)
    app[CTX] = app_ctx
    app[CHAT] = ChatContext(
        tx=tx,
        timezone=config.timezone,
        twilio_auth_token=config.twilio_auth_token,
        public_url=config.public_url,
        links=links,
    )
    add_link_routes(app)
    app.router.add_post("/telegram/webhook", telegram_webhook)
    app.router.add_post("/sms/inbound", sms_inbound)
    app.router.add_post("/sms/status", sms_status)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    api = ApiContext(tx=tx, timezone=config.timezone, api_token=config.api_token)
    app.add_subapp("/api/v1", create_api(api))

    async def lifecycle(_app: web.Application) -> Any:
        await init_db(config.database_url)
        await ensure_default_roles()
        await bootstrap_owners(config.telegram_admin_ids)
        await template_store.refresh()  # staff's templates, before the first message renders
        background: list[asyncio.Task[Any]] = []
        stop = asyncio.Event()
        bot = application = twilio = None
        if config.telegram_enabled:
            application = build_telegram(config, app_ctx)
            await application.initialize()
            await application.start()
            bot = application.bot
            intake = TelegramIntake(application)
            app_ctx.intake = intake
            app_ctx.bot = bot
            await _publish_commands(bot)
            if config.public_url:
                await bot.set_webhook(
                    _public(config, "/telegram/webhook"),
                    secret_token=config.telegram_webhook_secret,
                    allowed_updates=["message", "callback_query"],
                )
            else:
                await bot.delete_webhook()
                background.append(asyncio.create_task(poll_updates(bot, intake, stop)))
        if config.sms_enabled:
            twilio = build_twilio(config)
            app_ctx.twilio = twilio
        smtp = _smtp(config, links)
        sender = OutboxSender(
            bot=bot,
            twilio=twilio,
            twilio_from=config.twilio_from_number,
            smtp=smtp,
            status_callback_url=_public(config, "/sms/status"),
            telegram_paid_broadcast=config.telegram_paid_broadcast,
            telegram_chat_interval=config.telegram_chat_interval_s,
            tx=tx,
        )
        tx.on_commit = sender.wake
        sending = asyncio.create_task(sender.run())
        background.append(sending)

        scheduler = start_scheduler(app_ctx)
        log.info(
            "dispatchbot ready: telegram=%s (%s), sms=%s, email=%s",
            config.telegram_enabled,
            "webhook" if config.public_url else "polling",
            config.sms_enabled,
            config.email_enabled,
        )
        yield
        await scheduler.stop()  # before the sender and the database: no sweep is cut off
        stop.set()
        sender.stop()
        if app_ctx.intake is not None:
            await app_ctx.intake.drain()
        # The sender settles the rows it is sending (bounded calls) before the database closes;
        # cancelling it sooner left a send writing to a closed database.
        await asyncio.wait({sending}, timeout=PROVIDER_TIMEOUT + 2)
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if application is not None:
            await application.stop()
            await application.shutdown()
        if twilio is not None:
            await twilio.http_client.close()
        await close_db()

    app.cleanup_ctx.append(lifecycle)
    return app


async def _publish_commands(bot: Any) -> None:
    """The fieldworker menu for everyone; staff chats also list the admin commands."""
    from telegram import BotCommandScopeChat

    from admin_commands.commands import COMMANDS
    from handlers.telegram import FIELDWORKER_COMMANDS

    staff_menu = [("help", "Staff commands and how to use them")] + [
        (c.name, c.summary[:256]) for c in COMMANDS
    ]
    try:
        await bot.set_my_commands(FIELDWORKER_COMMANDS)
        staff = cast(
            "list[int]",
            await t.Staff.filter(telegram_user_id__not_isnull=True).values_list(
                "telegram_user_id", flat=True
            ),
        )
        for user_id in staff:
            await bot.set_my_commands(staff_menu, scope=BotCommandScopeChat(user_id))
    except Exception as exc:  # a cosmetic call must not stop the service
        log.warning("setMyCommands failed: %s", exc)
