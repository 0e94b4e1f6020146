"""One template rendered for many recipients: once per shared values, then filled per recipient.

A broadcast renders the same job request for every fieldworker asked; only a few merge fields
differ between them (the request's number, their distance, their name; the time depends only on
their time zone). Rendering the whole Jinja template for each costs more than everything else per
request, so `render_with_slots` renders it once with a marker in place of each per-recipient
field (a *skeleton*, kept while its shared values recur) and fills in each recipient's values.

The text is byte-identical to `templates.render`'s, because the shortcut is only taken when it
cannot differ:
- every per-recipient field appears in the template only as a plain `{{ field }}` output (at the
  top level or inside `{% if %}` blocks), or in a `field is none` test, whose outcome is part of
  the skeleton's key; any other use (a filter, a comparison, a loop, a macro, a `{% set %}`, a
  filter block, an autoescape block) renders the whole template as before;
- a filled-in value is converted exactly as Jinja outputs it there (`output_text`: the
  environment's `finalize`, then HTML escaping when it autoescapes);
- the markers carry a random token of this process and are checked to appear nowhere else (the
  template's text, the shared values), so each marker in the skeleton is one output of its field;
- a template that fails or renders nothing, which `render` answers with the default text (and a
  log line), takes the whole-template path.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping
from typing import Any

from jinja2 import nodes
from jinja2.environment import Environment
from markupsafe import escape

from notifications import catalogue as cat
from notifications.templates import BOOK, Rendered, environment, merge_values, render

_TOKEN = secrets.token_hex(8)
_MARK = f"\x1d{_TOKEN}:"
_END = "\x1e"
#: Skeletons kept (a broadcast needs one per time zone and shape of its recipients).
_KEPT = 256
# (source, event, channel, fields that are None, shared merge values) -> skeleton parts:
# literal text, or the name of the field to fill in.
_SKELETONS: dict[tuple[Any, ...], tuple[tuple[bool, str], ...]] = {}
# The nodes an output of a per-recipient field may sit in: the template, `{% if %}`, the output.
_PLAIN_ANCESTORS = (nodes.Template, nodes.If, nodes.Output)


def output_text(env: Environment, value: Any) -> str:
    """`value` as `{{ value }}` outputs it in `env` (its `finalize`, then its autoescaping)."""
    if env.finalize is not None:
        value = env.finalize(value)
    return str(escape(value)) if env.autoescape else str(value)


@functools.lru_cache(maxsize=128)
def fillable(text: str, parse_mode: str | None, names: frozenset[str]) -> bool:
    """True when the fields `names` appear in the template `text` only as plain outputs or in
    `is none` tests, so a skeleton filled in renders exactly what the template renders."""
    if _MARK in text:
        return False
    try:
        tree = environment(parse_mode).parse(text)
    except Exception:  # an unparsable template is rendered (and refused) as before
        return False

    def plain(node: nodes.Node, ancestors: tuple[nodes.Node, ...]) -> bool:
        if isinstance(node, nodes.Name) and node.name in names:
            parent = ancestors[-1]
            if node.ctx != "load":
                return False
            if isinstance(parent, nodes.Test) and parent.name == "none" and parent.node is node:
                return True
            if not isinstance(parent, nodes.Output):
                return False
            return all(isinstance(a, _PLAIN_ANCESTORS) for a in ancestors)
        return all(plain(child, (*ancestors, node)) for child in node.iter_child_nodes())

    return plain(tree, ())


def render_with_slots(
    event: str, channel: str, shared: Mapping[str, Any], slots: Mapping[str, Any]
) -> Rendered:
    """`templates.render(event, channel, **shared, **slots)`, from a skeleton of the shared values
    when the template allows it (Telegram texts: SMS fitting and email subjects render whole)."""
    source, is_default = BOOK.source(event, channel)
    values = {**shared, **slots}
    names = frozenset(slots)
    if channel != cat.TELEGRAM or not fillable(source.body, source.parse_mode, names):
        return render(event, channel, **values)
    merged = merge_values(event, channel, values)
    empty = frozenset(n for n in names if n in merged and merged[n] is None)
    filled = [n for n in names if n in merged and merged[n] is not None]
    try:
        key = (
            source,
            event,
            channel,
            empty,
            tuple((k, v) for k, v in merged.items() if k not in names),
        )
        parts = _SKELETONS.get(key)
    except TypeError:  # an unhashable shared value: nothing to key a skeleton on
        return render(event, channel, **values)
    if parts is None:
        parts = _skeleton(source, merged, filled)
        if parts is None:
            return render(event, channel, **values)
        if len(_SKELETONS) >= _KEPT:
            _SKELETONS.clear()
        _SKELETONS[key] = parts
    env = environment(source.parse_mode)
    body = "".join(
        output_text(env, merged[text]) if is_field else text for is_field, text in parts
    ).strip()
    if not is_default and not body:  # `render` falls back to the default text (and says so)
        return render(event, channel, **values)
    return Rendered(body, None, source.parse_mode)


def _skeleton(
    source: Any, merged: dict[str, Any], filled: list[str]
) -> tuple[tuple[bool, str], ...] | None:
    """The template rendered with a marker for each field of `filled`, cut at the markers; None
    when it fails (`render` decides what is sent) or a marker could be confused."""
    if any(_MARK in str(v) for k, v in merged.items() if k not in filled):
        return None
    # Numbered: a marker must come out of every environment's escaping as it went in.
    markers = {name: f"{_MARK}{n}{_END}" for n, name in enumerate(filled)}
    try:
        text = BOOK.compiled(source, "body").render(**{**merged, **markers})
    except Exception:  # `render` renders it again and handles the failure
        return None
    parts: list[tuple[bool, str]] = []
    pieces = text.split(_MARK)
    parts.append((False, pieces[0]))
    for piece in pieces[1:]:
        number, end, rest = piece.partition(_END)
        if not end or not number.isdigit() or int(number) >= len(filled):
            return None
        parts.append((True, filled[int(number)]))
        parts.append((False, rest))
    return tuple(parts)
