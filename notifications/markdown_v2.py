"""What Telegram refuses in a MarkdownV2 text (Bot API "Formatting options", MarkdownV2 style).

Outside code, pre and a link's URL, every one of `_*[]()~`>#+-=|{}.!` is either part of an
entity (`*bold*`, `_italic_`, `__underline__`, `~strike~`, `||spoiler||`, `` `code` ``,
```` ```pre``` ````, `[text](url)`, `![emoji](tg://emoji?id=...)`, `>` starting a quote line) or
escaped with a backslash; every entity is closed. Telegram answers a text that breaks this with
"can't parse entities" and the message is never shown, so a template is checked before it is saved.
"""

from __future__ import annotations

#: Characters that are only ever syntax: written as text they must be escaped.
_ALWAYS_ESCAPED = frozenset("#+-={}.!()]|>")
#: Formatting markers, longest first (each toggles its entity on and off).
_MARKERS = ("||", "__", "*", "_", "~")


class Refused(Exception):
    """Why Telegram would refuse the text."""


def problem(text: str) -> str | None:
    """Why Telegram would refuse `text` as MarkdownV2 (None: it parses)."""
    try:
        _Scan(text).run()
    except Refused as exc:
        return str(exc)
    return None


class _Scan:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.open_markers: list[tuple[str, int]] = []
        self.link_at: int | None = None  # inside the `[...]` of a link begun here

    def where(self, i: int) -> str:
        line = self.text.count("\n", 0, i) + 1
        snippet = self.text[max(0, i - 15) : i + 15].replace("\n", " ")
        return f"line {line} of the rendered text, near {snippet!r}"

    def refuse(self, what: str, at: int) -> Refused:
        return Refused(f"{what} ({self.where(at)})")

    def closing(self, start: int, token: str, what: str) -> int:
        """Index just after the first unescaped `token` from `start` (refused if none)."""
        i = start
        while i < len(self.text):
            if self.text[i] == "\\":
                i += 2
            elif self.text.startswith(token, i):
                return i + len(token)
            else:
                i += 1
        raise self.refuse(what, self.i)

    def run(self) -> None:
        text = self.text
        while self.i < len(text):
            self.i = self.step(self.i, text[self.i])
        if self.link_at is not None:
            raise self.refuse("'[' opens a link that is never closed", self.link_at)
        if self.open_markers:
            marker, at = self.open_markers[-1]
            raise self.refuse(f"{marker!r} opens formatting that is never closed", at)

    def step(self, i: int, c: str) -> int:
        """Read the token at `i`; the index after it."""
        text = self.text
        if c == "\\":
            if i + 1 >= len(text):
                raise self.refuse("a backslash ends the text", i)
            return i + 2
        if text.startswith("```", i):
            return self.closing(i + 3, "```", "``` opens a pre block that is never closed")
        if c == "`":
            return self.closing(i + 1, "`", "` opens code that is never closed")
        return self.entity(i, c)

    def entity(self, i: int, c: str) -> int:
        """A link, a quote, a formatting marker, or a character that must have been escaped."""
        text = self.text
        if c == "[" or (c == "!" and text.startswith("[", i + 1)):  # a link or a custom emoji
            if self.link_at is not None:
                raise self.refuse("'[' must be escaped as '\\['", i)
            self.link_at = i
            return text.index("[", i) + 1
        if c == "]" and self.link_at is not None:
            return self.link_end(i)
        if c == ">" and (i == 0 or text[i - 1] == "\n"):
            return i + 1  # a quote line
        marker = next((m for m in _MARKERS if text.startswith(m, i)), None)
        if marker is not None:
            if self.open_markers and self.open_markers[-1][0] == marker:
                self.open_markers.pop()
            else:
                self.open_markers.append((marker, i))
            return i + len(marker)
        if c in _ALWAYS_ESCAPED:
            raise self.refuse(f"{c!r} must be escaped as '\\{c}' in MarkdownV2", i)
        return i + 1

    def link_end(self, i: int) -> int:
        """After a link's `]`: its `(url)`."""
        assert self.link_at is not None
        if not self.text.startswith("(", i + 1):
            raise self.refuse("'[' ... ']' must be followed by '(url)'", self.link_at)
        self.link_at = None
        return self.closing(i + 2, ")", "a link's '(url' is never closed")
