"""The subset of QBO's query language the sandbox understands, parsed and run against plain dict rows.

Grammar (keywords case-insensitive)::

    SELECT * | SELECT COUNT(*) | SELECT field[, field…]  FROM <Entity>
        [WHERE <cond> [AND <cond>]…]
        [ORDERBY | ORDER BY <field> [ASC|DESC][, …]]
        [STARTPOSITION n] [MAXRESULTS m]

    <cond> := field (= | < | <= | > | >= | !=) literal | field IN (literal, …) | field LIKE 'pattern%'

Literals are 'strings' (with ``\\'`` escaping a quote), numbers and ``true`` / ``false``. Fields may be dotted
(``MetaData.LastUpdatedTime``); a reference field (``VendorRef``) compares by its ``value``. Like QBO there is
no ``OR``. Problems are raised as ``QboFault`` 4000 (cannot parse) or 4001 (parses, but names something the
entity does not have).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.sandbox.qbo_errors import query_parse_error, query_validation_error

__all__ = [
    "DEFAULT_MAX_RESULTS",
    "MAX_RESULTS_LIMIT",
    "Condition",
    "OrderKey",
    "SelectQuery",
    "lookup",
    "parse_query",
    "run_query",
]

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 1000

_COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str  # one of _COMPARISONS, "IN" or "LIKE"
    values: tuple[Any, ...]


@dataclass(frozen=True)
class OrderKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class SelectQuery:
    entity: str
    count: bool = False
    fields: tuple[str, ...] | None = None  # None means SELECT *
    conditions: tuple[Condition, ...] = ()
    order_by: tuple[OrderKey, ...] = ()
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


# --- Tokenizer -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "string", "number", "op", "punct"
    text: str
    value: Any
    position: int


_TOKEN_PATTERN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),*])
    """,
    re.VERBOSE,
)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN_PATTERN.match(text, position)
        if match is None:
            raise query_parse_error(_unreadable(text, position))
        kind = match.lastgroup or ""
        raw = match.group()
        if kind != "space":
            tokens.append(_Token(kind, raw, _token_value(kind, raw), position + 1))
        position = match.end()
    return tokens


def _unreadable(text: str, position: int) -> str:
    if text[position] == "'":
        return f"Unterminated string literal starting at column {position + 1}"
    return f'Encountered "{text[position]}" at line 1, column {position + 1}'


def _token_value(kind: str, raw: str) -> Any:
    if kind == "string":
        # \' is the documented escape; \\ stands for one backslash; other escapes are kept as written.
        return re.sub(r"\\(['\\])", r"\1", raw[1:-1])
    if kind == "number":
        return Decimal(raw)
    if kind == "op" and raw == "<>":
        return "!="
    return raw


# --- Parser ----------------------------------------------------------------------------------------------


class _Cursor:
    """Walks the token list; every ``expect_*`` raises a 4000 fault naming what it found instead."""

    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._index = 0

    def peek(self) -> _Token | None:
        return self._tokens[self._index] if self._index < len(self._tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise query_parse_error("Unexpected end of query")
        self._index += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.upper() in words

    def at_punct(self, symbol: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "punct" and token.text == symbol

    def expect_keyword(self, word: str) -> None:
        token = self.take()
        if token.kind != "word" or token.text.upper() != word:
            raise _encountered(token, f"expected {word}")

    def expect_punct(self, symbol: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != symbol:
            raise _encountered(token, f'expected "{symbol}"')

    def expect_field(self) -> str:
        token = self.take()
        if token.kind != "word" or token.text.upper() in _RESERVED:
            raise _encountered(token, "expected a field name")
        return token.text

    def expect_integer(self, clause: str) -> int:
        token = self.take()
        if token.kind != "number" or token.value != token.value.to_integral_value():
            raise _encountered(token, f"{clause} needs a whole number")
        return int(token.value)


_RESERVED = frozenset(
    {"SELECT", "FROM", "WHERE", "AND", "OR", "IN", "LIKE", "ORDER", "ORDERBY", "BY", "ASC", "DESC"}
    | {"STARTPOSITION", "MAXRESULTS", "COUNT", "TRUE", "FALSE", "NOT"}
)


def _encountered(token: _Token, expectation: str) -> Exception:
    return query_parse_error(f'Encountered "{token.text}" at line 1, column {token.position}: {expectation}')


def parse_query(text: str, entities: Iterable[str]) -> SelectQuery:
    """Parse ``text``; ``entities`` are the canonical entity names that may follow FROM."""
    cursor = _Cursor(_tokenize(text.strip()))
    cursor.expect_keyword("SELECT")
    count, fields = _parse_projection(cursor)
    cursor.expect_keyword("FROM")
    entity = _resolve_entity(cursor.take(), entities)
    conditions = _parse_where(cursor) if cursor.at_keyword("WHERE") else ()
    order_by = _parse_order_by(cursor) if cursor.at_keyword("ORDER", "ORDERBY") else ()
    start_position, max_results = _parse_paging(cursor)
    trailing = cursor.peek()
    if trailing is not None:
        if trailing.kind == "word" and trailing.text.upper() == "OR":
            raise query_parse_error(
                f"OR is not supported (column {trailing.position}); run one query per value"
            )
        raise _encountered(trailing, "expected the end of the query")
    return SelectQuery(entity, count, fields, conditions, order_by, start_position, max_results)


def _parse_projection(cursor: _Cursor) -> tuple[bool, tuple[str, ...] | None]:
    if cursor.at_punct("*"):
        cursor.take()
        return False, None
    if cursor.at_keyword("COUNT"):
        cursor.take()
        cursor.expect_punct("(")
        cursor.expect_punct("*")
        cursor.expect_punct(")")
        return True, None
    fields = [cursor.expect_field()]
    while cursor.at_punct(","):
        cursor.take()
        fields.append(cursor.expect_field())
    return False, tuple(fields)


def _resolve_entity(token: _Token, entities: Iterable[str]) -> str:
    if token.kind == "word":
        for entity in entities:
            if entity.lower() == token.text.lower():
                return entity
    raise _encountered(token, "expected one of " + ", ".join(sorted(entities)))


def _parse_where(cursor: _Cursor) -> tuple[Condition, ...]:
    cursor.take()  # WHERE
    conditions = [_parse_condition(cursor)]
    while cursor.at_keyword("AND"):
        cursor.take()
        conditions.append(_parse_condition(cursor))
    return tuple(conditions)


def _parse_condition(cursor: _Cursor) -> Condition:
    field = cursor.expect_field()
    token = cursor.take()
    if token.kind == "op":
        return Condition(field, token.value, (_parse_literal(cursor),))
    if token.kind == "word" and token.text.upper() == "IN":
        return Condition(field, "IN", _parse_literal_list(cursor))
    if token.kind == "word" and token.text.upper() == "LIKE":
        pattern = cursor.take()
        if pattern.kind != "string":
            raise _encountered(pattern, "LIKE needs a quoted pattern")
        return Condition(field, "LIKE", (pattern.value,))
    raise _encountered(token, "expected an operator (=, <, <=, >, >=, IN, LIKE)")


def _parse_literal_list(cursor: _Cursor) -> tuple[Any, ...]:
    cursor.expect_punct("(")
    values = [_parse_literal(cursor)]
    while cursor.at_punct(","):
        cursor.take()
        values.append(_parse_literal(cursor))
    cursor.expect_punct(")")
    return tuple(values)


def _parse_literal(cursor: _Cursor) -> Any:
    token = cursor.take()
    if token.kind in ("string", "number"):
        return token.value
    if token.kind == "word" and token.text.lower() in ("true", "false"):
        return token.text.lower() == "true"
    raise _encountered(token, "expected a quoted string, a number, true or false")


def _parse_order_by(cursor: _Cursor) -> tuple[OrderKey, ...]:
    if cursor.take().text.upper() == "ORDER":
        cursor.expect_keyword("BY")
    keys = [_parse_order_key(cursor)]
    while cursor.at_punct(","):
        cursor.take()
        keys.append(_parse_order_key(cursor))
    return tuple(keys)


def _parse_order_key(cursor: _Cursor) -> OrderKey:
    field = cursor.expect_field()
    if cursor.at_keyword("ASC", "DESC"):
        return OrderKey(field, cursor.take().text.upper() == "DESC")
    return OrderKey(field)


def _parse_paging(cursor: _Cursor) -> tuple[int, int]:
    start_position, max_results = 1, DEFAULT_MAX_RESULTS
    seen: set[str] = set()
    while cursor.at_keyword("STARTPOSITION", "MAXRESULTS"):
        keyword = cursor.take().text.upper()
        if keyword in seen:
            raise query_parse_error(f"{keyword} given twice")
        seen.add(keyword)
        number = cursor.expect_integer(keyword)
        if number < 1:
            raise query_parse_error(f"{keyword} must be at least 1, got {number}")
        if keyword == "STARTPOSITION":
            start_position = number
        else:
            # QBO serves at most 1000 rows a page; a larger MAXRESULTS is capped, not refused.
            max_results = min(number, MAX_RESULTS_LIMIT)
    return start_position, max_results


# --- Execution -------------------------------------------------------------------------------------------


def run_query(
    query: SelectQuery,
    rows: Sequence[Mapping[str, Any]],
    *,
    queryable: Iterable[str],
    active_only_by_default: bool = False,
) -> dict[str, Any]:
    """Run ``query`` over ``rows`` and build the ``QueryResponse`` object.

    ``queryable`` names the entity's top-level fields; naming anything else is a 4001. For name-list
    entities QBO returns only active records unless the query itself filters on ``Active``, so
    ``active_only_by_default`` adds that filter.
    """
    _check_fields(query, {name.lower() for name in queryable})
    conditions = list(query.conditions)
    if active_only_by_default and not any(_top(c.field) == "active" for c in conditions):
        conditions.append(Condition("Active", "=", (True,)))
    matching = [row for row in rows if all(_matches(row, condition) for condition in conditions)]
    if query.count:
        return {"totalCount": len(matching)}
    ordered = _ordered(matching, query.order_by)
    first = query.start_position - 1
    page = ordered[first : first + query.max_results]
    if not page:
        return {}
    if query.fields is not None:
        page = [_projected(row, query.fields) for row in page]
    return {query.entity: page, "startPosition": query.start_position, "maxResults": len(page)}


def _top(field: str) -> str:
    return field.split(".", 1)[0].lower()


def _check_fields(query: SelectQuery, queryable: set[str]) -> None:
    named = [c.field for c in query.conditions] + [k.field for k in query.order_by] + list(query.fields or ())
    for field in named:
        if _top(field) not in queryable:
            raise query_validation_error(f"property '{field}' is not queryable on {query.entity}")


def lookup(row: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path, matching names case-insensitively; a reference yields its ``value``."""
    current: Any = row
    for part in dotted.split("."):
        if not isinstance(current, Mapping):
            return None
        current = next((v for k, v in current.items() if k.lower() == part.lower()), None)
    if isinstance(current, Mapping) and "value" in current:
        return current["value"]
    return current


def _matches(row: Mapping[str, Any], condition: Condition) -> bool:
    stored = lookup(row, condition.field)
    if stored is None:
        return False
    if condition.operator == "LIKE":
        return _like(str(stored), condition.values[0])
    if condition.operator == "IN":
        return any(_compare(stored, value, condition.field, "=") for value in condition.values)
    return _compare(stored, condition.values[0], condition.field, condition.operator)


def _like(text: str, pattern: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("%"))
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


def _compare(stored: Any, literal: Any, field: str, operator: str) -> bool:
    left, right = _comparable(stored, literal, field)
    try:
        if operator == "=":
            return left == right
        if operator == "!=":
            return left != right
        if operator == "<":
            return left < right
        if operator == "<=":
            return left <= right
        if operator == ">":
            return left > right
        return left >= right
    except TypeError:
        return False


def _comparable(stored: Any, literal: Any, field: str) -> tuple[Any, Any]:
    """Bring a stored value and a literal to one type: bool, number, date-time or text, in that order."""
    if isinstance(stored, bool) or isinstance(literal, bool):
        return _as_bool(stored), _as_bool(literal)
    if isinstance(stored, int | Decimal):
        number = _as_decimal(literal)
        if number is not None:
            return Decimal(stored), number
    left, right = str(stored), str(literal)
    # Ids are strings in QBO, but they order as numbers.
    if field.rsplit(".", 1)[-1].lower() == "id" and left.isdigit() and right.isdigit():
        return int(left), int(right)
    left_moment, right_moment = _as_moment(left), _as_moment(right)
    if left_moment is not None and right_moment is not None:
        return left_moment, right_moment
    return left, right


def _as_bool(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(str(value).lower(), str(value))


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _as_moment(text: str) -> datetime | None:
    """A date or date-time as an aware datetime (naive values are taken as UTC), or None."""
    if not _DATE_LIKE.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text[:10]), datetime.min.time())
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ordered(rows: list[Mapping[str, Any]], keys: tuple[OrderKey, ...]) -> list[Mapping[str, Any]]:
    ordered = sorted(rows, key=lambda row: _sort_key(lookup(row, "Id"), "Id"))
    # Stable sorts applied from the last key to the first give a multi-key ordering.
    for key in reversed(keys):
        ordered.sort(key=lambda row, f=key.field: _sort_key(lookup(row, f), f), reverse=key.descending)
    return ordered


def _sort_key(value: Any, field: str) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | Decimal):
        return (2, Decimal(value))
    text = str(value)
    if field.rsplit(".", 1)[-1].lower() == "id" and text.isdigit():
        return (2, Decimal(text))
    moment = _as_moment(text)
    if moment is not None:
        return (3, moment)
    return (4, text)


_ALWAYS_RETURNED = ("Id", "SyncToken", "domain", "sparse")


def _projected(row: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    wanted = {field.split(".", 1)[0].lower() for field in fields} | {
        name.lower() for name in _ALWAYS_RETURNED
    }
    return {key: value for key, value in row.items() if key.lower() in wanted}
