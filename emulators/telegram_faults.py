"""The Bot API emulator's slow and lost answers: held calls and connection resets, per method."""

from __future__ import annotations

from emulators.common import _Holds, _Resets


class TelegramFaults:
    """Mixed into `TelegramEmulator`: which calls are held, and which lose their connection."""

    _holds: dict[str, _Holds]
    _late: dict[str, _Holds]
    _resets: dict[str, _Resets]

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
