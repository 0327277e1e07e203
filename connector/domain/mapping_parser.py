"""Reading the mapping file: parse and check a mapping document into a `MappingSet` (domain/mapping.py).

Problems are values, each with file:line and a fix; every mistake in the file is reported in one pass.
Rules that can never place a dollar are found by `domain/rule_analysis.py`.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.domain.errors import Problem, errors_only
from connector.domain.journals import LedgerTarget
from connector.domain.ledger_targets import TARGETS
from connector.domain.mapping import (
    CATEGORY_ROLE,
    HUNDRED,
    MATCHABLE,
    REQUIRED_ROLES,
    ROLES,
    SUSPENSE_RULE_ID,
    Category,
    Condition,
    Destination,
    Entity,
    MappingSet,
    MatchKind,
    Rule,
)
from connector.domain.money import MoneyError, currency_code
from connector.domain.providers import misnamed_providers
from connector.domain.rule_analysis import analyse_rules
from connector.domain.versioned_file import FileReader, read_document, read_effective_from, read_version
from connector.domain.yaml_lines import LineDict, LineList

_Reader = FileReader  # collects problems while reading one mapping document


def parse_mapping(
    text: str, source: str, *, analyse: bool = True, partial: bool = False
) -> tuple[MappingSet | None, list[Problem]]:
    """Parse and check a mapping document.

    Returns the mapping only when there are no errors, with any warnings. `analyse` also finds rules
    that can never place a dollar (shadowed by an earlier rule, or contradictory, or testing a provider
    name facts never carry); versions stored in the past are re-read without it, because they were
    accepted when first seen. `partial` returns, despite errors, what could be read (entities, roles,
    rules), so `mappings check` also checks it against the ledger's chart: every mistake in one run.
    """
    reader = _Reader(source)
    document = read_document(text, reader, "mapping", _SEE_EXAMPLE)
    if document is None:
        return None, reader.problems
    _check_known_keys(reader, document, _TOP_KEYS, "top level")
    version = _read_version(reader, document)
    effective_from = _read_effective_from(reader, document)
    change_note = _read_text(reader, document, "change_note", required=True)
    entities = _read_entities(reader, document)
    ledgers_used = {e.ledger for e in entities} | _declared_ledgers(document)
    roles = _read_roles(reader, document, ledgers_used)
    role_targets = {role: dict(targets) for role, targets in roles}
    role_node = document.get("roles")
    role_lines = {r: role_node.line_of(r) for r, _ in roles} if isinstance(role_node, LineDict) else {}
    rules = _read_rules(reader, document, role_targets, ledgers_used)
    suspense = _read_suspense(reader, document, role_targets, ledgers_used, role_lines)
    if analyse:
        reader.problems.extend(analyse_rules(rules, {e.id for e in entities}, source))
        reader.problems.extend(misnamed_providers(_provider_values(rules), source))
    errors = errors_only(reader.problems)
    complete = not errors and suspense is not None and version is not None and effective_from is not None
    if not complete and not (partial and entities):
        return None, reader.problems
    mapping = MappingSet(
        version=version or 0,
        effective_from=effective_from or date.min,
        change_note=change_note or "",
        entities=tuple(entities),
        roles=roles,
        rules=tuple(rules),
        suspense=suspense or Destination(HUNDRED, Category.SUSPENSE, ()),
        source=source,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        role_lines=tuple(role_lines.items()),
    )
    return mapping, reader.problems


def _provider_values(rules: Iterable[Rule]) -> Iterator[tuple[str | None, int, str]]:
    """Every provider name a rule tests exactly (value, line, where)."""
    for rule in rules:
        for condition in rule.conditions:
            if condition.dimension == "provider" and condition.kind in (MatchKind.EXACT, MatchKind.ONE_OF):
                for value in condition.values:
                    yield value, condition.line or rule.line, f"rules.{rule.id}.when.provider"


_SEE_EXAMPLE = "compare with mappings/example.yaml and docs/mapping-guide.md"
_TOP_KEYS = ("mapping_version", "effective_from", "change_note", "entities", "roles", "rules", "suspense")
_RULE_KEYS = ("id", "description", "when", "category", "split")  # and a target per ledger (`TARGETS`)
_SPLIT_KEYS = ("percent", "category")
_ENTITY_KEYS = ("name", "ledger", "currency", "timezone")


def _check_known_keys(reader: _Reader, node: LineDict, allowed: Iterable[str], where: str) -> None:
    reader.known_keys(node, allowed, where)


def _read_version(reader: _Reader, doc: LineDict) -> int | None:
    return read_version(reader, doc, "mapping_version")


def _read_effective_from(reader: _Reader, doc: LineDict) -> date | None:
    return read_effective_from(reader, doc)


def _read_text(reader: _Reader, node: LineDict, key: str, *, required: bool) -> str | None:
    value = node.get(key)
    if value is None:
        if required:
            reader.problem(node.line, key, "missing", f"add `{key}:` with a short sentence")
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        reader.problem(node.line_of(key), key, f"{value!r} is not text", f"write `{key}` as plain text")
        return None
    return str(value)


def _read_entities(reader: _Reader, doc: LineDict) -> list[Entity]:
    node = doc.get("entities")
    if not isinstance(node, LineDict) or not node:
        reader.problem(
            doc.line_of("entities"),
            "entities",
            "missing or empty",
            "declare each company: `entities: {acme-us: {ledger: quickbooks, currency: USD, "
            "timezone: America/New_York}}`",
        )
        return []
    entities = []
    for entity_id, spec in node.items():
        line = node.line_of(entity_id)
        if not isinstance(spec, LineDict):
            reader.problem(
                line, f"entities.{entity_id}", "must be a mapping", "give ledger, currency, timezone"
            )
            continue
        _check_known_keys(reader, spec, _ENTITY_KEYS, f"entity {entity_id}")
        entity = _read_entity(reader, str(entity_id), spec)
        if entity:
            entities.append(entity)
    return entities


def _declared_ledgers(document: LineDict) -> set[str]:
    """The known ledgers the entities name, even an entity with another mistake (so that its roles are
    still checked for that ledger, and no other ledger is asked for)."""
    node = document.get("entities")
    specs = node.values() if isinstance(node, LineDict) else ()
    return {str(s.get("ledger")) for s in specs if isinstance(s, LineDict) and s.get("ledger") in TARGETS}


def _read_entity(reader: _Reader, entity_id: str, spec: LineDict) -> Entity | None:
    ok = True
    ledger = spec.get("ledger")
    if ledger not in TARGETS:
        reader.problem(
            spec.line_of("ledger"),
            f"entities.{entity_id}.ledger",
            f"{ledger!r} is not a ledger tokenbooks posts to",
            f"use one of: {', '.join(TARGETS.names())}",
        )
        ok = False
    currency = spec.get("currency", "USD")
    try:
        currency = currency_code(currency)
    except MoneyError as exc:
        reader.problem(spec.line_of("currency"), f"entities.{entity_id}.currency", str(exc), "use e.g. USD")
        ok = False
    timezone = spec.get("timezone", "UTC")
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        reader.problem(
            spec.line_of("timezone"),
            f"entities.{entity_id}.timezone",
            f"{timezone!r} is not a time zone",
            "use an IANA name such as America/New_York or Europe/London",
        )
        ok = False
    if not ok:
        return None
    return Entity(entity_id, str(spec.get("name", entity_id)), str(ledger), currency, str(timezone))


def _read_roles(
    reader: _Reader, doc: LineDict, ledgers: set[str]
) -> tuple[tuple[str, tuple[tuple[str, LedgerTarget], ...]], ...]:
    node = doc.get("roles")
    if not isinstance(node, LineDict):
        reader.problem(
            doc.line_of("roles"),
            "roles",
            "missing",
            "bind each account role to the ledger's account, e.g. `ai_cogs: {quickbooks: '5010'}`",
        )
        return ()
    result, unknown = [], []
    for role, spec in node.items():
        line = node.line_of(role)
        if role not in ROLES:
            unknown.append((str(role), line))
            continue
        targets = _read_role_targets(reader, str(role), spec, line)
        result.append((str(role), tuple(sorted(targets.items()))))
    bound = {role for role, _ in result}
    missing = [role for role in REQUIRED_ROLES if role not in bound]
    misspelt: set[str] = set()
    for role, line in unknown:
        # most likely a required role written another way ("r_and_d" for "rnd")
        close = difflib.get_close_matches(role, missing, n=1, cutoff=0.3) or difflib.get_close_matches(
            role, ROLES, n=1, cutoff=0.6
        )
        misspelt.update(close)
        fix = f"did you mean {close[0]!r}? " if close else ""
        reader.problem(line, f"roles.{role}", "unknown role", f"{fix}use one of: {', '.join(ROLES)}")
    for role in missing:
        if role not in misspelt:  # a misspelt role is reported once, above
            fix = f"add `{role}:` under roles with an account for {', '.join(sorted(ledgers))}"
            reader.problem(node.line, f"roles.{role}", "required role is not bound to an account", fix)
    for role, bound_targets in result:
        for ledger in sorted(ledgers - {ledger for ledger, _ in bound_targets}):
            if role in REQUIRED_ROLES:
                reader.problem(
                    node.line_of(role),
                    f"roles.{role}.{ledger}",
                    f"no {ledger} account for this role, but an entity posts to {ledger}",
                    f"add `{ledger}: <account>` to the role",
                )
    return tuple(result)


def _read_role_targets(reader: _Reader, role: str, spec: Any, line: int) -> dict[str, LedgerTarget]:
    if not isinstance(spec, LineDict):
        reader.problem(line, f"roles.{role}", "must map ledgers to accounts", "write `{quickbooks: '5010'}`")
        return {}
    targets = {}
    for ledger, value in spec.items():
        if ledger not in TARGETS:
            reader.problem(
                spec.line_of(ledger),
                f"roles.{role}.{ledger}",
                "unknown ledger",
                f"use one of: {', '.join(TARGETS.names())}",
            )
            continue
        target = _read_target(reader, f"roles.{role}.{ledger}", ledger, value, spec.line_of(ledger), None)
        if target:
            targets[str(ledger)] = target
    return targets


def _read_target(
    reader: _Reader,
    where: str,
    ledger: str,
    value: Any,
    line: int,
    default: LedgerTarget | None,
) -> LedgerTarget | None:
    """A ledger target: an account string, or {account, class, department} / {account, tracking}."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return LedgerTarget(str(value)) if _account_fits(reader, where, ledger, value, line) else None
    if not isinstance(value, LineDict):
        reader.problem(line, where, f"{value!r} is not an account or target", "write an account or a mapping")
        return None
    shape = TARGETS.get(ledger)
    _check_known_keys(reader, value, shape.keys if shape else ("account",), where)
    account = value.get("account", default.account if default else None)
    if account is None or isinstance(account, bool):
        reader.problem(
            line, f"{where}.account", "no account", "name the ledger account, e.g. `account: '5010'`"
        )
        return None
    if not _account_fits(reader, where, ledger, account, line):
        return None
    tracking = _read_tracking(reader, where, value, shape.max_tracking if shape else 0)
    try:
        return LedgerTarget(
            account=str(account),
            class_name=_optional_text(value.get("class")),
            department=_optional_text(value.get("department")),
            tracking=tracking,
        )
    except ValueError as exc:
        reader.problem(value.line, where, str(exc), "keep at most two tracking categories")
        return None


def _account_fits(reader: _Reader, where: str, ledger: str, account: Any, line: int) -> bool:
    """An account reference must follow the ledger's grammar where it has one (its `TargetShape`); whether
    the account exists is checked against the ledger's chart later."""
    shape = TARGETS.get(ledger)
    if shape is None or shape.account_fits(str(account)):
        return True
    reader.problem(
        line,
        f"{where}.account",
        f"{account!r} is not a {shape.ledger} account name",
        shape.account_example,
    )
    return False


def _read_tracking(reader: _Reader, where: str, value: LineDict, most: int) -> tuple[tuple[str, str], ...]:
    tracking = value.get("tracking")
    if tracking is None:
        return ()
    if not isinstance(tracking, LineDict):
        reader.problem(
            value.line_of("tracking"),
            f"{where}.tracking",
            "must map tracking categories to options",
            "write e.g. `tracking: {Product: Support Assistant}`",
        )
        return ()
    if len(tracking) > most:
        reader.problem(
            value.line_of("tracking"),
            f"{where}.tracking",
            f"{len(tracking)} tracking categories; the ledger allows at most {most} per line",
            f"keep {most} tracking categories",
        )
        return ()
    return tuple((str(k), str(v)) for k, v in tracking.items())


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _read_rules(
    reader: _Reader, doc: LineDict, roles: Mapping[str, Mapping[str, LedgerTarget]], ledgers: set[str]
) -> list[Rule]:
    node = doc.get("rules", LineList())
    if not isinstance(node, LineList):
        reader.problem(
            doc.line_of("rules"), "rules", "must be a list of rules", "start each rule with `- id:`"
        )
        return []
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(node):
        line = node.line_of(index)
        if not isinstance(spec, LineDict):
            reader.problem(
                line, f"rules[{index}]", "a rule must be a mapping", "start it with `- id: <name>`"
            )
            continue
        rule = _read_rule(reader, spec, index, roles, ledgers)
        if rule is None:
            continue
        if rule.id in seen:
            reader.problem(
                spec.line_of("id"),
                "id",
                f"rule id {rule.id!r} is used twice (first on line {seen[rule.id]})",
                "give every rule its own id; allocations record it",
            )
            continue
        seen[rule.id] = rule.line
        rules.append(rule)
    return rules


def _read_rule(
    reader: _Reader,
    spec: LineDict,
    index: int,
    roles: Mapping[str, Mapping[str, LedgerTarget]],
    ledgers: set[str],
) -> Rule | None:
    before = len(reader.problems)
    _check_known_keys(reader, spec, (*_RULE_KEYS, *TARGETS.names()), f"rule {spec.get('id', index)}")
    rule_id = spec.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip() or rule_id == SUSPENSE_RULE_ID:
        reader.problem(
            spec.line,
            "id",
            "missing rule id" if rule_id is None else f"{rule_id!r} cannot be a rule id",
            "give the rule a short unique name, e.g. `id: support-assistant`",
        )
        rule_id = f"rules[{index}]"
    conditions = _read_conditions(reader, spec, rule_id)
    destinations = _read_destinations(reader, spec, rule_id, roles, ledgers)
    if len(reader.problems) > before:
        return None
    return Rule(
        id=rule_id,
        description=str(spec.get("description", "")),
        conditions=tuple(conditions),
        destinations=tuple(destinations),
        line=spec.line,
    )


def _read_conditions(reader: _Reader, spec: LineDict, rule_id: str) -> list[Condition]:
    when = spec.get("when")
    if not isinstance(when, LineDict) or not when:
        reader.problem(
            spec.line_of("when") if "when" in spec else spec.line,
            f"{rule_id}.when",
            "a rule needs at least one condition",
            "add e.g. `when: {provider: openai, project: proj_support}`; unmatched spend already goes to "
            "suspense, so a catch-all rule is not needed",
        )
        return []
    conditions = []
    for dimension, value in when.items():
        line = when.line_of(dimension)
        if dimension == "tags":
            conditions.extend(_read_tag_conditions(reader, rule_id, value, line))
            continue
        name = str(dimension)
        if name not in MATCHABLE and not name.startswith("tag:"):
            reader.problem(
                line,
                f"{rule_id}.when.{name}",
                "unknown dimension",
                f"match on one of: {', '.join(MATCHABLE)}, or tags (check the spelling)",
            )
            continue
        condition = _read_condition(reader, rule_id, name, value, line)
        if condition:
            conditions.append(condition)
    return conditions


def _read_tag_conditions(reader: _Reader, rule_id: str, value: Any, line: int) -> list[Condition]:
    if not isinstance(value, LineDict):
        reader.problem(
            line, f"{rule_id}.when.tags", "must map tag names to values", "write `tags: {team: growth}`"
        )
        return []
    found = []
    for tag, tag_value in value.items():
        condition = _read_condition(reader, rule_id, f"tag:{tag}", tag_value, value.line_of(tag))
        if condition:
            found.append(condition)
    return found


def _read_condition(reader: _Reader, rule_id: str, dimension: str, value: Any, line: int) -> Condition | None:
    where = f"{rule_id}.when.{dimension}"
    if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
        return Condition(dimension, MatchKind.EXACT, (None if value is None else str(value),), line=line)
    if isinstance(value, LineList) and value:
        values = tuple(None if v is None else str(v) for v in value)
        return Condition(dimension, MatchKind.ONE_OF, values, line=line)
    if isinstance(value, LineDict) and len(value) == 1:
        ((kind, operand),) = value.items()
        return _read_operator(reader, where, dimension, str(kind), operand, line)
    reader.problem(
        line,
        where,
        f"{value!r} is not a condition",
        "write a value, a list of values, or one of {glob: 'proj_*'}, {regex: '^gpt-4'}, {one_of: [a, b]}",
    )
    return None


def _read_operator(
    reader: _Reader, where: str, dimension: str, kind: str, operand: Any, line: int
) -> Condition | None:
    if kind == "one_of" and isinstance(operand, LineList) and operand:
        values = tuple(None if v is None else str(v) for v in operand)
        return Condition(dimension, MatchKind.ONE_OF, values, line=line)
    if kind == "glob" and isinstance(operand, str):
        return Condition(dimension, MatchKind.GLOB, (operand,), line=line)
    if kind == "regex" and isinstance(operand, str):
        try:
            return Condition(dimension, MatchKind.REGEX, (operand,), re.compile(operand), line=line)
        except re.error as exc:
            reader.problem(line, where, f"invalid regular expression {operand!r}: {exc}", "fix the pattern")
            return None
    if kind not in ("one_of", "glob", "regex"):
        reader.problem(line, where, f"unknown match operator {kind!r}", "use glob, regex or one_of")
    else:
        reader.problem(line, where, f"{kind} needs {'a list' if kind == 'one_of' else 'a text pattern'}", "")
    return None


def _read_destinations(
    reader: _Reader,
    spec: LineDict,
    rule_id: str,
    roles: Mapping[str, Mapping[str, LedgerTarget]],
    ledgers: set[str],
) -> list[Destination]:
    split = spec.get("split")
    if split is None:
        destination = _read_destination(reader, spec, rule_id, HUNDRED, roles, ledgers)
        return [destination] if destination else []
    if "category" in spec:
        reader.problem(
            spec.line_of("category"),
            f"{rule_id}.category",
            "a rule has either a category or a split, not both",
            "move the category into each split line",
        )
    if not isinstance(split, LineList) or len(split) < 2:
        reader.problem(
            spec.line_of("split"),
            f"{rule_id}.split",
            "a split needs at least two lines",
            "list each share as `- {percent: 60, category: cogs}`",
        )
        return []
    destinations = []
    for index, part in enumerate(split):
        line = split.line_of(index)
        if not isinstance(part, LineDict):
            reader.problem(
                line, f"{rule_id}.split[{index}]", "must be a mapping", "write {percent, category}"
            )
            continue
        _check_known_keys(reader, part, (*_SPLIT_KEYS, *TARGETS.names()), f"split of rule {rule_id}")
        percent = _read_percent(reader, part, f"{rule_id}.split[{index}]")
        if percent is None:
            continue
        destination = _read_destination(reader, part, f"{rule_id}.split[{index}]", percent, roles, ledgers)
        if destination:
            destinations.append(destination)
    total = sum((d.percent for d in destinations), Decimal(0))
    if len(destinations) == len(split) and total != HUNDRED:
        reader.problem(
            spec.line_of("split"),
            f"{rule_id}.split",
            f"the percentages sum to {total}, not 100",
            "make the shares add up to exactly 100",
        )
    return destinations


def _read_percent(reader: _Reader, part: LineDict, where: str) -> Decimal | None:
    value = part.get("percent")
    try:
        percent = Decimal(str(value))
    except (InvalidOperation, ValueError):
        percent = None
    if isinstance(value, bool) or percent is None or not percent.is_finite() or not 0 < percent <= HUNDRED:
        reader.problem(
            part.line_of("percent"),
            f"{where}.percent",
            f"{value!r} is not a percentage between 0 and 100",
            "write e.g. `percent: 60`",
        )
        return None
    return percent


def _read_destination(
    reader: _Reader,
    spec: LineDict,
    where: str,
    percent: Decimal,
    roles: Mapping[str, Mapping[str, LedgerTarget]],
    ledgers: set[str],
) -> Destination | None:
    raw = spec.get("category")
    try:
        category = Category(str(raw))
    except ValueError:
        reader.problem(
            spec.line_of("category") if "category" in spec else spec.line,
            f"{where}.category",
            "missing" if raw is None else f"unknown category {raw!r}",
            f"use one of: {', '.join(c.value for c in Category)}",
        )
        return None
    role = CATEGORY_ROLE[category]
    targets = {}
    for ledger in sorted(ledgers):
        default = roles.get(role, {}).get(ledger)
        names_account = isinstance(spec.get(ledger), str | int) or (
            isinstance(spec.get(ledger), LineDict) and "account" in spec[ledger]
        )
        if default is None and role in REQUIRED_ROLES and not names_account:
            continue  # the unbound role is reported once, under roles, not again for every rule using it
        if ledger in spec:
            target = _read_target(
                reader, f"{where}.{ledger}", ledger, spec[ledger], spec.line_of(ledger), default
            )
        else:
            target = default
        if target is None:
            reader.problem(
                spec.line,
                f"{where}.{ledger}",
                f"no {ledger} account: the role {role!r} has none and the rule names none",
                f"bind `{role}` to a {ledger} account under roles, or give the rule `{ledger}: {{account: …}}`",
            )
            continue
        targets[ledger] = target
    if len(targets) != len(ledgers):
        return None
    overrides = [spec.line_of(ledger) for ledger in TARGETS.names() if ledger in spec]
    line = overrides[0] if overrides else spec.line_of("category")
    return Destination(percent, category, tuple(sorted(targets.items())), line=line)


def _read_suspense(
    reader: _Reader,
    doc: LineDict,
    roles: Mapping[str, Mapping[str, LedgerTarget]],
    ledgers: set[str],
    role_line: Mapping[str, int],
) -> Destination | None:
    node = doc.get("suspense")
    if node is None:
        targets = {ledger: roles.get("suspense", {}).get(ledger) for ledger in ledgers}
        if all(targets.values()):
            line = role_line.get("suspense", 0)
            return Destination(HUNDRED, Category.SUSPENSE, tuple(sorted(targets.items())), line=line)  # type: ignore[arg-type]
        return None  # the missing role has been reported already
    if not isinstance(node, LineDict):
        reader.problem(doc.line_of("suspense"), "suspense", "must be a mapping", "write per-ledger targets")
        return None
    spec = LineDict()
    spec.line = node.line
    spec.update(node)
    spec.lines = dict(node.lines)
    spec["category"] = Category.SUSPENSE.value
    return _read_destination(reader, spec, "suspense", HUNDRED, roles, ledgers)
