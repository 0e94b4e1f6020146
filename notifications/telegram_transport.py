"""python-telegram-bot networking backend on aiohttp.

PTB's default httpx transport degrades badly under many concurrent requests, and the rest of
the service already runs on aiohttp, so the bot talks to the Bot API through
:class:`AiohttpRequest` instead.  Pass one instance as ``request`` and a separate one as
``get_updates_request`` (to ``telegram.Bot`` or ``ApplicationBuilder().request(...)``).
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

__all__ = ["AiohttpRequest"]


def _add_timeouts(*parts: float | None) -> float | None:
    """Sum timeouts; unbounded (None) if any part is unbounded."""
    if any(part is None for part in parts):
        return None
    return float(sum(part for part in parts if part is not None))


class AiohttpRequest(BaseRequest):
    """:class:`telegram.request.BaseRequest` implemented with one :class:`aiohttp.ClientSession`.

    Timeouts map onto aiohttp as follows: ``connect_timeout`` -> ``sock_connect``,
    ``read_timeout`` -> ``sock_read`` (maximum silence between reads, so long polling works
    with PTB's ``read_timeout + timeout``), ``pool_timeout + connect_timeout`` -> ``connect``
    (aiohttp's bound on waiting for a free pooled connection plus connecting).  aiohttp has no
    per-write timeout, so ``write_timeout`` / ``media_write_timeout`` are accepted for
    interface compatibility only.  Timeouts raise :class:`telegram.error.TimedOut`, other
    aiohttp client errors :class:`telegram.error.NetworkError`, like PTB's ``HTTPXRequest``.

    Args:
        connection_pool_size: Maximum simultaneous connections.
        read_timeout: Default read timeout in seconds (None: unbounded).
        connect_timeout: Default connect timeout in seconds (None: unbounded).
        write_timeout: Default write timeout (not enforced, see above).
        pool_timeout: Default wait for a free connection in seconds (None: unbounded).
        media_write_timeout: Write timeout for uploads (not enforced, see above).
        trust_env: Let aiohttp read proxy settings from the environment (``HTTPS_PROXY`` …),
            as httpx does by default; off by default.
    """

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_trust_env",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 64,
        read_timeout: float | None = 10.0,
        connect_timeout: float | None = 5.0,
        write_timeout: float | None = 10.0,
        pool_timeout: float | None = 5.0,
        media_write_timeout: float | None = 30.0,
        trust_env: bool = False,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """Default read timeout in seconds, used when PTB passes none."""
        return self._read_timeout

    @property
    def is_initialized(self) -> bool:
        """Whether a live client session exists."""
        return self._session is not None and not self._session.closed

    async def initialize(self) -> None:
        """Create the client session (idempotent; must run inside the event loop)."""
        if self.is_initialized:
            return
        connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.USER_AGENT},
            timeout=aiohttp.ClientTimeout(total=None),
            trust_env=self._trust_env,
        )

    async def shutdown(self) -> None:
        """Close the client session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; see :meth:`telegram.request.BaseRequest.do_request`.

        Returns:
            HTTP status code and raw response body.

        Raises:
            RuntimeError: :meth:`initialize` was not called.
            telegram.error.TimedOut: A timeout expired.
            telegram.error.NetworkError: Any other transport failure.
        """
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")

        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read_timeout
        if isinstance(connect_timeout, DefaultValue):
            connect_timeout = self._connect_timeout
        if isinstance(pool_timeout, DefaultValue):
            pool_timeout = self._pool_timeout
        # write_timeout is resolved only for symmetry with HTTPXRequest; aiohttp can't apply it.
        del write_timeout

        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=_add_timeouts(pool_timeout, connect_timeout),
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )

        data = _body(request_data)
        try:
            async with session.request(method, url, data=data, timeout=timeout) as response:
                payload = await response.read()
                return response.status, payload
        except TimeoutError as err:
            # aiohttp's ServerTimeoutError/ConnectionTimeoutError/SocketTimeoutError all derive
            # from TimeoutError; a full pool also surfaces as a connect timeout.
            raise TimedOut(f"Timed out: {err.__class__.__name__} {err}".strip()) from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """The request body: form fields, or a multipart form when files are attached."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        return request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
