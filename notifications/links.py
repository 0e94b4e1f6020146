"""Signed links to `/r/{token}` in job request emails (CONTRACT §3).

A token names one request and the answer its link offers (`accept` or `decline`), signed with
HMAC-SHA256 under a key derived from a secret setting (`LINK_SECRET`, else `API_TOKEN` or
`TELEGRAM_WEBHOOK_SECRET`), so the secret itself never appears in a link and a key for links is
never a key for anything else. A token has no expiry of its own: it works until its request
closes (the page then says what happened), and every use is checked against the request's state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

#: The label the link key is derived under (changing it invalidates every link sent).
KEY_LABEL = b"dispatchbot email links v1"
ACTIONS = ("accept", "decline")
#: Signature bytes kept in a token (128 bits: forging one is out of reach).
SIG_BYTES = 16
#: A request id in a token is a serial column: at most 32 bits.
MAX_ID = 2**31 - 1


def derive_key(secret: str) -> bytes:
    """The link key for a secret setting (an HMAC with a fixed label: a one-purpose key)."""
    return hmac.new(secret.encode(), KEY_LABEL, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class LinkSigner:
    """Makes and checks tokens; `base_url` is where `/r/{token}` is served (PUBLIC_URL)."""

    key: bytes
    base_url: str

    def _sig(self, request_id: int, action: str) -> str:
        mac = hmac.new(self.key, f"r:{request_id}:{action}".encode(), hashlib.sha256)
        return _b64(mac.digest()[:SIG_BYTES])

    def token(self, request_id: int, action: str) -> str:
        """The token of a link that offers `action` on request `request_id`."""
        if action not in ACTIONS:
            raise ValueError(f"unknown link action {action!r}")
        return f"{request_id}.{action[0]}.{self._sig(request_id, action)}"

    def url(self, request_id: int, action: str) -> str:
        """The absolute link for an email."""
        return f"{self.base_url.rstrip('/')}/r/{self.token(request_id, action)}"

    def check(self, token: str) -> tuple[int, str] | None:
        """(request id, action) of a genuine token; None for anything forged or malformed."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isascii() or not parts[0].isdigit():
            return None
        if len(parts[0]) > 10 or not 0 < int(parts[0]) <= MAX_ID:
            return None
        action = next((a for a in ACTIONS if a[0] == parts[1]), None)
        if action is None:
            return None
        request_id = int(parts[0])
        if not hmac.compare_digest(parts[2].encode(), self._sig(request_id, action).encode()):
            return None
        return request_id, action
