"""JSON that keeps `Decimal` money exact in both directions.

The standard encoder writes a Decimal only as a string or through float; a ledger needs a JSON *number* with
the exact digits. Used by the ledger adapters (QuickBooks batch bodies) and the sandboxes.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

__all__ = ["dumps_exact", "loads_exact"]


def dumps_exact(value: Any, *, indent: int | None = None) -> str:
    """Serialise ``value`` to JSON, writing each ``Decimal`` as a JSON number with its exact text.

    The standard encoder can only write a Decimal as a string or through float; both lose what a ledger
    needs (the number type, or the digits). Floats are refused outright: money never travels as float.
    """
    parts: list[str] = []
    _encode(value, parts, indent, 0)
    return "".join(parts)


def loads_exact(text: str | bytes) -> Any:
    """Parse JSON, reading every non-integer number as ``Decimal`` (integers stay ``int``)."""
    return json.loads(text, parse_float=Decimal)


def _encode(value: Any, out: list[str], indent: int | None, depth: int) -> None:
    if value is None or isinstance(value, bool | str):
        out.append(json.dumps(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        out.append(_decimal_text(value))
    elif isinstance(value, float):
        raise TypeError(f"refusing to encode float {value!r}: amounts must be Decimal")
    elif isinstance(value, dict):
        _encode_container(
            [
                (json.dumps(str(key)) + ":" + (" " if indent is not None else ""), item)
                for key, item in value.items()
            ],
            "{",
            "}",
            out,
            indent,
            depth,
        )
    elif isinstance(value, list | tuple):
        _encode_container([("", item) for item in value], "[", "]", out, indent, depth)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _encode_container(
    items: list[tuple[str, Any]], opener: str, closer: str, out: list[str], indent: int | None, depth: int
) -> None:
    if not items:
        out.append(opener + closer)
        return
    inner = "" if indent is None else "\n" + " " * (indent * (depth + 1))
    outer = "" if indent is None else "\n" + " " * (indent * depth)
    out.append(opener)
    for position, (prefix, item) in enumerate(items):
        if position:
            out.append(",")
        out.append(inner + prefix)
        _encode(item, out, indent, depth + 1)
    out.append(outer + closer)


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot encode non-finite Decimal {value!r} as JSON")
    # str() of a finite Decimal is always valid JSON number text ("100.00", "-0", "1E+2", "1E-7").
    return str(value)
