"""The one JSON codec of Conveyor: RFC 8259 text in, RFC 8259 text out.

Python's ``json`` reads and writes ``NaN``, ``Infinity`` and ``-Infinity`` by
default, and reads ``1e400`` as infinity. None of those is JSON: ``JSON.parse``
refuses the whole document. Every JSON encode and decode in Conveyor goes through
here, so a non-finite number is refused where it enters, with
:class:`~conveyor.errors.JsonNumberError` naming the path to it, and can never be
stored or answered.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from conveyor.errors import JsonNumberError

_NAMES = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
# Built once: json.dumps/json.loads with options build a new encoder/decoder per call.
ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class _RefusedError(ValueError):
    """Raised inside the decoder at the first refused number (cheap: no path yet)."""


def _refuse(text: str) -> Any:
    raise _RefusedError(text)


def _finite(text: str) -> float:
    value = float(text)
    if math.isfinite(value):
        return value
    raise _RefusedError(text)


class _Marker:
    """Stands in for a refused number when the decoder looks for its path."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _marker_float(text: str) -> float | _Marker:
    value = float(text)
    return value if math.isfinite(value) else _Marker(text)


# parse_float is called only for numbers with a fraction or exponent; integers stay exact.
_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_refuse)
_LOCATOR = json.JSONDecoder(parse_float=_marker_float, parse_constant=_Marker)


def loads(text: str | bytes | bytearray) -> Any:
    """The value of JSON ``text`` (UTF-8 when bytes); ValueError when it is not JSON.

    ``NaN``, ``Infinity``, ``-Infinity`` and numbers past float range (``1e400``)
    raise JsonNumberError naming the path to the first of them.
    """
    if not isinstance(text, str):
        text = bytes(text).decode()  # UnicodeDecodeError is a ValueError
    try:
        return _DECODER.decode(text)
    except _RefusedError as exc:
        found = _find(_LOCATOR.decode(text), lambda v: isinstance(v, _Marker))
        raise JsonNumberError(found[0] if found else "", str(exc)) from None


def encoder(default: Callable[[Any], Any]) -> json.JSONEncoder:
    """The codec's encoder with ``default`` for objects JSON does not know (build it once)."""
    return json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=default
    )


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """``value`` as compact JSON text (non-ASCII kept); JsonNumberError for NaN/Infinity.

    ``default`` turns an object JSON does not know into one it does, as in ``json``.
    """
    try:
        return (ENCODER if default is None else encoder(default)).encode(value)
    except ValueError as exc:
        try:
            check_finite(value)
        except RecursionError:  # a cycle (the encoder's "Circular reference"): say that
            raise exc from None
        raise


def check_finite(value: Any) -> Any:
    """``value`` itself, or JsonNumberError at its first NaN/Infinity (for validators)."""
    found = _find(value, _non_finite)
    if found is not None:
        raise JsonNumberError(found[0], _NAMES.get(str(found[1]), str(found[1])))
    return value


def named_non_finite(value: Any) -> Any:
    """A copy of ``value`` with each NaN/Infinity replaced by its name as a string.

    For log lines, which must be written whatever a value holds.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return _NAMES[str(value)]
    if isinstance(value, dict):
        return {key: named_non_finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [named_non_finite(item) for item in value]
    return value


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _find(value: Any, wanted: Callable[[Any], bool], path: str = "") -> tuple[str, Any] | None:
    """Dotted path (``payload.x``, ``items.0``) and value of the first ``wanted`` value."""
    if wanted(value):
        return path, value
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _find(item, wanted, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None
