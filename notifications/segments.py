"""SMS segments, counted the way carriers count them (3GPP TS 23.038 / 23.040).

A text whose every character is in the GSM 03.38 alphabet is sent as GSM-7: 160 septets
in one segment, 153 a segment once it is split (a character of the extension table, such as `€`
or `{`, takes two septets, and the pair is never split across segments). One character outside
that alphabet (an emoji, `ë`, a typographic quote) makes the whole text UCS-2: 70 UTF-16 code
units in one segment, 67 a segment once split (a surrogate pair is never split).
"""

from __future__ import annotations

from dataclasses import dataclass

_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = "\f^{}\\[~]|€"
_BASIC = frozenset(_GSM_BASIC)
_EXTENSION = frozenset(_GSM_EXTENSION)

GSM7, UCS2 = "GSM-7", "UCS-2"


@dataclass(frozen=True)
class Segments:
    """How a text goes by SMS: its encoding, its length in that encoding, and its segments."""

    encoding: str
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    """Whether every character of `text` is in the GSM 03.38 alphabet (basic or extension)."""
    return all(c in _BASIC or c in _EXTENSION for c in text)


def _pack(sizes: list[int], single: int, part: int) -> int:
    """Segments for characters of the given sizes: one if all fit `single`, else greedy parts of
    `part` units, never splitting a character."""
    if sum(sizes) <= single:
        return 1 if sizes else 0
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return segments


def count(text: str) -> Segments:
    """The encoding, length and number of segments of `text` as an SMS."""
    if is_gsm7(text):
        sizes = [2 if c in _EXTENSION else 1 for c in text]
        return Segments(GSM7, sum(sizes), _pack(sizes, 160, 153))
    sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return Segments(UCS2, sum(sizes), _pack(sizes, 70, 67))
