"""Integration tests of the Telegram/Twilio emulators and the aiohttp PTB request backend.

The emulators are exercised with the real clients: ``telegram.Bot`` over
:class:`notifications.telegram_transport.AiohttpRequest`, and the twilio SDK over aiohttp.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter  # no public builder
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from emulators import (
    BOT_USER,
    TelegramEmulator,
    TwilioEmulator,
    make_callback_update,
    make_message_update,
    running,
)
from notifications.telegram_transport import AiohttpRequest

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz"
CHAT = 4242
ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "twilio-auth-token"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on int-valued time periods (e.g. RetryAfter.retry_after) unless opted in;
    # with filterwarnings=error the warning would replace the real exception.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    # twilio rewrites the host for edges/regions, which would mangle 127.0.0.1.
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)


@pytest.fixture
def tg() -> TelegramEmulator:
    return TelegramEmulator(token=TOKEN)


@pytest.fixture
async def tg_url(tg: TelegramEmulator) -> AsyncIterator[str]:
    async with running(tg.app) as url:
        yield url


@pytest.fixture
async def bot(tg_url: str) -> AsyncIterator[Bot]:
    bot = Bot(
        TOKEN,
        base_url=f"{tg_url}/bot",
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(),
    )
    async with bot:
        yield bot


@pytest.fixture
def sms() -> TwilioEmulator:
    return TwilioEmulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)


@pytest.fixture
async def sms_url(sms: TwilioEmulator) -> AsyncIterator[str]:
    async with running(sms.app) as url:
        yield url


async def _twilio_client(base_url: str, token: str = AUTH_TOKEN) -> Client:
    # async: AsyncTwilioHttpClient opens its aiohttp session in __init__ (needs the loop).
    # Domain.absolute_url() joins api.base_url with "2010-04-01/Accounts/...", so overriding
    # base_url is all it takes to route the SDK to the emulator.
    client = Client(ACCOUNT_SID, token, http_client=AsyncTwilioHttpClient())
    client.api.base_url = base_url
    return client


KEYBOARD = InlineKeyboardMarkup(
    [[InlineKeyboardButton("Accept", callback_data="accept:7")]],
)


# ---- Telegram via the real PTB Bot -----------------------------------------------------------


async def test_get_me_and_commands(bot: Bot, tg: TelegramEmulator) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (1000, "dispatch_test_bot", True)
    assert bot.username == "dispatch_test_bot"

    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("jobs", "My jobs")])
    commands = await bot.get_my_commands()
    assert [c.command for c in commands] == ["start", "jobs"]
    assert tg.commands()[1] == {"command": "jobs", "description": "My jobs"}
    assert tg.calls_of("getMe")[0].token == TOKEN


async def test_send_edit_answer_delete(bot: Bot, tg: TelegramEmulator) -> None:
    first = await bot.send_message(CHAT, "New job #7", reply_markup=KEYBOARD)
    second = await bot.send_message(CHAT, "second")
    other = await bot.send_message(CHAT + 1, "other chat")
    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert first.reply_markup == KEYBOARD
    assert first.from_user is not None and first.from_user.id == BOT_USER["id"]
    assert first.chat.id == CHAT and first.chat.type == "private"

    call = tg.calls_of("sendMessage")[0]
    assert call.params["chat_id"] == CHAT
    assert call.params["reply_markup"] == KEYBOARD.to_dict()
    assert tg.message(CHAT, 1)["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == (
        "accept:7"
    )

    edited = await bot.edit_message_text("Job #7 taken", chat_id=CHAT, message_id=1)
    assert not isinstance(edited, bool)
    assert edited.text == "Job #7 taken" and edited.edit_date is not None
    # Like Telegram, an edit without reply_markup drops the inline keyboard.
    assert "reply_markup" not in tg.message(CHAT, 1)

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Job #7 taken", chat_id=CHAT, message_id=1)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=CHAT, message_id=99)
    assert await bot.edit_message_text("inline", inline_message_id="abc") is True

    await bot.edit_message_reply_markup(chat_id=CHAT, message_id=1, reply_markup=KEYBOARD)
    assert tg.message(CHAT, 1)["reply_markup"] == KEYBOARD.to_dict()
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(chat_id=CHAT, message_id=1, reply_markup=KEYBOARD)

    assert await bot.answer_callback_query("4000000000000001", text="Accepted") is True
    assert tg.calls_of("answerCallbackQuery")[0].params == {
        "callback_query_id": "4000000000000001",
        "text": "Accepted",
    }

    assert await bot.delete_message(CHAT, 2) is True
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(CHAT, 2)
    assert [m["text"] for m in tg.chat_messages(CHAT)] == ["Job #7 taken"]
    failed = [c.method for c in tg.calls if c.failed]
    assert failed == [
        "editMessageText",
        "editMessageText",
        "editMessageReplyMarkup",
        "deleteMessage",
    ]


async def test_reply_keyboard_is_kept_in_state_not_echoed(bot: Bot, tg: TelegramEmulator) -> None:
    markup = ReplyKeyboardMarkup([[KeyboardButton("Share phone", request_contact=True)]])
    msg = await bot.send_message(CHAT, "Please share your phone", reply_markup=markup)
    assert msg.reply_markup is None  # Telegram only echoes inline keyboards
    state = tg.message(CHAT, msg.message_id)
    assert state["reply_markup"]["keyboard"][0][0]["request_contact"] is True


async def test_get_updates_long_poll_and_offset(bot: Bot, tg: TelegramEmulator) -> None:
    assert await bot.get_updates(timeout=0) == ()

    async def push_later() -> None:
        await asyncio.sleep(0.3)
        tg.push_update(make_message_update(tg.next_update_id(), 77, "/start hello"))

    pusher = asyncio.create_task(push_later())
    loop = asyncio.get_running_loop()
    started = loop.time()
    updates = await bot.get_updates(timeout=5)
    await pusher
    assert loop.time() - started < 3
    assert len(updates) == 1
    update = updates[0]
    assert update.update_id == 1
    assert update.message is not None and update.message.text == "/start hello"
    assert update.message.entities[0].type == "bot_command"
    assert update.message.entities[0].length == len("/start")

    tg.push_update(make_message_update(tg.next_update_id(), 77, "second"))
    again = await bot.get_updates(offset=1, timeout=0)
    assert [u.update_id for u in again] == [1, 2]
    confirmed = await bot.get_updates(offset=3, timeout=1)
    assert confirmed == ()
    assert tg.pending_updates == []
    assert tg.calls_of("getUpdates")[-1].params["timeout"] == 1


async def test_get_updates_conflicts_with_webhook(bot: Bot, tg: TelegramEmulator) -> None:
    await bot.set_webhook("https://example.invalid/tg", secret_token="s3cret")
    assert tg.webhook is not None
    assert (tg.webhook["url"], tg.webhook["secret_token"]) == (
        "https://example.invalid/tg",
        "s3cret",
    )
    info = await bot.get_webhook_info()
    assert info.url == "https://example.invalid/tg"
    with pytest.raises(Exception, match="webhook is active"):
        await bot.get_updates(timeout=0)
    await bot.delete_webhook(drop_pending_updates=True)
    assert tg.webhook is None
    assert (await bot.get_webhook_info()).url == ""


async def test_multipart_upload_is_decoded(bot: Bot, tg: TelegramEmulator) -> None:
    # A certificate makes PTB send multipart/form-data with JSON-encoded nested fields.
    await bot.set_webhook(
        "https://example.invalid/hook",
        certificate=b"-----BEGIN CERTIFICATE-----\nfake\n",
        allowed_updates=["message", "callback_query"],
        max_connections=5,
    )
    assert tg.webhook is not None
    assert tg.webhook["allowed_updates"] == ["message", "callback_query"]
    assert tg.webhook["max_connections"] == 5
    assert tg.webhook["certificate"]["content"].startswith(b"-----BEGIN")


async def test_injected_429_and_500(bot: Bot, tg: TelegramEmulator) -> None:
    tg.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as excinfo:
        await bot.send_message(CHAT, "hi")
    assert excinfo.value.retry_after == dtm.timedelta(seconds=3)

    tg.fail_next("sendMessage", status=500, count=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(CHAT, "hi")
    msg = await bot.send_message(CHAT, "hi")
    assert msg.message_id == 1  # failed calls did not create messages

    assert [(c.failed, c.status) for c in tg.calls_of("sendMessage")] == [
        (True, 429),
        (True, 500),
        (True, 500),
        (False, 200),
    ]
    ok = await tg.wait_for("sendMessage")
    assert len(ok) == 1


async def test_wrong_token_rejected(tg_url: str, tg: TelegramEmulator) -> None:
    bad = Bot("999:wrong", base_url=f"{tg_url}/bot", request=AiohttpRequest())
    with pytest.raises(InvalidToken):
        async with bad:
            pass
    assert tg.calls[-1].token == "999:wrong"
    assert (tg.calls[-1].method, tg.calls[-1].status, tg.calls[-1].failed) == ("getMe", 401, True)


async def test_raw_http_formats(tg_url: str, tg: TelegramEmulator) -> None:
    url = f"{tg_url}/bot{TOKEN}"
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    async with aiohttp.ClientSession() as http:
        # JSON body with reply_markup JSON-encoded as a string, as some clients send it.
        async with http.post(
            f"{url}/sendMessage",
            json={"chat_id": str(CHAT), "text": "json", "reply_markup": json.dumps(markup)},
        ) as resp:
            body = await resp.json()
        assert resp.status == 200 and body["ok"] is True
        assert body["result"]["reply_markup"] == markup
        assert tg.calls[-1].params == {"chat_id": CHAT, "text": "json", "reply_markup": markup}

        # urlencoded: numeric-looking text stays a string
        async with http.post(f"{url}/sendMessage", data={"chat_id": CHAT, "text": "123"}) as resp:
            body = await resp.json()
        assert body["result"]["text"] == "123" and body["result"]["message_id"] == 2

        async with http.post(f"{url}/sendMessage", data={"chat_id": CHAT, "text": " "}) as resp:
            assert resp.status == 400
            assert (await resp.json())["description"] == "Bad Request: message text is empty"

        async with http.post(f"{url}/noSuchMethod", json={}) as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        async with http.get(f"{url}/getMe") as resp:
            assert (await resp.json())["result"]["id"] == 1000
        async with http.post(f"{url}/getUpdates", json={"offset": "abc"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["description"].startswith("Bad Request: invalid parameter")
    assert tg.calls_of("noSuchMethod")[0].failed


async def test_update_builders_parse_as_ptb_updates(bot: Bot) -> None:
    msg_update = Update.de_json(
        make_message_update(
            5,
            77,
            None,
            username="fw77",
            contact={"phone_number": "+15550001", "user_id": 77},
            reply_to_message_id=3,
        ),
        bot,
    )
    assert msg_update.message is not None
    assert msg_update.message.contact is not None
    assert msg_update.message.contact.phone_number == "+15550001"
    assert msg_update.message.contact.user_id == 77
    assert msg_update.message.reply_to_message is not None
    assert msg_update.message.reply_to_message.message_id == 3
    assert msg_update.effective_user is not None
    assert msg_update.effective_user.username == "fw77"
    assert msg_update.effective_chat is not None and msg_update.effective_chat.id == 77

    group = Update.de_json(make_message_update(6, 77, "hi", chat_id=-100123), bot)
    assert group.effective_chat is not None and group.effective_chat.type == "supergroup"

    cb_update = Update.de_json(
        make_callback_update(7, 77, "accept:7", message_chat_id=77, message_id=1), bot
    )
    query = cb_update.callback_query
    assert query is not None and query.data == "accept:7"
    assert query.message is not None and query.message.message_id == 1
    assert query.message.is_accessible
    assert query.from_user.id == 77


async def test_wait_for_times_out_with_call_log(bot: Bot, tg: TelegramEmulator) -> None:
    await bot.send_message(CHAT, "only one")
    with pytest.raises(AssertionError, match="sendMessage"):
        await tg.wait_for("sendMessage", timeout=0.2, count=2)
    calls = await tg.wait_for(lambda calls: any(c.method == "getMe" for c in calls), timeout=1)
    assert calls[0].method == "getMe"


async def test_concurrent_sends_share_a_small_pool(tg_url: str, tg: TelegramEmulator) -> None:
    request = AiohttpRequest(connection_pool_size=4)
    async with Bot(TOKEN, base_url=f"{tg_url}/bot", request=request) as bot:
        sent = await asyncio.gather(*(bot.send_message(CHAT, f"m{i}") for i in range(60)))
    assert sorted(m.message_id for m in sent) == list(range(1, 61))
    assert len(tg.chat_messages(CHAT)) == 60


async def test_application_long_polling_end_to_end(tg_url: str, tg: TelegramEmulator) -> None:
    async def start(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Welcome", reply_markup=KEYBOARD)

    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{tg_url}/bot")
        .request(AiohttpRequest())
        .get_updates_request(AiohttpRequest())
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=5)
        await application.start()
        try:
            tg.push_update(make_message_update(tg.next_update_id(), 77, "/start"))
            (sent,) = await tg.wait_for("sendMessage", timeout=5)
        finally:
            await application.updater.stop()
            await application.stop()
    assert sent.params["chat_id"] == 77 and sent.params["text"] == "Welcome"
    assert tg.chat_messages(77)[0]["reply_markup"] == KEYBOARD.to_dict()
    assert tg.calls_of("deleteWebhook")  # PTB clears the webhook before polling


async def test_pending_long_poll_does_not_block_shutdown() -> None:
    tg = TelegramEmulator()
    loop = asyncio.get_running_loop()
    async with running(tg.app) as url:
        async with AiohttpRequest() as request:
            poll = asyncio.create_task(
                request.post(
                    f"{url}/bot{TOKEN}/getUpdates",
                    RequestData([RequestParameter.from_input("timeout", 50)]),
                    read_timeout=60,
                )
            )
            await asyncio.sleep(0.2)
            poll.cancel()
            with pytest.raises(asyncio.CancelledError):
                await poll
        started = loop.time()
    assert loop.time() - started < 2


# ---- AiohttpRequest directly -------------------------------------------------------------------


async def test_request_read_timeout_maps_to_timed_out(tg_url: str) -> None:
    url = f"{tg_url}/bot{TOKEN}/getUpdates"
    data = RequestData([RequestParameter.from_input("timeout", 5)])
    async with AiohttpRequest(read_timeout=0.2) as request:
        assert request.read_timeout == 0.2
        with pytest.raises(TimedOut):
            await request.post(url, data)
        # an explicit, longer read timeout (what PTB does for long polling) succeeds
        result = await request.post(
            url, RequestData([RequestParameter.from_input("timeout", 1)]), read_timeout=3
        )
        assert result == []


async def test_request_connection_error_maps_to_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AiohttpRequest(connect_timeout=2) as request:
        with pytest.raises(NetworkError) as excinfo:
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
        assert not isinstance(excinfo.value, TimedOut)
        assert "aiohttp." in str(excinfo.value)


async def test_request_lifecycle() -> None:
    request = AiohttpRequest()
    assert not request.is_initialized  # no session at construction
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/", "GET")
    await request.initialize()
    await request.initialize()  # idempotent
    assert request.is_initialized
    await request.shutdown()
    await request.shutdown()  # idempotent
    assert not request.is_initialized
    with pytest.raises(ValueError, match="connection_pool_size"):
        AiohttpRequest(connection_pool_size=0)


async def test_emulator_app_can_be_served_twice() -> None:
    tg = TelegramEmulator()
    for _ in range(2):
        async with running(tg.app) as url, AiohttpRequest() as request:
            data = RequestData([RequestParameter.from_input("timeout", 1)])
            started = asyncio.get_running_loop().time()
            assert await request.post(f"{url}/bot{TOKEN}/getUpdates", data) == []
            # the long poll really waited, i.e. the shutdown flag was reset on restart
            assert asyncio.get_running_loop().time() - started >= 0.9


async def test_running_serves_any_app() -> None:
    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application()
    app.router.add_get("/", hello)
    async with running(app) as url, aiohttp.ClientSession() as http, http.get(url) as resp:
        assert url.startswith("http://127.0.0.1:")
        assert await resp.text() == "hi"


# ---- Twilio via the real SDK -------------------------------------------------------------------


# twilio 9's AsyncTwilioHttpClient passes aiohttp.BasicAuth via ``auth=``; aiohttp 3.14
# deprecates both.  Silence exactly those two warnings (the project runs with -W error).
def _twilio_basicauth(func: Callable[..., Any]) -> Callable[..., Any]:
    func = pytest.mark.filterwarnings(
        "ignore:BasicAuth is deprecated:DeprecationWarning:twilio.http.async_http_client"
    )(func)
    return pytest.mark.filterwarnings(
        "ignore:The 'auth' parameter is deprecated:DeprecationWarning"
    )(func)


@_twilio_basicauth
async def test_twilio_create_and_fetch(sms_url: str, sms: TwilioEmulator) -> None:
    client = await _twilio_client(sms_url)
    try:
        message = await client.messages.create_async(
            to="+15550001111",
            from_="+15559990000",
            body="Job #7: reply YES to accept",
            status_callback="https://example.invalid/sms/status",
        )
        assert message.sid is not None and message.sid.startswith("SM") and len(message.sid) == 34
        assert message.status == "queued"
        assert message.direction == "outbound-api"
        assert message.account_sid == ACCOUNT_SID
        assert (message.to, message.from_, message.body) == (
            "+15550001111",
            "+15559990000",
            "Job #7: reply YES to accept",
        )
        assert message.num_segments == "1"
        assert isinstance(message.date_created, dtm.datetime)

        assert sms.messages == [
            {
                "sid": message.sid,
                "to": "+15550001111",
                "from": "+15559990000",
                "body": "Job #7: reply YES to accept",
                "status_callback": "https://example.invalid/sms/status",
                "messaging_service_sid": None,
                "media_url": [],
                "status": "queued",
            }
        ]
        assert (await sms.wait_for("+15550001111"))[0]["sid"] == message.sid

        sms.set_status(message.sid, "delivered")
        fetched = await client.messages(message.sid).fetch_async()
        assert fetched.status == "delivered" and fetched.date_sent is not None

        with pytest.raises(TwilioRestException) as excinfo:
            await client.messages("SM" + "f" * 32).fetch_async()
        assert excinfo.value.status == 404 and excinfo.value.code == 20404

        long_unicode = await client.messages.create_async(
            to="+15550001111", from_="+15559990000", body="é✓" * 40
        )
        assert long_unicode.num_segments == "2"
    finally:
        await client.http_client.close()


@_twilio_basicauth
async def test_twilio_errors(sms_url: str, sms: TwilioEmulator) -> None:
    bad = await _twilio_client(sms_url, token="wrong")
    client = await _twilio_client(sms_url)
    try:
        with pytest.raises(TwilioRestException) as excinfo:
            await bad.messages.create_async(to="+15550001111", from_="+1555", body="x")
        assert (excinfo.value.status, excinfo.value.code) == (401, 20003)

        with pytest.raises(TwilioRestException) as excinfo:
            await client.messages.create_async(to="+15550001111", from_="+1555")
        assert (excinfo.value.status, excinfo.value.code) == (400, 21602)
        with pytest.raises(TwilioRestException) as excinfo:
            await client.messages.create_async(to="", from_="+1555", body="x")
        assert (excinfo.value.status, excinfo.value.code) == (400, 21604)

        sms.fail_next(status=500)
        sms.fail_next(status=429)
        with pytest.raises(TwilioRestException) as excinfo:
            await client.messages.create_async(to="+15550001111", from_="+1555", body="x")
        assert excinfo.value.status == 500
        with pytest.raises(TwilioRestException) as excinfo:
            await client.messages.create_async(to="+15550001111", from_="+1555", body="x")
        assert (excinfo.value.status, excinfo.value.code) == (429, 20429)

        ok = await client.messages.create_async(
            to="+15550001111", messaging_service_sid="MG" + "1" * 32, body="via service"
        )
        assert ok.status == "accepted" and ok.from_ is None
        assert [m["body"] for m in sms.messages] == ["via service"]
        assert [r["status"] for r in sms.requests] == [401, 400, 400, 500, 429, 201]
        with pytest.raises(AssertionError, match="429"):
            await sms.wait_for(lambda msgs: len(msgs) > 1, timeout=0.1)
    finally:
        await bad.http_client.close()
        await client.http_client.close()
