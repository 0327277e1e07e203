"""Beancount: tokenbooks' journals as plain-text double entry that `bean-check` validates.

Two uses, one writer:

- **export** (`tokenbooks export beancount`): a period's posted journals of any entity, with the mapping's
  account roles given readable names (`BeancountNames`: `ai_cogs` → `Expenses:AI:COGS`, `accrued_ai_costs`
  → `Liabilities:Accrued-AI-Costs` …), QuickBooks class / department and Xero tracking as posting
  metadata, the journal key as a link (`^TB-AC-261003-001`) and metadata, `open` directives and, on the
  first day after the period, a `balance` assertion per account (the period's trial balance, which
  bean-check recomputes);
- **a ledger target** (`BeancountLedger`): an entity whose mapping says `ledger: beancount` posts into a
  `.beancount` file (its roles name beancount accounts directly). It implements the ledger port: posting
  appends (a key already in the file is never written twice: the shared settle step finds it the same,
  FOUND, or different, refused), and the read side parses the file with
  beancount's own loader, so reconciliation can read it back.
Writing needs nothing but this module; reading the file back needs the `beancount` package (the
`beancount` extra: `pip install 'tokenbooks[beancount]'`).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from connector.domain.errors import ConfigError
from connector.domain.fx import Rate
from connector.domain.journals import Journal, LedgerTarget, check_journal
from connector.domain.mapping import CATEGORY_ROLE, MappingSet
from connector.ledgers.port import (
    CurrencySetup,
    Held,
    LedgerAccount,
    LedgerBill,
    LedgerJournal,
    LedgerLine,
    LedgerStats,
    PostOutcome,
    PostRequest,
    PostResult,
    TrackingOption,
)
from connector.ledgers.settle import decide

ROLE_ACCOUNTS: dict[str, str] = {
    "ai_cogs": "Expenses:AI:COGS",
    "rnd": "Expenses:AI:Research-Development",
    "sales_marketing": "Expenses:AI:Sales-Marketing",
    "g_and_a": "Expenses:AI:General-Administrative",
    "suspense": "Expenses:AI:Suspense",
    "loss_on_expired_credits": "Expenses:AI:Expired-Credits",
    "amortization_expense": "Expenses:AI:Amortization",
    "capitalized_software": "Assets:Capitalized-Software",
    "accumulated_amortization": "Assets:Capitalized-Software:Accumulated-Amortization",
    "prepaid_ai_credits": "Assets:Prepaid-AI-Credits",
    "accrued_ai_costs": "Liabilities:Accrued-AI-Costs",
    "deferred_revenue": "Liabilities:Deferred-Revenue",
    "ai_usage_revenue": "Income:AI-Usage",
    "breakage_revenue": "Income:Breakage",
}
UNMAPPED_ROOT = "Equity:Unmapped"  # an account the mapping no longer names (it changed since posting)
_ROOTS = ("Assets", "Liabilities", "Equity", "Income", "Expenses")
_COMPONENT = re.compile(r"[^A-Za-z0-9-]+")


def component(text: str) -> str:
    """A beancount account component: letters, digits and hyphens, starting with a capital or a digit."""
    cleaned = _COMPONENT.sub("-", text).strip("-") or "X"
    return cleaned[0].upper() + cleaned[1:]


@dataclass(frozen=True)
class BeancountNames:
    """Readable beancount account names for the account references of one ledger (QBO numbers, Xero codes)."""

    by_reference: Mapping[str, str]

    @classmethod
    def from_mapping(cls, mapping: MappingSet, ledger: str) -> BeancountNames:
        names: dict[str, str] = {}
        for rule in mapping.rules:  # accounts a rule names itself sit under its category's role
            for destination in rule.destinations:
                target = destination.target_for(ledger)
                if target is not None:
                    role_name = ROLE_ACCOUNTS[CATEGORY_ROLE[destination.category]]
                    readable = _as_account(target.account) or f"{role_name}:{component(target.account)}"
                    names.setdefault(target.account, readable)
        for role, targets in mapping.roles:  # role bindings win: the common case reads best
            target = dict(targets).get(ledger)
            if target is not None and role in ROLE_ACCOUNTS:
                names[target.account] = _as_account(target.account) or ROLE_ACCOUNTS[role]
        return cls(names)

    def account(self, target: LedgerTarget) -> str:
        return (
            self.by_reference.get(target.account)
            or _as_account(target.account)
            or f"{UNMAPPED_ROOT}:{component(target.account)}"
        )


def _as_account(reference: str) -> str | None:
    """A reference that already is a beancount account name (a `ledger: beancount` entity's roles)."""
    root = reference.split(":", 1)[0]
    return reference if root in _ROOTS and ":" in reference else None


# ------------------------------------------------------------------------------------------- writing


@dataclass(frozen=True, slots=True)
class Posted:
    """A journal as the ledger holds it: with where it is (`ledger`, `ledger_id`) when it was posted elsewhere."""

    journal: Journal
    ledger: str = ""
    ledger_id: str | None = None


def quoted(text: str) -> str:
    one_line = " ".join(str(text).split())
    return '"' + one_line.replace("\\", "\\\\").replace('"', '\\"') + '"'


def transaction(posted: Posted, names: BeancountNames) -> str:
    """One journal as a beancount transaction (key as a link and metadata, dimensions as posting metadata)."""
    journal = posted.journal
    payee = journal.provider or "tokenbooks"
    lines = [f"{journal.txn_date} * {quoted(payee)} {quoted(journal.memo or journal.key)} ^{journal.key}"]
    meta = {"key": journal.key, "kind": journal.kind.value}
    if journal.provider_account:
        meta["provider-account"] = journal.provider_account
    if journal.original_date:
        meta["original-date"] = journal.original_date.isoformat()
    if journal.exchange_rate is not None:
        meta["exchange-rate"] = str(journal.exchange_rate)
    if posted.ledger_id:
        meta[f"{component(posted.ledger).lower()}-id"] = posted.ledger_id
    lines += [f"  {key}: {quoted(value)}" for key, value in meta.items()]
    for line in journal.lines:
        lines.append(f"  {names.account(line.target):<50} {line.amount:>14} {journal.currency}")
        lines += [f"    {key}: {quoted(value)}" for key, value in _dimensions(line.target, line.description)]
    return "\n".join(lines)


def _dimensions(target: LedgerTarget, description: str) -> list[tuple[str, str]]:
    found = []
    if target.class_name:
        found.append(("class", target.class_name))
    if target.department:
        found.append(("department", target.department))
    if target.tracking:
        found.append(("tracking", "; ".join(f"{category}={option}" for category, option in target.tracking)))
    if description:
        found.append(("description", description))
    return found


@dataclass
class Document:
    """A whole beancount file: options, opens, transactions, and balance assertions after the period."""

    title: str
    currency: str
    opened_on: date
    comments: Sequence[str] = ()
    assert_on: date | None = None  # the first day after the period: balances are checked there
    postings: list[Posted] = field(default_factory=list)

    def render(self, names: BeancountNames) -> str:
        journals = sorted(self.postings, key=lambda p: (p.journal.txn_date, p.journal.key))
        accounts = sorted({names.account(ln.target) for p in journals for ln in p.journal.lines})
        parts = [
            *(f"; {comment}" for comment in self.comments),
            f"option {quoted('title')} {quoted(self.title)}",
            f"option {quoted('operating_currency')} {quoted(self.currency)}",
            "",
            *(f"{self.opened_on} open {account}" for account in accounts),
        ]
        for posted in journals:
            parts += ["", transaction(posted, names)]
        if self.assert_on is not None and journals:
            parts += ["", "; the period's closing balance of each account, recomputed by bean-check"]
            for (account, currency), total in sorted(balances(journals, names).items()):
                parts.append(f"{self.assert_on} balance {account:<50} {total:>14} {currency}")
        return "\n".join(parts) + "\n"


def balances(postings: Iterable[Posted], names: BeancountNames) -> dict[tuple[str, str], Decimal]:
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for posted in postings:
        for line in posted.journal.lines:
            totals[(names.account(line.target), posted.journal.currency)] += line.amount
    return dict(totals)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` whole (a crash leaves the old file or the new one, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def day_after(day: date) -> date:
    return day + timedelta(days=1)


# ------------------------------------------------------------------------------------- ledger target


def _beancount() -> Any:
    """The beancount package (imported when a file is read back, so writing never needs it)."""
    try:
        import beancount.core.data
        import beancount.loader
    except ImportError:
        raise ConfigError(
            "reading a beancount file back needs the beancount package",
            fix="pip install 'tokenbooks[beancount]' (or: pip install beancount)",
        ) from None
    return beancount


class BeancountLedger:
    """The ledger port on a `.beancount` file (an entity whose mapping says `ledger: beancount`)."""

    name = "beancount"
    journals_per_request = 30  # appended to one file: any number would do
    settle_seconds = 0.0  # float ok: seconds; nothing commits behind its back
    opens_accounts = True  # the export writes an `open` for every account it uses
    supports_drafts = False

    def __init__(
        self,
        path: Path,
        *,
        title: str,
        currency: str,
        opened_on: date,
        names: BeancountNames | None = None,
    ) -> None:
        self.path = path
        self.title = title
        self.currency = currency
        self.opened_on = opened_on
        self.names = names or BeancountNames({})
        self.stats = LedgerStats()

    # ------------------------------------------------------------------------------------------ reads

    def currency_setup(self) -> CurrencySetup:
        return CurrencySetup(self.currency, foreign_journals=False)

    def lock_date(self) -> date | None:
        return None  # a text file has no closing date; `bean-check` and version control guard it

    def exchange_rate(self, base: str, quote: str, day: date) -> Rate | None:
        return None  # the file keeps no rates for tokenbooks: the policy's rates file gives them

    def chart_of_accounts(self) -> list[LedgerAccount]:
        entries, _ = self._load()
        return _accounts_in(entries)

    def tracking(self) -> list[TrackingOption]:
        return []  # dimensions travel as posting metadata; any value is accepted

    def find(self, key: str) -> LedgerJournal | None:
        return self.find_many([key]).get(key)

    def find_many(self, keys: Sequence[str]) -> dict[str, LedgerJournal]:
        entries, _ = self._load()
        held = _journals_in(entries)
        return {key: held[key] for key in keys if key in held}

    def held(self, journal: Journal) -> Held:
        """The journal as the file would hold it: its accounts under their beancount names."""
        lines = [LedgerLine(self.names.account(line.target), line.amount) for line in journal.lines]
        return Held.of_lines(journal.key, journal.txn_date, lines)

    def read_back(self, first_day: date, last_day: date) -> list[LedgerJournal]:
        entries, _ = self._load()
        return [j for j in _journals_in(entries).values() if first_day <= j.txn_date <= last_day]

    def bills(self, vendor: str, first_day: date, last_day: date) -> list[LedgerBill]:
        return []

    def _load(self) -> tuple[list, list]:
        """The file's entries and beancount's errors, from beancount's own loader."""
        self.stats.read_calls += 1
        if not self.path.exists():
            return [], []
        entries, errors, _options = _beancount().loader.load_file(str(self.path))
        return entries, errors

    # ----------------------------------------------------------------------------------------- writes

    def post(self, requests: Sequence[PostRequest]) -> list[PostResult]:
        """Append the journals not in the file yet, checked by beancount before the file is replaced."""
        for request in requests:  # an unbalanced journal is a bug: nothing of the request is written
            check_journal(request.journal)
        self.stats.write_calls += 1
        entries, _ = self._load()  # read once: the journals already in the file and the accounts opened
        existing = _journals_in(entries)
        opened = {account.id for account in _accounts_in(entries)}
        added: list[str] = []
        results: list[PostResult] = []
        for request in requests:
            journal = request.journal
            if journal.key in existing:  # the shared settle step: same content posted, else refused
                results.append(decide([self.held(journal)], existing, ledger=self.name)[0].result())
                continue
            existing[journal.key] = LedgerJournal(
                journal.key,
                journal.key,
                journal.txn_date,
                tuple(LedgerLine(a, n) for a, n in self.held(journal).postings),
            )
            for line in journal.lines:
                account = self.names.account(line.target)
                if account not in opened:
                    added.append(f"{min(self.opened_on, journal.txn_date)} open {account}")
                    opened.add(account)
            added += ["", transaction(Posted(journal), self.names), ""]
            results.append(PostResult(journal.key, PostOutcome.CREATED, ledger_id=journal.key))
        if any(r.outcome is PostOutcome.CREATED for r in results):
            self._append(added, results)
        return results

    def _append(self, added: list[str], results: list[PostResult]) -> None:
        before = self.path.read_text(encoding="utf-8") if self.path.exists() else self._header()
        write_atomically(self.path, before.rstrip("\n") + "\n\n" + "\n".join(added).strip("\n") + "\n")
        _, errors = self._load()
        if errors:  # beancount refuses the result: put the old file back and say why
            write_atomically(self.path, before)
            said = "; ".join(str(getattr(e, "message", e)) for e in errors[:5])
            for n, result in enumerate(results):
                if result.outcome is PostOutcome.CREATED:
                    results[n] = PostResult(
                        result.key,
                        PostOutcome.REJECTED,
                        message=f"journal {result.key}: bean-check refuses {self.path}: {said}",
                        error_class="Rejected",
                    )

    def _header(self) -> str:
        return (
            f"; {self.title}: written by tokenbooks, one transaction per journal key\n"
            f"option {quoted('title')} {quoted(self.title)}\n"
            f"option {quoted('operating_currency')} {quoted(self.currency)}\n"
        )


def _accounts_in(entries: list) -> list[LedgerAccount]:
    """The accounts a loaded file opens."""
    if not entries:
        return []  # no file yet: nothing to ask beancount (which may not be installed)
    opening = _beancount().core.data.Open
    return [
        LedgerAccount(id=e.account, name=e.account, type=e.account.split(":", 1)[0])
        for e in entries
        if isinstance(e, opening)
    ]


def _journals_in(entries: list) -> dict[str, LedgerJournal]:
    """The journals of a loaded file, by the tokenbooks key in their metadata."""
    found: dict[str, LedgerJournal] = {}
    if not entries:
        return found  # no file yet: nothing to ask beancount (which may not be installed)
    transaction_type = _beancount().core.data.Transaction
    for entry in entries:
        if isinstance(entry, transaction_type) and "key" in entry.meta:
            key = str(entry.meta["key"])
            lines = tuple(LedgerLine(p.account, p.units.number) for p in entry.postings)
            found[key] = LedgerJournal(key, key, entry.date, lines, memo=entry.narration or "")
    return found
