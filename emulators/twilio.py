"""Twilio Messages API emulator: the real paths, Basic auth, status callbacks, injected faults."""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from emulators.common import JSONDict, _Fault, _Holds, _poll_until, _Resets, reset_connection

# --------------------------------------------------------------------------------------------
# Twilio
# --------------------------------------------------------------------------------------------

_TWILIO_API = "/2010-04-01"
_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def _num_segments(body: str) -> int:
    """SMS segment count: GSM-7 160/153 septets, else UCS-2 70/67 code units."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in body):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


def _basic_auth(header: str) -> tuple[str, str] | None:
    """Decode an ``Authorization: Basic …`` header (aiohttp's BasicAuth is deprecated)."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, password = decoded.partition(":")
    return (login, password) if sep else None


def _twilio_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


class TwilioEmulator:
    """Emulates Twilio's Messages API (``/2010-04-01/Accounts/{sid}/Messages.json``).

    Point the SDK at it with ``client.api.base_url = base_url`` (see the tests).

    Attributes:
        app: The aiohttp application.
        messages: Successfully created messages, in order: dicts with ``sid``, ``to``,
            ``from``, ``body``, ``status_callback``, ``messaging_service_sid``, ``media_url``.
        requests: Every request answered (``method``, ``path``, ``params``, ``status``, and
            ``at``: its arrival, ``time.monotonic()``), in the order answered.
    """

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None) -> None:
        """Create the emulator.

        Args:
            account_sid: If given (with ``auth_token``), basic auth must match, else 401 (20003).
            auth_token: The account's auth token.
        """
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[JSONDict] = []
        self.requests: list[JSONDict] = []
        self._resources: dict[str, JSONDict] = {}
        self._faults: list[_Fault] = []
        self._holds = _Holds()
        self._late = _Holds()  # answers held after the message was created
        self._resets = _Resets()
        self.app = web.Application()
        self.app.on_shutdown.append(self._on_shutdown)
        base = _TWILIO_API + "/Accounts/{account_sid}/Messages"
        self.app.router.add_post(base + ".json", self._create)
        self.app.router.add_get(base + ".json", self._list)
        self.app.router.add_get(base + "/{message_sid}.json", self._fetch)

    # ---- test helpers -----------------------------------------------------------------------

    def fail_next(self, status: int = 500, count: int = 1, retry_after: int = 1) -> None:
        """Make the next ``count`` message creations fail with ``status`` (429, 500, 502, 503).

        The message is not created.

        Args:
            status: HTTP status to answer with.
            count: Number of consecutive creations to fail.
            retry_after: Value of the ``Retry-After`` header sent with 429.
        """
        self._faults.append(_Fault(status, count, retry_after, None))

    def delay_next(self, seconds: float, count: int = 1, *, after_acting: bool = False) -> None:
        """Answer the next ``count`` message creations only after ``seconds`` (a slow provider).

        A long delay is a hung provider: the request waits until then, until :meth:`release`, or
        until the emulator shuts down. By default the request is held before anything happens
        (what it answers afterwards is decided as usual); ``after_acting`` creates the message
        first and holds only the answer (a client that times out never learns its SID).
        """
        (self._late if after_acting else self._holds).add(seconds, count)

    def reset_next(self, count: int = 1, *, after_acting: bool = True) -> None:
        """Drop the next ``count`` message creations with a connection reset, answering nothing.

        ``after_acting``: the message is created first (the client cannot know it was).
        """
        self._resets.add(count, after_acting)

    @property
    def held(self) -> int:
        """Message creations being held by :meth:`delay_next` right now."""
        return self._holds.held + self._late.held

    def release(self) -> None:
        """Answer every held request now; delays not yet used are dropped."""
        self._holds.release()
        self._late.release()

    def messages_to(self, to: str) -> list[JSONDict]:
        """Created messages addressed to one number."""
        return [m for m in self.messages if m["to"] == to]

    def set_status(self, sid: str, status: str) -> None:
        """Change a message's status as later seen by ``GET …/Messages/{sid}.json``."""
        resource = self._resources[sid]
        resource["status"] = status
        resource["date_updated"] = email.utils.format_datetime(datetime.now(UTC))
        if status in ("sent", "delivered"):
            resource["date_sent"] = resource["date_updated"]
        for message in self.messages:
            if message["sid"] == sid:
                message["status"] = status

    async def wait_for(
        self,
        predicate: Callable[[list[JSONDict]], bool] | str,
        timeout: float = 10.0,  # noqa: ASYNC109 - test-helper API, mirrors asyncio.wait_for
        *,
        count: int = 1,
    ) -> list[JSONDict]:
        """Wait until the created messages satisfy a condition.

        Args:
            predicate: Callable over :attr:`messages`, or a phone number meaning "at least
                ``count`` messages to that number".
            timeout: Seconds before giving up.
            count: Only for a phone number: number of messages to wait for.

        Returns:
            For a phone number, the messages to it; otherwise all messages.

        Raises:
            AssertionError: On timeout, listing the last requests.
        """
        if isinstance(predicate, str):
            to = predicate
            await _poll_until(lambda: len(self.messages_to(to)) >= count, timeout, self._describe)
            return self.messages_to(to)
        func = predicate
        await _poll_until(lambda: func(self.messages), timeout, self._describe)
        return list(self.messages)

    def _describe(self) -> str:
        last = self.requests[-15:]
        lines = "\n  ".join(
            f"{r['method']} {r['path']} -> {r['status']} {json.dumps(r['params'])[:200]}"
            for r in last
        )
        return f"{len(self.messages)} SMS created; last requests:\n  {lines or '(none)'}"

    # ---- HTTP -------------------------------------------------------------------------------

    def _check_auth(self, request: web.Request) -> web.Response | None:
        auth = _basic_auth(request.headers.get("Authorization", ""))
        if auth is None:
            return _twilio_error(401, 20003, "Authenticate")
        login, password = auth
        if self.account_sid is not None and (
            login != self.account_sid or password != (self.auth_token or "")
        ):
            return _twilio_error(401, 20003, "Authenticate")
        if request.match_info["account_sid"] != login:
            return _twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return None

    def _record(
        self, request: web.Request, params: JSONDict, response: web.Response, at: float
    ) -> None:
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "params": params,
                "status": response.status,
                "at": at,
            }
        )

    async def _on_shutdown(self, _app: web.Application) -> None:
        self.release()  # a hung request must not hold the server's shutdown

    async def _create(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        form = await request.post()
        delay = self._holds.take()
        if delay is not None:
            await self._holds.hold(delay)
        params: JSONDict = {k: v for k, v in form.items() if isinstance(v, str)}
        media_urls = [v for v in form.getall("MediaUrl", []) if isinstance(v, str)]
        reset = self._resets.take()
        if reset is False:
            self._record(request, params, web.Response(status=599), at)
            reset_connection(request)  # before acting: nothing was created
            return web.Response(status=599)
        response = self._check_auth(request) or self._take_fault() or self._validate(params)
        if response is None:
            response = self._store(request.match_info["account_sid"], params, media_urls)
        self._record(request, params, response, at)
        if reset:
            reset_connection(request)  # the message exists; the client never hears of it
            return response
        late = self._late.take()
        if late is not None:
            await self._late.hold(late)
        return response

    def _take_fault(self) -> web.Response | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.pop(0)
        if fault.status == 429:
            response = _twilio_error(429, 20429, "Too Many Requests")
            response.headers["Retry-After"] = str(fault.retry_after)
            return response
        if fault.status == 503:
            return _twilio_error(503, 20503, "Service Unavailable")
        return _twilio_error(fault.status, 20500, "An internal server error has occurred")

    @staticmethod
    def _validate(params: JSONDict) -> web.Response | None:
        if not params.get("To"):
            return _twilio_error(400, 21604, "A 'To' phone number is required.")
        if not params.get("From") and not params.get("MessagingServiceSid"):
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        if not params.get("Body") and not params.get("MediaUrl") and not params.get("ContentSid"):
            return _twilio_error(400, 21602, "Message body is required.")
        return None

    def _store(self, account_sid: str, params: JSONDict, media_urls: list[str]) -> web.Response:
        sid = "SM" + secrets.token_hex(16)
        now = email.utils.format_datetime(datetime.now(UTC))
        body = params.get("Body", "")
        service_sid = params.get("MessagingServiceSid")
        from_ = params.get("From")
        uri = f"{_TWILIO_API}/Accounts/{account_sid}/Messages/{sid}.json"
        resource: JSONDict = {
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": service_sid,
            "num_media": str(len(media_urls)),
            "num_segments": str(_num_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if from_ else "accepted",
            "subresource_uris": {
                "media": f"{_TWILIO_API}/Accounts/{account_sid}/Messages/{sid}/Media.json"
            },
            "to": params["To"],
            "uri": uri,
        }
        self._resources[sid] = resource
        self.messages.append(
            {
                "sid": sid,
                "to": params["To"],
                "from": from_,
                "body": body,
                "status_callback": params.get("StatusCallback"),
                "messaging_service_sid": service_sid,
                "media_url": media_urls,
                "status": resource["status"],
            }
        )
        return web.json_response(resource, status=201)

    async def _list(self, request: web.Request) -> web.Response:
        """Twilio's Messages list, newest first, filtered by ``To`` and ``From``, one page."""
        at = time.monotonic()
        response = self._check_auth(request)
        if response is None:
            account = request.match_info["account_sid"]
            query = request.query
            try:
                page_size = min(max(int(query.get("PageSize", "50")), 1), 1000)
            except ValueError:
                page_size = 50
            found = [
                r
                for r in reversed(self._resources.values())
                if r["account_sid"] == account
                and ("To" not in query or r["to"] == query["To"])
                and ("From" not in query or r["from"] == query["From"])
            ][:page_size]
            uri = f"{_TWILIO_API}/Accounts/{account}/Messages.json"
            response = web.json_response(
                {
                    "messages": found,
                    "end": max(len(found) - 1, 0),
                    "first_page_uri": f"{uri}?PageSize={page_size}&Page=0",
                    "next_page_uri": None,
                    "page": 0,
                    "page_size": page_size,
                    "previous_page_uri": None,
                    "start": 0,
                    "uri": f"{uri}?PageSize={page_size}&Page=0",
                }
            )
        self._record(request, dict(request.query), response, at)
        return response

    async def _fetch(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        response = self._check_auth(request)
        if response is None:
            resource = self._resources.get(request.match_info["message_sid"])
            if resource is None or resource["account_sid"] != request.match_info["account_sid"]:
                response = _twilio_error(
                    404, 20404, f"The requested resource {request.path} was not found"
                )
            else:
                response = web.json_response(resource)
        self._record(request, dict(request.query), response, at)
        return response
