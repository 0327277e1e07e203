"""The subset of Xero's ``where`` and ``order`` query parameters the sandbox understands.

Xero filters lists with a .NET-flavoured expression language. Supported here:

- comparisons ``Field == value``, ``!=``, ``>=``, ``<=``, ``>``, ``<`` on fields of the returned objects,
  dotted for nested ones (``Contact.Name``);
- string methods ``Field.StartsWith("…")``, ``Field.EndsWith("…")``, ``Field.Contains("…")``;
- values: ``"strings"`` (with ``\\"`` escapes), ``DateTime(2026,10,1)`` (optionally with hours, minutes,
  seconds), ``Guid("…")``, numbers, ``true``/``false``, ``null``;
- ``AND`` / ``&&``, ``OR`` / ``||`` (AND binds tighter), ``NOT`` / ``!`` and parentheses.

Dates in the objects are MS-JSON (``/Date(1759449600000+0000)/``) and are compared as dates or datetimes.
A field the object type does not have, or text that does not parse, raises ``QueryError`` with a message in
the style of Xero's QueryParseException. ``order`` is ``Field [ASC|DESC], …``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = ["QueryError", "compile_where", "ms_to_datetime", "sort_rows"]

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|>=|<=|&&|\|\||[><!(),.])
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_MS_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<tz>[+-]\d{4})?\)/$")
_METHODS = {
    "StartsWith": lambda text, arg: text.startswith(arg),
    "EndsWith": lambda text, arg: text.endswith(arg),
    "Contains": lambda text, arg: arg in text,
}
_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


class QueryError(ValueError):
    """A ``where`` or ``order`` Xero would refuse (HTTP 400, QueryParseException)."""


def ms_to_datetime(text: str) -> datetime | None:
    match = _MS_DATE.match(text)
    if match is None:
        return None
    return datetime.fromtimestamp(int(match["ms"]) / 1000, tz=UTC)


def compile_where(text: str, type_name: str, fields: set[str]) -> Predicate:
    """A predicate over API objects for a ``where`` expression; ``fields`` are the type's top-level names."""
    parser = _Parser(_tokenize(text), type_name, fields)
    predicate = parser.expression()
    left = parser.peek()
    if left is not None:
        raise QueryError(f"Syntax error near '{left[1]}' in where clause")
    return predicate


def sort_rows(rows: list[dict[str, Any]], order: str | None, type_name: str, fields: set[str]) -> None:
    """Sort in place by ``order`` (stable, last key applied first)."""
    if not order:
        return
    for part in reversed([p.strip() for p in order.split(",") if p.strip()]):
        name, *direction = part.split()
        if name.split(".")[0] not in fields:
            raise QueryError(f"No property or field '{name}' exists in type '{type_name}'")
        descending = bool(direction) and direction[0].upper() == "DESC"
        rows.sort(key=lambda row, name=name: _sort_key(_field(row, name)), reverse=descending)


def _sort_key(value: Any) -> tuple[int, Any]:
    comparable = _comparable(value)
    return (0, "") if comparable is None else (1, comparable)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(f"Syntax error near '{text[position : position + 10]}' in where clause")
        kind = match.lastgroup or ""
        tokens.append((kind, match[kind]))
        position = match.end()
    return tokens


def _field(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _comparable(value: Any) -> Any:
    """Object values as Python values that compare: MS-dates become datetimes, numbers Decimals."""
    if isinstance(value, str):
        moment = ms_to_datetime(value)
        return moment if moment is not None else value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


class _Parser:
    """Recursive descent: expression := term (OR term)*; term := factor (AND factor)*."""

    def __init__(self, tokens: list[tuple[str, str]], type_name: str, fields: set[str]) -> None:
        self.tokens = tokens
        self.position = 0
        self.type_name = type_name
        self.fields = fields

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (expected is not None and token[1].upper() != expected.upper()):
            raise QueryError(f"Expected '{expected or 'a value'}' in where clause")
        self.position += 1
        return token

    def accept(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token[1].upper() in {w.upper() for w in words}:
            self.position += 1
            return True
        return False

    def expression(self) -> Predicate:
        terms = [self.term()]
        while self.accept("OR", "||"):
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else (lambda row: any(t(row) for t in terms))

    def term(self) -> Predicate:
        factors = [self.factor()]
        while self.accept("AND", "&&"):
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else (lambda row: all(f(row) for f in factors))

    def factor(self) -> Predicate:
        if self.accept("NOT", "!"):
            inner = self.factor()
            return lambda row: not inner(row)
        if self.accept("("):
            inner = self.expression()
            self.take(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        path = self.path()
        token = self.peek()
        if token is not None and token[1] in _COMPARE:
            self.position += 1
            operator, value = _COMPARE[token[1]], self.value()
            return lambda row: _compare(operator, _comparable(_field(row, path)), value)
        if token is not None and token[1] == "." and self.position + 1 < len(self.tokens):
            method = self.tokens[self.position + 1][1]
            if method in _METHODS:
                self.position += 2
                self.take("(")
                argument = self.value()
                self.take(")")
                test = _METHODS[method]
                return lambda row: isinstance(_field(row, path), str) and test(_field(row, path), argument)
        raise QueryError(f"Expected an operator after '{path}' in where clause")

    def path(self) -> str:
        kind, name = self.take()
        if kind != "name":
            raise QueryError(f"Expected a field name, found '{name}'")
        parts = [name]
        while self.peek() == ("op", ".") and self.position + 1 < len(self.tokens):
            following = self.tokens[self.position + 1]
            if following[0] != "name" or following[1] in _METHODS:
                break
            self.position += 2
            parts.append(following[1])
        if parts[0] not in self.fields:
            raise QueryError(f"No property or field '{parts[0]}' exists in type '{self.type_name}'")
        return ".".join(parts)

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "number":
            return Decimal(text)
        if kind == "name" and text in ("DateTime", "Guid"):
            self.take("(")
            arguments = [self.take()[1]]
            while self.accept(","):
                arguments.append(self.take()[1])
            self.take(")")
            if text == "Guid":
                return arguments[0].strip('"').lower()
            numbers = [int(a) for a in arguments]
            return datetime(*numbers, tzinfo=UTC)  # type: ignore[arg-type]  # a Xero DateTime(y, m, d[, h, m, s])
        if kind == "name" and text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text.lower()]
        raise QueryError(f"Unexpected '{text}' in where clause")


def _compare(operator: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str) and len(right) == 36:
        left = left.lower()  # Guid comparisons ignore case
    try:
        return operator(left, right)
    except TypeError:  # comparing a missing value (None) or unlike types: Xero finds nothing
        return False
