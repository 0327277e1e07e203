"""Rules that can never place a dollar: shadowed by earlier rules, or with conditions that cannot hold.

The first matching rule wins, so a rule whose every possible match is already taken by an earlier rule
is dead text in the file: a controller reading it would believe spend lands somewhere it never does.
Likewise a rule whose conditions contradict each other, or test a value no cost can have.

Every conclusion here is *sound*: a rule is reported only when it provably cannot match (an error
stops posting, so a false alarm would be as bad as a miss). Cases that cannot be decided cheaply
(two regular expressions, a glob against a regex without a literal prefix) are left alone.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from functools import cache

from connector.domain.errors import Problem
from connector.domain.facts import ChargeCategory, CostBasis
from connector.domain.mapping import Condition, MatchKind, Rule
from connector.domain.money import MINOR_UNITS
from connector.domain.regex_samples import can_match, regex_guarantee, regex_literal

# Dimensions that every fact carries (never null), and the values some of them can take.
ALWAYS_SET = ("provider", "account", "cost_basis", "charge_category", "currency", "entity")
VOCABULARY: dict[str, tuple[str, ...]] = {
    "cost_basis": tuple(c.value for c in CostBasis),
    "charge_category": tuple(c.value for c in ChargeCategory),
    "currency": tuple(MINOR_UNITS),
}
_GLOB_SPECIAL = "*?["
_UNIVERSAL_REGEXES = frozenset(["", ".*", "^", "^.*", ".*?", "(?s).*", "(?s)^.*"])
_EXPAND_LIMIT = 50  # a one_of longer than this is not split value by value when looking for shadows


def analyse_rules(rules: Sequence[Rule], entity_ids: Iterable[str], source: str) -> list[Problem]:
    """Problems for rules that can never match and for rules shadowed by earlier ones."""
    vocabulary = {**VOCABULARY, "entity": tuple(entity_ids)}
    problems: list[Problem] = []
    live: list[Rule] = []
    for rule in rules:
        impossible = _never_matches(rule, vocabulary, source)
        if impossible:
            problems.append(impossible)
            continue
        shadows = _shadowing_rules(rule, live)
        if shadows:
            problems.append(_shadowed(rule, shadows, source))
        live.append(rule)
    return problems


# ------------------------------------------------------------------------------------------ never matches


def _never_matches(rule: Rule, vocabulary: dict[str, tuple[str, ...]], source: str) -> Problem | None:
    for condition in rule.conditions:
        reason = _impossible_condition(condition, vocabulary)
        if reason:
            message, fix = reason
            return _problem(source, condition.line or rule.line, rule.id, condition, message, fix)
    by_dimension: dict[str, list[Condition]] = {}
    for condition in rule.conditions:
        by_dimension.setdefault(condition.dimension, []).append(condition)
    for conditions in by_dimension.values():
        for first, second in itertools.combinations(conditions, 2):
            if _disjoint(first, second):
                return _problem(
                    source,
                    second.line or rule.line,
                    rule.id,
                    second,
                    f"it also requires {_describe(first)} (line {first.line}); no cost can satisfy both, "
                    "so the rule can never match",
                    "keep one of the two conditions",
                )
    return None


def _impossible_condition(
    condition: Condition, vocabulary: dict[str, tuple[str, ...]]
) -> tuple[str, str] | None:
    dimension = condition.dimension
    finite = finite_values(condition)
    if dimension in ALWAYS_SET and finite is not None and finite <= {None}:
        return (
            f"every cost has a {dimension}, so `null` never matches and the rule can never match",
            f"name the {dimension} to match, or remove the condition",
        )
    known = vocabulary.get(dimension)
    if known is not None and not any(condition.matches(value) for value in known):
        shown = ", ".join(known) if len(known) <= 12 else "ISO 4217 codes such as USD or EUR"
        fix = f"use one of: {shown}"
        upper = sorted({v.upper() for v in finite or () if v and v.upper() in known})
        if upper:
            fix = f"write {', '.join(upper)}: codes are upper-case"
        return (
            f"{dimension} is always one of {shown}; {_describe(condition)} matches none of them, "
            "so the rule can never match",
            fix,
        )
    if condition.pattern is not None and can_match(condition.pattern) is False:
        return (
            f"the regular expression {condition.values[0]!r} cannot match any text, so the rule can "
            "never match",
            "check the anchors (^ $) and the order of the pattern; test it on a real value",
        )
    return None


def _disjoint(first: Condition, second: Condition) -> bool:
    """True only when no value can satisfy both conditions (decided for finite value sets)."""
    for a, b in ((first, second), (second, first)):
        values = finite_values(a)
        if values is not None:
            return not any(b.matches(v) for v in values)
    return False


# ---------------------------------------------------------------------------------------------- shadows


def _shadowing_rules(rule: Rule, earlier: Sequence[Rule]) -> list[Rule]:
    """Earlier rules that together match every cost `rule` matches (empty when `rule` is reachable)."""
    for candidate in earlier:
        if covers_rule(candidate, rule.conditions):
            return [candidate]
    # A rule listing several values may be shadowed value by value by different earlier rules.
    for index, condition in enumerate(rule.conditions):
        values = finite_values(condition)
        if values is None or len(values) < 2 or len(values) > _EXPAND_LIMIT:
            continue
        found: list[Rule] = []
        for value in sorted(values, key=lambda v: (v is None, v or "")):
            narrowed = Condition(condition.dimension, MatchKind.EXACT, (value,))
            conditions = (*rule.conditions[:index], narrowed, *rule.conditions[index + 1 :])
            cover = next((r for r in earlier if covers_rule(r, conditions)), None)
            if cover is None:
                break
            if cover not in found:
                found.append(cover)
        else:
            return sorted(found, key=lambda r: r.line)
    return []


def covers_rule(earlier: Rule, conditions: Sequence[Condition]) -> bool:
    """Does every cost meeting all `conditions` also meet all of `earlier`'s conditions?"""
    return all(
        any(c.dimension == e.dimension and covers(e, c) for c in conditions) for e in earlier.conditions
    )


def covers(wide: Condition, narrow: Condition) -> bool:
    """True when every value `narrow` matches is matched by `wide` (sound, not complete)."""
    values = finite_values(narrow)
    if values is not None:
        return all(wide.matches(v) for v in values)
    if finite_values(wide) is not None:
        return False  # a pattern matches endlessly many values; a list cannot hold them all
    if wide.kind is narrow.kind and wide.values == narrow.values:
        return True
    if wide.kind is MatchKind.GLOB and set(wide.values[0] or "") == {"*"}:
        return True  # "*" matches any text, and patterns never match a missing value
    if wide.kind is MatchKind.REGEX and wide.values[0] in _UNIVERSAL_REGEXES:
        return True
    if wide.kind is MatchKind.GLOB and narrow.kind is MatchKind.GLOB:
        return glob_covers(wide.values[0] or "", narrow.values[0] or "")
    return _prefix_covers(wide, narrow)


def finite_values(condition: Condition) -> frozenset[str | None] | None:
    """The values a condition matches when there are finitely many, else None."""
    if condition.kind in (MatchKind.EXACT, MatchKind.ONE_OF):
        return frozenset(condition.values)
    if condition.kind is MatchKind.GLOB and not any(
        ch in (condition.values[0] or "") for ch in _GLOB_SPECIAL
    ):
        return frozenset(condition.values)
    return None


@cache
def glob_covers(wide: str, narrow: str) -> bool:
    """Does glob `wide` match every text glob `narrow` matches? Sound token by token; `[…]` only if equal."""
    if "[" in wide or "[" in narrow:
        return wide == narrow

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(wide):
            return j == len(narrow)
        if wide[i] == "*":  # a star takes any run of the narrow pattern, stars included
            return match(i + 1, j) or (j < len(narrow) and match(i, j + 1))
        if j == len(narrow) or narrow[j] == "*":
            return False
        if wide[i] == "?":
            return match(i + 1, j + 1)  # one character of either kind: a literal or "?"
        return narrow[j] == wide[i] and match(i + 1, j + 1)

    return match(0, 0)


def _prefix_covers(wide: Condition, narrow: Condition) -> bool:
    """A wide pattern that only asks for a literal start (or a literal inside) against a narrow one."""
    need = _literal_need(wide)
    if need is None:
        return False
    anchored, literal = need
    start, runs = _literal_guarantee(narrow)
    if anchored:
        return start is not None and start.startswith(literal)
    return any(literal in run for run in runs)


def _literal_need(condition: Condition) -> tuple[bool, str] | None:
    """(True, L): the value must start with L; (False, L): it must contain L; None: something else."""
    text = condition.values[0] or ""
    if condition.kind is MatchKind.GLOB:
        body = text.rstrip("*")
        if text.endswith("*") and not any(ch in body.lstrip("*") for ch in _GLOB_SPECIAL):
            return (False, body.lstrip("*")) if body.startswith("*") else (True, body)
        return None
    if condition.pattern is None:
        return None
    return regex_literal(condition.pattern)


def _literal_guarantee(condition: Condition) -> tuple[str | None, list[str]]:
    """What every value the condition matches holds: a literal start (or None), and literal runs."""
    text = condition.values[0] or ""
    if condition.kind is MatchKind.GLOB:
        runs = [run for run in re.split(r"\*|\?|\[[^\]]*\]", text) if run]
        start = re.split(r"\*|\?|\[", text, maxsplit=1)[0]
        return start, runs
    if condition.pattern is None:
        return None, []
    return regex_guarantee(condition.pattern)


# ----------------------------------------------------------------------------------------------- messages


def _describe(condition: Condition) -> str:
    name = condition.dimension.replace("tag:", "tag ")
    if condition.kind is MatchKind.EXACT:
        value = condition.values[0]
        return f"{name} = {'null' if value is None else repr(value)}"
    if condition.kind is MatchKind.ONE_OF:
        return f"{name} one of {list(condition.values)}"
    return f"{name} {condition.kind.value} {condition.values[0]!r}"


def _problem(source: str, line: int, rule_id: str, condition: Condition, message: str, fix: str) -> Problem:
    return Problem(source, str(line), f"{rule_id}.when.{condition.dimension}", message, fix)


def _shadowed(rule: Rule, shadows: list[Rule], source: str) -> Problem:
    named = ", ".join(f"{r.id!r} (line {r.line})" for r in shadows)
    who = (
        f"the earlier rule {named} matches"
        if len(shadows) == 1
        else f"the earlier rules {named} together match"
    )
    return Problem(
        source,
        str(rule.line),
        rule.id,
        f"this rule can never be reached: {who} every cost it would match, and the first match wins",
        f"move {rule.id!r} above {shadows[0].id!r} if it is the more specific rule, narrow the earlier "
        "rule, or delete this one",
    )
