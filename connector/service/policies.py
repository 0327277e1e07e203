"""Policy use cases: load the controllers' accounting policies, check them, remember every version.

The policy file lives beside the mapping (TOKENBOOKS_POLICIES_FILE). Like the mapping, every version a
run uses is stored the first time it is seen (an audit event says so, with its change note), a version
number names one content forever, and a version whose effective date reaches into the past makes the
next sync plan again from that date (`PolicyVersionRepository.earliest_unapplied`). Without a policy
file the built-in defaults apply (arrears, daily accruals, next open period), and the run says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Protocol

from connector.domain.accounting_policy import BUILT_IN, Billing, FineTuning, PolicyHistory, PolicySet
from connector.domain.errors import ConfigError, Problem, Severity, errors_only
from connector.domain.fx import NO_RATES_FILE, RateTable, parse_rates
from connector.domain.journals import LedgerTarget
from connector.domain.mapping import ROLES, Category, MappingSet
from connector.domain.planner import LockedBehaviour
from connector.domain.policy_file import parse_policies
from connector.service.mappings import line_of, number_problems, read_controller_file, refused
from connector.service.runs import Clock, RunRecorder, reach_back
from connector.store.port import Store
from connector.store.records import VersionRecord


def read_policies(path: Path) -> tuple[PolicySet | None, str, list[Problem]]:
    return read_controller_file(path, parse_policies, "policies", "TOKENBOOKS_POLICIES_FILE")


def load_policies(path: Path | None) -> tuple[PolicySet, str]:
    """The policies in the file, or the built-in defaults when no file is configured."""
    if path is None:
        return BUILT_IN, ""
    policies, text, problems = read_policies(path)
    if policies is None:
        raise _refused(path, errors_only(problems))
    return policies, text


def _refused(path: Path | str, problems: list[Problem]) -> ConfigError:
    return refused(path, problems, "policies", "tokenbooks policies check")


def version_problems(current: PolicySet, rows: list[VersionRecord], text: str = "") -> list[Problem]:
    if current is BUILT_IN:
        return []
    return number_problems(
        source=current.source,
        key="policy_version",
        version=current.version,
        content_hash=current.content_hash,
        rows=rows,
        same=lambda row: _stored(row) == _comparable(current),
        text=text,
        why="journals follow from the policy version in force, so one number must name one content",
        bump_with="",
    )


def _comparable(policies: PolicySet) -> PolicySet:
    """Two files mean the same policies when only comments, layout or the change note differ."""
    return replace(policies, source="", content_hash="", change_note="")


def _stored(row: VersionRecord) -> PolicySet:
    policies, problems = parse_policies(row.content, f"{row.source} (version {row.version})")
    if policies is None:
        raise _refused(row.source, errors_only(problems))
    return _comparable(policies)


class PolicyFileContext(Protocol):
    """The store, and the policies file as the application loaded it."""

    @property
    def store(self) -> Store: ...

    def policies(self) -> tuple[PolicySet, str]: ...


class RunPoliciesContext(Protocol):
    """The policies file as loaded, and the settings a run applies with it."""

    def policies(self) -> tuple[PolicySet, str]: ...

    def default_posting_mode(self) -> str: ...

    def locked_behaviour(self, entity: str) -> LockedBehaviour: ...


def policy_history(ctx: PolicyFileContext) -> PolicyHistory:
    """Every policies version used before, and the current file as the newest."""
    return load_policy_history(ctx.store, *ctx.policies())


def policy_inputs(ctx: RunPoliciesContext, entity: str) -> dict:
    """The accounting policies a run applies to `entity`, as recorded in its audit inputs."""
    policies, _ = ctx.policies()
    return {
        "version": policies.version,
        "effective_from": policies.effective_from.isoformat(),
        "source": policies.source,
        "hash": policies.content_hash,
        "ledger_mode": ctx.default_posting_mode(),
        **policies.entity(entity).summary(),
        "locked_period": ctx.locked_behaviour(entity).value,  # as the run applies it
    }


def load_policy_history(store: Store, current: PolicySet, text: str = "") -> PolicyHistory:
    """Every version used before, plus the current file as the newest; refuses a reused number."""
    with store.unit_of_work() as uow:
        rows = uow.policies.all()
    problems = version_problems(current, rows, text)
    if problems:
        raise _refused(current.source, problems)
    if current is BUILT_IN:
        return PolicyHistory.of([current])
    stored = []
    for row in rows:
        if row.content_hash != current.content_hash:
            policies, _ = parse_policies(row.content, f"{row.source} (version {row.version})")
            if policies is not None:
                stored.append(policies)
    return PolicyHistory.of([*stored, current])


def record_policies(
    store: Store, policies: PolicySet, text: str, *, run_id: str | None, actor: str, clock: Clock
) -> bool:
    """Store a version the first time a run uses it, with an audit event naming it and its change note."""
    if policies is BUILT_IN:
        return False
    with store.unit_of_work() as uow:
        new = uow.policies.record(policies, text, run_id=run_id, now=clock())
        if new:
            uow.events.append(
                "policy.version",
                f"accounting policies version {policies.version} (effective {policies.effective_from}) first "
                f"used: {policies.change_note}",
                run_id=run_id,
                actor=actor,
                data={
                    "version": policies.version,
                    "effective_from": policies.effective_from,
                    "hash": policies.content_hash,
                    "source": policies.source,
                    "change_note": policies.change_note,
                },
                now=clock(),
            )
        uow.commit()
    return new


# ------------------------------------------------------------------------------------------- checking


def role_problems(policies: PolicySet, mapping: MappingSet, text: str = "") -> list[Problem]:
    """Mapping roles the policies need, missing from the mapping (each journal kind needs its accounts)."""
    problems = []
    for entity in mapping.entities:
        policy = policies.entity(entity.id)
        needed: dict[str, str] = {}
        if any(a.billing is Billing.PREPAID for a in policy.accounts):
            needed |= dict.fromkeys(("prepaid_ai_credits", "loss_on_expired_credits"), "prepaid billing")
        capitalizing = policy.capitalization.fine_tuning is FineTuning.CAPITALIZE or any(
            d.category is Category.CAPITALIZE for r in mapping.rules for d in r.destinations
        )
        if capitalizing:
            why = "capitalization and amortization"
            needed |= dict.fromkeys(("capitalized_software", "accumulated_amortization"), why)
            needed[policy.capitalization.amortization_role] = why
        for role, why in sorted(needed.items()):
            if role in ROLES and not mapping.has_role(role, entity.ledger):
                problems.append(
                    Problem(
                        mapping.source,
                        "",
                        f"roles.{role}",
                        f"the policies use {why} for {entity.id}, which needs the {role} role, unbound for "
                        f"{entity.ledger}",
                        f'add `{role}: {{{entity.ledger}: "<account>"}}` under roles',
                    )
                )
    for entity_policy in policies.entities:
        if entity_policy.entity not in {e.id for e in mapping.entities}:
            problems.append(
                Problem(
                    policies.source,
                    line_of(entity_policy.entity, text, nested=True),
                    f"entities.{entity_policy.entity}",
                    "this entity is not in the mapping; its policies are never used",
                    "check the entity id against the mapping's entities",
                    Severity.WARNING,
                )
            )
    return problems


def project_problems(policies: PolicySet, mapping: MappingSet) -> list[Problem]:
    """Capitalized projects against the mapping: each names a capitalize rule, each lands on a line of its
    own (its amortization follows that line), and a capitalize rule without a project is amortized as if
    each month's work went into service at once — said, so the controller declares the project."""
    problems = []
    for entity in mapping.entities:
        capitalization = policies.entity(entity.id).capitalization
        seen: dict[LedgerTarget, str] = {}
        where = f"entities.{entity.id}.capitalization.projects"
        for project in capitalization.projects:
            rule = mapping.rule(project.rule)
            targets = [
                d.target_for(entity.ledger)
                for d in (rule.destinations if rule else ())
                if d.category is Category.CAPITALIZE
            ]
            if not targets:
                capitalizing = sorted(
                    r.id
                    for r in mapping.rules
                    if any(d.category is Category.CAPITALIZE for d in r.destinations)
                )
                problems.append(
                    Problem(
                        policies.source,
                        str(project.line or ""),
                        f"{where}.{project.rule}",
                        f"no mapping rule {project.rule!r} with category capitalize: the project's spend "
                        "could never be found",
                        "name the id of a capitalize rule of the mapping"
                        + (f" ({', '.join(capitalizing)})" if capitalizing else ""),
                    )
                )
            for target in targets:
                if target is not None and seen.setdefault(target, project.rule) != project.rule:
                    problems.append(
                        Problem(
                            policies.source,
                            str(project.line or ""),
                            f"{where}.{project.rule}",
                            f"projects {seen[target]} and {project.rule} capitalize onto the same line "
                            f"({target.describe()}): their cost and amortization could not be told apart",
                            "give each project's capitalize rule its own class, department or tracking option",
                        )
                    )
        declared = {p.rule for p in capitalization.projects}
        for rule in mapping.rules:
            if rule.id not in declared and any(d.category is Category.CAPITALIZE for d in rule.destinations):
                problems.append(
                    Problem(
                        mapping.source,
                        str(rule.line or ""),
                        f"rules.{rule.id}",
                        f"rule {rule.id} capitalizes spend but the policies of {entity.id} declare no project "
                        "for it: each month's cost is amortized from the policy's amortization_start, as if "
                        "that month's work went into service at once",
                        f"declare it under capitalization.projects ({{{rule.id}: {{expensed_as: rnd}}}}) and "
                        "record in_service at go-live (ASC 350-40-35-6: amortization starts when the "
                        "software is ready for its intended use)",
                        Severity.WARNING,
                    )
                )
    return problems


def product_problems(policies: PolicySet, sold: dict[tuple[str, str], list[str]], text: str) -> list[Problem]:
    """Credits already sold as a product the policies name no expected breakage for."""
    problems = []
    for (entity, product), grants in sorted(sold.items()):
        why = policies.entity(entity).unknown_product(product)
        if why:
            problems.append(
                Problem(
                    policies.source,
                    line_of("expected_breakage_percent", text, nested=True),
                    "expected_breakage_percent",
                    f"{why}, yet grant(s) {', '.join(grants[:5])} were sold as it",
                    f"add {product!r} to expected_breakage_percent (a new policy version), or correct the "
                    "product of those purchases in the customer credit file and import it again",
                )
            )
    return problems


def rates_path(policies: PolicySet, entity: str) -> Path | None:
    """The entity's rates file, relative to the policy file (None when the policies name none)."""
    name = policies.entity(entity).rates_file
    if not name:
        return None
    return Path(name) if Path(name).is_absolute() else Path(policies.source).parent / name


def rates_hash(policies: PolicySet, entity: str) -> str:
    path = rates_path(policies, entity)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path else ""
    except OSError:
        return "unreadable"


def rate_table(policies: PolicySet, entity: str) -> RateTable:
    """The entity's rates file, read relative to the policy file (an empty table when none is set)."""
    path = rates_path(policies, entity)
    if path is None:
        return RateTable(source=NO_RATES_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the exchange rates file {path}: {exc.strerror or exc}",
            fix="check fx.rates_file in the policies (a path relative to the policies file)",
        ) from None
    table, problems = parse_rates(text, str(path))
    if problems:
        raise ConfigError(
            f"the exchange rates file {path} has {len(problems)} problem(s): "
            + "; ".join(map(str, problems[:5])),
            fix="fix the rows named",
            problems=problems,
        )
    return table


@dataclass
class PolicyCheck:
    path: Path | None
    policies: PolicySet | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.policies is not None and not errors_only(self.problems)


def check_policies_file(
    store: Store,
    mapping: MappingSet,
    path: Path | None,
    known_accounts: Callable[[str], Iterable[tuple[str, str]]] | None = None,
) -> PolicyCheck:
    """Everything `tokenbooks policies check` reports: the file, its version number, the mapping roles it
    needs, each entity's exchange rates file, and (given `known_accounts`: an entity's (provider,
    account) pairs its sources, facts and lots know) account entries that name an account no one knows."""
    if path is None:
        return PolicyCheck(None, BUILT_IN)
    policies, text, problems = read_policies(path)
    report = PolicyCheck(path, policies, list(problems))
    if policies is None:
        return report
    with store.unit_of_work() as uow:
        report.problems += version_problems(policies, uow.policies.all(), text)
    report.problems += role_problems(policies, mapping, text)
    report.problems += project_problems(policies, mapping)
    with store.unit_of_work() as uow:
        report.problems += product_problems(policies, uow.customer_credits.products(), text)
    for entity in mapping.entities:
        try:
            rate_table(policies, entity.id)
        except ConfigError as exc:
            report.problems += exc.problems or [Problem(str(path), "", "fx.rates_file", exc.message, exc.fix)]
        if known_accounts is not None:
            report.problems += account_problems(policies, entity.id, set(known_accounts(entity.id)))
    return report


def account_problems(policies: PolicySet, entity: str, known: set[tuple[str, str]]) -> list[Problem]:
    """Account entries naming, without a glob, a provider account tokenbooks does not know while it knows
    that provider's others: such an entry never applies (its account's spend is booked by the entity's
    defaults, e.g. accrued daily instead of reversed at month end), and nothing else would say so. A
    provider with no known account yet (nothing configured or pulled) is not judged."""
    problems = []
    for entry in policies.entity(entity).accounts:
        if _is_glob(entry.provider) or _is_glob(entry.account):
            continue
        same_provider = sorted(a for p, a in known if p == entry.provider)
        if same_provider and entry.account not in same_provider:
            problems.append(
                Problem(
                    policies.source,
                    str(entry.line) if entry.line else "",
                    "accounts.account",
                    f"{entity}: no {entry.provider} account {entry.account!r} is known (the {entry.provider} "
                    f"account(s) tokenbooks reads: {', '.join(same_provider)}), so this entry never applies: "
                    "that spend is booked by the defaults instead",
                    f"write the account as the source names it, or set TOKENBOOKS_{_setting(entry.provider)}"
                    f"__ORGANIZATION to {entry.account!r}",
                    Severity.WARNING,
                )
            )
    return problems


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _setting(provider: str) -> str:
    """The settings section of a provider's API source (its ORGANIZATION names the account)."""
    return {"aws": "AWS_COST_EXPLORER", "azure": "AZURE_COST"}.get(provider, provider.upper())


# ------------------------------------------------------------------------------------------- in a run


def prepare_policies(ctx, recorder) -> PolicyHistory:
    """A run's policies: the file (or the defaults), every version used before, the new one recorded."""
    policies, text = ctx.policies()
    history = load_policy_history(ctx.store, policies, text)
    record_policies(ctx.store, policies, text, run_id=recorder.run_id, actor=ctx.actor, clock=ctx.clock)
    return history


def policy_reach_back(store: Store, first_day: date, recorder: RunRecorder) -> date:
    """Plan from the effective date of a policy version no plan has applied yet (a change into the past).

    The periods from that date are planned again under the new version; the difference is booked as new
    journals, in the first open period when the books are closed there, and posted journals stay as they
    are: a change of policy is never retroactive silently.
    """
    with store.unit_of_work() as uow:
        earliest = uow.policies.earliest_unapplied()
    return reach_back(
        recorder,
        first_day,
        earliest,
        "policy.reach_back",
        "a policy version effective {day} has not been applied yet: planning from {day}",
    )


def mark_policies_applied(store: Store, clock: Clock) -> None:
    with store.unit_of_work() as uow:
        uow.policies.mark_applied(clock())
        uow.commit()
