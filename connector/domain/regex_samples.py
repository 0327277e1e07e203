"""What a mapping's regular expression can match, decided from its parse tree.

Used by the rule analysis: a regex that no text can match makes its rule dead, and a regex that
starts with a literal lets an earlier, wider rule be recognised as shadowing it. Candidate texts are
built from the parse tree and then tried with the real regex, so a "cannot match" answer is only given
when every candidate was built exactly; anything the builder does not model (look-arounds, back
references, conditional groups, too many combinations) gives "don't know".

The tree comes from `re._parser`, Python's own regex parser (private but stable since 3.11); if it
ever changes shape, every answer here degrades to "don't know", never to a wrong error.
"""

from __future__ import annotations

import itertools
import re
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]

_MAX_CANDIDATES = 256
_POOL = "a0_ Z.-/:\n"
_POSITION_ANCHORS = (c.AT_BEGINNING, c.AT_BEGINNING_STRING, c.AT_END, c.AT_END_STRING)
_CATEGORY_SAMPLES = {
    c.CATEGORY_DIGIT: "0",
    c.CATEGORY_NOT_DIGIT: "a",
    c.CATEGORY_SPACE: " ",
    c.CATEGORY_NOT_SPACE: "a",
    c.CATEGORY_WORD: "a",
    c.CATEGORY_NOT_WORD: "-",
    c.CATEGORY_LINEBREAK: "\n",
    c.CATEGORY_NOT_LINEBREAK: "a",
}


class _Unknown(Exception):
    """The builder met something it does not model; the answer is "don't know"."""


def can_match(pattern: re.Pattern[str]) -> bool | None:
    """False when no text can match `pattern`, True when one was found, None when it cannot tell."""
    try:
        candidates = _texts(_parser.parse(pattern.pattern, pattern.flags))
    except Exception:  # _Unknown, or a parser whose shape changed: never guess
        return None
    return any(pattern.search(text) for text in candidates)


def regex_literal(pattern: re.Pattern[str]) -> tuple[bool, str] | None:
    """(True, L) if the regex is exactly ^L, (False, L) if exactly L, with L plain text; else None."""
    try:
        items = list(_parser.parse(pattern.pattern, pattern.flags))
    except Exception:
        return None
    anchored = bool(items) and items[0] == (c.AT, c.AT_BEGINNING_STRING)
    if items and items[0] == (c.AT, c.AT_BEGINNING) and not pattern.flags & re.MULTILINE:
        anchored = True
    body = items[1:] if anchored else items
    if not body or any(op is not c.LITERAL for op, _ in body):
        return None
    return anchored, "".join(chr(av) for _, av in body)


def regex_guarantee(pattern: re.Pattern[str]) -> tuple[str | None, list[str]]:
    """What every match holds: the literal text it starts with (or None), and literal runs inside it.

    Case-insensitive patterns guarantee nothing literal.
    """
    if pattern.flags & re.IGNORECASE:
        return None, []
    try:
        items = list(_parser.parse(pattern.pattern, pattern.flags))
    except Exception:
        return None, []
    runs, current = [], ""
    for op, av in items:
        if op is c.LITERAL:
            current += chr(av)
            continue
        if current:
            runs.append(current)
        current = ""
    if current:
        runs.append(current)
    start = None
    if items and (
        items[0] == (c.AT, c.AT_BEGINNING_STRING)
        or (items[0] == (c.AT, c.AT_BEGINNING) and not pattern.flags & re.MULTILINE)
    ):
        start = ""
        for op, av in items[1:]:
            if op is not c.LITERAL:
                break
            start += chr(av)
    return start, runs


# ------------------------------------------------------------------------------------------- candidates


def _texts(items) -> list[str]:
    """Candidate texts for a sequence of parse items (their concatenations)."""
    texts = [""]
    for op, av in items:
        options = _options(op, av)
        texts = [a + b for a, b in itertools.product(texts, options)]
        if len(texts) > _MAX_CANDIDATES:
            raise _Unknown
    return texts


def _options(op, av) -> list[str]:
    if op is c.LITERAL:
        return [chr(av)]
    if op is c.NOT_LITERAL:
        return [next(ch for ch in _POOL if ord(ch) != av)]
    if op is c.ANY:
        return ["a"]
    if op is c.AT:
        if av not in _POSITION_ANCHORS:
            raise _Unknown  # word boundaries depend on which characters were picked
        return [""]  # anchors consume nothing; the real regex judges them
    if op is c.IN:
        return _class_members(av)
    if op is c.BRANCH:
        return [text for alternative in av[1] for text in _texts(alternative)]
    if op is c.SUBPATTERN:
        return _texts(av[-1])
    if op is c.ATOMIC_GROUP:
        return _texts(av)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        low, high, body = av
        inner = _texts(body)
        counts = [n for n in (low, low + 1) if n <= high]
        return [text * n for n in counts for text in inner]
    raise _Unknown  # look-arounds, back references, conditional groups


def _class_members(items) -> list[str]:
    """Characters that belong to a character class [..] (an empty list if none could be found)."""
    negated = bool(items) and items[0][0] is c.NEGATE
    body = items[1:] if negated else items
    pool = list(_POOL)
    for op, av in body:
        if op is c.LITERAL:
            pool.insert(0, chr(av))
        elif op is c.RANGE:
            pool[:0] = [chr(av[0]), chr(av[1])]
        elif op is c.CATEGORY:
            pool.insert(0, _CATEGORY_SAMPLES.get(av, "a"))
        else:
            raise _Unknown
    members = [ch for ch in dict.fromkeys(pool) if _in_class(ch, body) != negated]
    return members[:2]


def _in_class(ch: str, body) -> bool:
    for op, av in body:
        if op is c.LITERAL and ord(ch) == av:
            return True
        if op is c.RANGE and av[0] <= ord(ch) <= av[1]:
            return True
        if op is c.CATEGORY and re.fullmatch(_CATEGORY_REGEX[av], ch):
            return True
    return False


_CATEGORY_REGEX = {
    c.CATEGORY_DIGIT: r"\d",
    c.CATEGORY_NOT_DIGIT: r"\D",
    c.CATEGORY_SPACE: r"\s",
    c.CATEGORY_NOT_SPACE: r"\S",
    c.CATEGORY_WORD: r"\w",
    c.CATEGORY_NOT_WORD: r"\W",
    c.CATEGORY_LINEBREAK: r"\n",
    c.CATEGORY_NOT_LINEBREAK: r"[^\n]",
}
