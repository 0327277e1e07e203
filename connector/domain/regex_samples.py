"""What a mapping's regular expression can match, for the rule analysis — without Python's private parser.

- `can_match`: interegular (a maintained library that turns a Python regex into a finite automaton)
  decides whether the pattern, less a leading `^`/`\\A` and a trailing `$`/`\\Z`, matches any text at
  all: an empty automaton means no text can match. A text the automaton accepts is then tried with the
  real `re`, so "can match" is only said when a match was seen. What interegular does not model
  (look-arounds, word boundaries, back references, anchors elsewhere than at the ends) is "don't know".
- `regex_literal` / `regex_guarantee`: the literal text a pattern is, or starts with, read from the
  pattern's text by a plain scan that gives up at the first character that is not a literal (so a
  pattern it cannot read guarantees nothing, which is always safe).

Every "cannot match" answer is therefore sound, and anything undecided degrades to "don't know", never
to a wrong error.
"""

from __future__ import annotations

import itertools
import re

import interegular

_METACHARACTERS = set(".^$*+?{}[]|()\\")
_QUANTIFIERS = set("*+?{")
_ANCHOR_START = ("\\A", "^")
_ANCHOR_END = ("\\Z", "$")
_WITNESSES = 8  # texts tried with the real engine before saying "don't know"
_POOL = "a0_ Z.-/:!~\n"  # stand-ins for "any other character" in a witness
_LOOKAROUNDS = ("(?=", "(?!", "(?<=", "(?<!")


def can_match(pattern: re.Pattern[str]) -> bool | None:
    """False when no text can match `pattern`, True when one was found, None when it cannot tell."""
    text = pattern.pattern
    if any(marker in text for marker in _LOOKAROUNDS):
        return None  # look-arounds: interegular's automaton would not be the whole story
    if _misplaced_anchor(text, pattern.flags):
        return False
    body = _between_anchors(text)
    automaton = _automaton(body, pattern.flags) if body is not None else None
    if automaton is None:
        return None
    if automaton.empty():
        return False
    known = {symbol for symbol in automaton.alphabet if isinstance(symbol, str)}
    other = next(ch for ch in _POOL if ch not in known) if set(_POOL) - known else None
    for symbols in itertools.islice(automaton.strings(), _WITNESSES):
        witness = [s if isinstance(s, str) else other for s in symbols]  # anything_else: any other char
        if None not in witness and pattern.search("".join(witness)):  # type: ignore[arg-type]
            return True
    return None


def _automaton(body: str, flags: int):  # -> interegular.FSM | None
    try:
        return interegular.parse_pattern(_with_flags(body, flags)).to_fsm()
    except Exception:  # interegular refuses what it does not model: never guess
        return None


def _misplaced_anchor(text: str, flags: int) -> bool:
    """True when a start anchor follows text that cannot be empty, or an end anchor is followed by text
    that can be neither empty nor the final newline — at the top level of a pattern with no top-level
    alternation, where the pattern is a plain concatenation around the anchor."""
    if flags & re.MULTILINE or _top_level_alternation(text):
        return False
    offset = 2 if text.startswith("\\A") else 1 if text.startswith("^") else 0
    for index in _top_level(text):
        if index < offset:
            continue
        if text[index] == "^":
            before = _automaton(text[offset:index], flags)
            if before is not None and not before.accepts(""):
                return True
        if text[index] == "$" and index < len(text) - 1:
            after = _automaton(text[index + 1 :], flags)
            if after is not None and not after.accepts("") and not after.accepts("\n"):
                return True
    return False


def regex_literal(pattern: re.Pattern[str]) -> tuple[bool, str] | None:
    """(True, L) if the regex is exactly ^L, (False, L) if exactly L, with L plain text; else None."""
    if pattern.flags & (re.IGNORECASE | re.VERBOSE):
        return None
    anchored, rest = _strip_start(pattern.pattern, pattern.flags)
    literal, remainder = _literal_run(rest)
    if remainder or not literal:
        return None
    return anchored, literal


def regex_guarantee(pattern: re.Pattern[str]) -> tuple[str | None, list[str]]:
    """What every match holds: the literal text it starts with (or None), and literal runs inside it.

    Case-insensitive patterns, and any with an alternation, guarantee nothing literal.
    """
    text = pattern.pattern
    if pattern.flags & (re.IGNORECASE | re.VERBOSE) or _top_level_alternation(text):
        return None, []
    anchored, rest = _strip_start(text, pattern.flags)
    literal, remainder = _literal_run(rest)
    if remainder[:1] in _QUANTIFIERS and literal:
        literal = literal[:-1]  # `abc*`: the c may be absent
    if not literal:
        return ("" if anchored else None), []
    return (literal if anchored else None), [literal]


# ------------------------------------------------------------------------------------------- reading


def _with_flags(body: str, flags: int) -> str:
    inline = "".join(letter for flag, letter in ((re.IGNORECASE, "i"), (re.DOTALL, "s")) if flags & flag)
    return f"(?{inline}){body}" if inline else body


def _strip_start(text: str, flags: int) -> tuple[bool, str]:
    """(anchored at the start of the text, the rest) — `^` only when not MULTILINE."""
    if text.startswith("\\A") or (text.startswith("^") and not flags & re.MULTILINE):
        return True, text[2:] if text.startswith("\\A") else text[1:]
    return False, text


def _between_anchors(text: str) -> str | None:
    """The pattern without one leading start anchor and one trailing end anchor; None if an anchor is
    left elsewhere (its meaning depends on where it is, which only a parser knows)."""
    for anchor in _ANCHOR_START:
        if text.startswith(anchor):
            text = text[len(anchor) :]
            break
    for anchor in _ANCHOR_END:
        if text.endswith(anchor) and not _escaped(text, len(text) - len(anchor)):
            text = text[: -len(anchor)]
            break
    return None if _unescaped_outside_classes(text, "^$") or "\\A" in text or "\\Z" in text else text


def _literal_run(text: str) -> tuple[str, str]:
    """The literal characters `text` starts with (escaped punctuation unescaped), and what follows."""
    literal, index = "", 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            following = text[index + 1 : index + 2]
            if not following or following.isalnum():
                break  # \d, \w, \b, \1 …: a class, an anchor or a reference, not a literal
            literal, index = literal + following, index + 2
            continue
        if char in _METACHARACTERS:
            break
        literal, index = literal + char, index + 1
    return literal, text[index:]


def _escaped(text: str, index: int) -> bool:
    backslashes = len(text[:index]) - len(text[:index].rstrip("\\"))
    return backslashes % 2 == 1


def _unescaped_outside_classes(text: str, characters: str) -> bool:
    return any(text[i] in characters for i in _outside_classes(text))


def _top_level_alternation(text: str) -> bool:
    return any(text[i] == "|" for i in _top_level(text))


def _top_level(text: str) -> list[int]:
    """Positions outside classes and outside every group (parenthesis depth 0)."""
    found, depth = [], 0
    for index in _outside_classes(text):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
        elif depth == 0:
            found.append(index)
    return found


def _outside_classes(text: str) -> list[int]:
    """Positions of the characters that are neither escaped nor inside a character class […]."""
    positions, index, in_class = [], 0, False
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if text[index + 1 : index + 2] == "^":
                index += 1
            if text[index + 1 : index + 2] == "]":
                index += 1  # `[]…]` and `[^]…]`: a leading ] is a member
        else:
            positions.append(index)
        index += 1
    return positions
