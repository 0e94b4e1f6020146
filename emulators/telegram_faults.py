"""The Bot API emulator's injected faults: error answers, held calls and connection resets."""

from __future__ import annotations

from emulators.common import _Fault, _Holds, _Resets
from emulators.telegram_wire import _TG_FAULT_DESCRIPTIONS, _ApiError


class TelegramFaults:
    """Mixed into `TelegramEmulator`: which calls are held, and which lose their connection."""

    _faults: dict[str, list[_Fault]]
    _holds: dict[str, _Holds]
    _late: dict[str, _Holds]
    _resets: dict[str, _Resets]

    def fail_next(
        self,
        method: str,
        status: int = 429,
        count: int = 1,
        retry_after: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail.

        Args:
            method: Bot API method name (case-insensitive).
            status: HTTP status / ``error_code``; 429 adds ``parameters.retry_after``.
            count: Number of consecutive calls to fail.
            retry_after: Seconds reported for 429.
            description: Override of the error description.
        """
        self._faults.setdefault(method.lower(), []).append(
            _Fault(status=status, remaining=count, retry_after=retry_after, description=description)
        )

    def _raise_injected_fault(self, method: str) -> None:
        faults = self._faults.get(method)
        if not faults:
            return
        fault = faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            faults.pop(0)
        if fault.status == 429:
            raise _ApiError(
                429,
                fault.description or f"Too Many Requests: retry after {fault.retry_after}",
                {"retry_after": fault.retry_after},
            )
        raise _ApiError(
            fault.status,
            fault.description or _TG_FAULT_DESCRIPTIONS.get(fault.status, "Internal Server Error"),
        )

    def delay_next(
        self, method: str, seconds: float, count: int = 1, *, after_acting: bool = False
    ) -> None:
        """Answer the next ``count`` calls of ``method`` only after ``seconds`` (a slow chat).

        A held call is recorded in :attr:`calls` once it is answered. A long delay is a hung
        request: it waits until then, until :meth:`release`, or until the emulator shuts down.
        ``after_acting``: the call acts first (the message is sent) and only its answer is held.
        """
        holds = self._late if after_acting else self._holds
        holds.setdefault(method.lower(), _Holds()).add(seconds, count)

    def reset_next(self, method: str, count: int = 1, *, after_acting: bool = True) -> None:
        """Drop the next ``count`` calls of ``method`` with a connection reset, answering nothing.

        ``after_acting``: the call acts first (the message is sent); the client cannot know.
        """
        self._resets.setdefault(method.lower(), _Resets()).add(count, after_acting)

    @property
    def held(self) -> int:
        """Calls being held by :meth:`delay_next` right now."""
        return sum(h.held for holds in (self._holds, self._late) for h in holds.values())

    def release(self) -> None:
        """Answer every held call now; delays not yet used are dropped."""
        for holds in (*self._holds.values(), *self._late.values()):
            holds.release()
