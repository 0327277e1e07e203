"""Reconciliation, as balance assertions: provider cost ↔ invoice ↔ what tokenbooks posted ↔ the ledger.

Pure: figures in, findings and a status out. Each finding is an assertion that either holds within its
tolerance or names the difference and, where it can, explains it (rounding, estimated amounts, late
usage, tax, credits). Every finding says the currency of its figures.

Books kept in another currency than the provider's, which the ledger holds converted (Xero; QuickBooks
without multicurrency: domain/fx.py), are reconciled in both: the provider's cost, its invoice and what
tokenbooks posted *as computed* in the provider's currency; what tokenbooks posted and what the ledger
holds in the books' currency; and the two postings tied by the rates they were converted at, the
rounding of that conversion explained (`ConvertedBooks`).

A prepaid provider account (`PrepaidMonth`) is billed for the credits it buys, not for the month's usage
drawn from them: its month is reconciled as cost ↔ posted (draws + any accrual beyond the lots) ↔ the
ledger, and an invoice is expected only for the usage accrued beyond its lots (billed in arrears). The
lots bought in the month are matched to the month's invoice when one was imported (its `purchase`
lines); the lots' remaining balance on the last day is shown beside what the books hold for them.
Findings that are only shown (`Finding.shown_only`) never decide the status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from connector.domain.fx import Rate
from connector.domain.money import ZERO, format_money, quantize, quantum


class ReconStatus(StrEnum):
    MATCHED = "matched"
    WITHIN_TOLERANCE = "within_tolerance"
    VARIANCE = "variance"
    MISSING_INVOICE = "missing_invoice"
    DRIFT = "drift"
    # the ledger holds tokenbooks' journals as drafts (Xero's draft posting mode): not in its reports until
    # a person approves them there
    UNAPPROVED_DRAFTS = "unapproved_drafts"
    UNKNOWN_ACCOUNT = "unknown_account"  # an invoice for a provider account no source knows


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # e.g. "invoice = provider cost"
    holds: bool
    expected: Decimal | None
    actual: Decimal | None
    difference: Decimal
    explanation: str = ""
    currency: str = ""  # of expected, actual and difference
    shown_only: bool = False  # shown to the controller, never a reason the period is not settled

    @property
    def title(self) -> str:
        """The check, naming the currency of its figures (unless its name does)."""
        if not self.currency or self.currency in self.check:
            return self.check
        return f"{self.check}, in {self.currency}"

    @property
    def off_by(self) -> str:
        return f"off by {self.difference} {self.currency}".rstrip()

    @property
    def note(self) -> str:
        """What the close checklist says of a check that does not hold."""
        return self.explanation or f"{self.title} does not hold ({self.off_by})"

    @classmethod
    def from_dict(cls, data: dict, currency: str) -> Finding:
        """A finding as `as_dict` stored it; `currency`: of one stored before findings named theirs."""
        return cls(
            data["check"],
            data["holds"],
            None if data.get("expected") is None else Decimal(data["expected"]),
            None if data.get("actual") is None else Decimal(data["actual"]),
            Decimal(data["difference"]),
            data.get("explanation", ""),
            data.get("currency") or currency,
            data.get("shown_only", False),
        )

    def as_dict(self) -> dict:
        return {
            "check": self.check,
            "currency": self.currency,
            "holds": self.holds,
            "expected": None if self.expected is None else str(self.expected),
            "actual": None if self.actual is None else str(self.actual),
            "difference": str(self.difference),
            "explanation": self.explanation,
            "shown_only": self.shown_only,
        }


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far the invoice may differ from the provider cost, once explained items are taken out.

    Absolute (in the invoice's currency) and/or percent (of the invoice total); with both, the larger
    allowance applies. With neither, only an exact match is accepted.
    """

    absolute: Decimal | None = Decimal("1.00")
    percent: Decimal | None = None

    def allowance(self, base: Decimal) -> Decimal:
        limits = [self.absolute] if self.absolute is not None else []
        if self.percent is not None:
            limits.append(abs(base) * self.percent / 100)
        return max(limits, default=ZERO)

    def allows(self, difference: Decimal, base: Decimal) -> bool:
        return abs(difference) <= self.allowance(base)

    def describe(self, currency: str = "") -> str:
        parts = [f"{self.absolute} {currency}".rstrip()] if self.absolute is not None else []
        if self.percent is not None:
            parts.append(f"{self.percent}% of the invoice")
        return " or ".join(parts) + (" (the larger)" if len(parts) == 2 else "") if parts else "none (exact)"


@dataclass(frozen=True, slots=True)
class InvoiceBreakdown:
    """What an invoice holds besides metered usage (from its lines), and what it could not hold."""

    tax: Decimal = ZERO
    credits: Decimal = ZERO  # negative: credits reduce the amount payable
    adjustments: Decimal = ZERO
    late_usage: Decimal = ZERO  # cost the provider reported after the invoice was issued (not on it)
    # a commitment (or other prepaid pool) bought up front: on the invoice of the month it is bought, as an
    # asset AP books to prepaid (`purchase` lines) ...
    purchases: Decimal = ZERO
    # ... and drawn, as used, by usage the invoice does not bill again (its facts name the pool)
    prepaid_drawn: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class PrepaidMonth:
    """A prepaid provider account's month beside its usage: what its credit lots paid for and hold.

    Amounts in the account's currency; the lots are its own (not a FOCUS commitment's pool, not free
    promotional credits, which no one invoices)."""

    drawn: Decimal  # usage of the period drawn from its lots (prepaid consumption)
    accrued: Decimal = ZERO  # usage of the period accrued: beyond its lots, or paid by promotional credit
    promotional: Decimal = ZERO  # the part of it promotional (free) credits paid for
    bought: tuple[tuple[str, Decimal], ...] = ()  # (lot id, amount) of the lots bought in the period
    remaining: Decimal = ZERO  # the lots' balance on the period's last day (drawn FIFO, domain/prepaid)
    booked: Decimal = ZERO  # Prepaid AI credits as booked: lots bought − draws and write-offs posted

    @property
    def beyond_lots(self) -> Decimal:
        """Usage no credit lot paid for: accrued, billed in arrears."""
        return self.accrued - self.promotional

    @property
    def bought_total(self) -> Decimal:
        return sum((amount for _, amount in self.bought), ZERO)


@dataclass(frozen=True, slots=True)
class ConversionRate:
    """A rate the period's postings were converted at (as the rates file has it now), and the first and
    last day of the buckets it converted."""

    rate: Rate
    first_day: date
    last_day: date

    def describe(self) -> str:
        days = (
            str(self.first_day) if self.first_day == self.last_day else f"{self.first_day}..{self.last_day}"
        )
        return f"{self.rate.describe()} for {days}"


@dataclass(frozen=True, slots=True)
class ConvertedBooks:
    """Books in another currency than the provider's, which the ledger holds converted (domain/fx.py): what
    tokenbooks posted for the period in the books' currency, and how it was converted from the provider's.

    A contribution stored before tokenbooks kept its provider's amount (migration 0016) is read in the
    provider's currency at its day's rate (`read_back` → `read_back_as`, part of `ReconInput.posted_total`,
    and said so)."""

    currency: str  # the books'
    posted_total: Decimal  # what tokenbooks posted for the period (status posted), in the books' currency
    converted: Decimal = ZERO  # the part of it converted with its provider's amount kept (books' currency)
    at_rates: Decimal = ZERO  # that part's provider's amounts × the rate of each bucket's day, unrounded
    buckets: int = 0  # how many buckets that part converted, each rounded once
    rates: tuple[ConversionRate, ...] = ()
    read_back: Decimal = ZERO  # converted before the provider's amount was kept, in the books' currency …
    read_back_as: Decimal = ZERO  # … and read at its days' rates in the provider's currency

    @property
    def rounding(self) -> Decimal:
        """What converting each bucket and rounding it once moved the books' total by."""
        return self.converted - self.at_rates

    def rounding_bound(self, provider: str) -> Decimal:
        """The most rounding can move it: per bucket, half a minor unit of the books' currency, and one of
        the provider's (a bucket's provider amount is rounded preserving its day's total) at the rate."""
        rate = max((r.rate.rate for r in self.rates), default=ZERO)
        return self.buckets * (quantum(self.currency) / 2 + quantum(provider) * rate)


@dataclass(frozen=True, slots=True)
class ReconInput:
    entity: str
    provider: str
    provider_account: str
    period: str
    currency: str  # the provider's: of its cost, the invoice, and `posted_total` as computed
    provider_cost_exact: Decimal  # Σ current usage facts, unrounded (what the accruals book)
    provider_cost_rounded_by_bucket: Decimal  # Σ of each bucket's rounded total = what should be posted
    estimated_cost: Decimal  # the part of the cost tokenbooks priced from tokens (not billed)
    posted_total: Decimal  # Σ of tokenbooks' journals for the period, status posted (as computed)
    queued_total: Decimal  # planned / failed, not yet in the ledger
    invoice_total: Decimal | None
    # what the ledger holds under tokenbooks' keys (read back), in the ledger's currency (`ledger_currency`)
    ledger_total: Decimal | None = None
    drifted_keys: tuple[str, ...] = ()
    # journals the ledger holds as drafts, not in `ledger_total`: its reports leave them out until approved
    draft_keys: tuple[str, ...] = ()
    draft_total: Decimal = ZERO  # in the ledger's currency
    tolerance: Tolerance = Tolerance()
    breakdown: InvoiceBreakdown = InvoiceBreakdown()
    # the tax, credits and adjustments the provider's cost data holds (a FOCUS or billing export's Tax,
    # Credit and Adjustment rows): no usage, never accrued, and billed on the invoice beside the usage
    charged: InvoiceBreakdown = InvoiceBreakdown()
    true_up_total: Decimal = ZERO  # the part of posted_total (and of the ledger's) that trues up the invoice
    unknown_account: str = ""  # non-empty: why the invoice's provider account is not one any source knows
    prepaid: PrepaidMonth | None = None  # a prepaid account: what its lots paid for and hold
    converted: ConvertedBooks | None = None  # the books are in another currency (see the module's docstring)

    @property
    def invoice_expected(self) -> bool:
        """An arrears account's usage is invoiced; a prepaid account's only beyond its lots."""
        return self.prepaid is None or self.prepaid.beyond_lots != 0

    @property
    def ledger_currency(self) -> str:
        """The currency of what the ledger holds for the period: the books', converted or not."""
        return self.converted.currency if self.converted else self.currency

    @property
    def posted_in_ledger_currency(self) -> Decimal:
        """What tokenbooks posted, in the currency the ledger holds it in."""
        return self.converted.posted_total if self.converted else self.posted_total

    @property
    def accrued_total(self) -> Decimal:
        """What tokenbooks posted for the provider cost itself (accrued, capitalized, drawn), true-ups aside."""
        return self.posted_total - self.true_up_total


@dataclass(frozen=True, slots=True)
class ReconResult:
    input: ReconInput
    status: ReconStatus
    findings: tuple[Finding, ...] = field(default=())
    coverage: Decimal | None = None  # share of the invoice explained by metered cost
    explained: tuple[tuple[str, Decimal], ...] = ()  # the invoice − cost difference, item by item
    unexplained: Decimal | None = None

    @property
    def provider_cost(self) -> Decimal:
        return quantize(self.input.provider_cost_exact, self.input.currency)

    @property
    def variance(self) -> Decimal | None:
        """Invoice − provider cost, before anything is explained."""
        if self.input.invoice_total is None:
            return None
        return self.input.invoice_total - self.provider_cost


def reconcile(data: ReconInput) -> ReconResult:
    cost = quantize(data.provider_cost_exact, data.currency)
    rounding = data.provider_cost_rounded_by_bucket - cost
    findings = [_posted_vs_cost(data, rounding)]
    if data.unknown_account:
        findings.insert(0, _known_account(data))
    if data.converted is not None and data.converted.buckets:
        findings.append(_conversion(data, data.converted))
    if data.ledger_total is not None:
        findings.append(_ledger_vs_posted(data))
    coverage, explained, unexplained = None, _explained(data, rounding), None
    if data.invoice_total is not None:
        unexplained = data.invoice_total - cost - sum((amount for _, amount in explained), ZERO)
        findings.append(_invoice_vs_cost(data, cost, explained, unexplained))
        charged = data.charged.tax + data.charged.credits + data.charged.adjustments
        billed = quantize(data.provider_cost_exact + charged, data.currency) - quantize(
            data.estimated_cost, data.currency
        )
        coverage = (billed / data.invoice_total).quantize(Decimal("0.0001")) if data.invoice_total else None
    if data.prepaid is not None:
        findings += _prepaid_findings(data, data.prepaid)
    return ReconResult(
        data, _status(data, findings, unexplained), tuple(findings), coverage, explained, unexplained
    )


def _explained(data: ReconInput, rounding: Decimal) -> tuple[tuple[str, Decimal], ...]:
    """Items that move the invoice away from the metered cost, signed as invoice − cost."""
    b = data.breakdown
    items = [*_charges(b, data.charged)]
    items += [
        ("usage reported after the invoice was issued", -b.late_usage),
        ("prepaid purchases on the invoice (an asset, drawn as used)", b.purchases),
        ("usage a commitment bought earlier paid for (billed when bought)", -b.prepaid_drawn),
        ("usage drawn from the prepaid credit lots (billed when bought)", _drawn_not_credited(data)),
        # the true-up books what the invoice bills beyond the accrual: the part of it the items above do
        # not already explain (adjustments it books too, late usage it takes back) explains the rest
        ("booked as an invoice true-up", _trued_up(data)),
        # the accrual is the cost rounded per bucket, so the true-up (invoice − accrued) also takes that
        # rounding back: it is no part of invoice − cost, and an invoice equal to the cost leaves nothing
        # unexplained once trued up
        (
            "rounding of the accrued buckets, which the true-up takes back",
            rounding if data.true_up_total else ZERO,
        ),
    ]
    return tuple((label, amount) for label, amount in items if amount)


def _itemizes(invoice: InvoiceBreakdown) -> bool:
    """The invoice has tax, credit or adjustment lines: else it is a total, which counts wholly as usage."""
    return bool(invoice.tax or invoice.credits or invoice.adjustments)


def _unitemized(data: ReconInput) -> Decimal:
    """The provider data's tax, credits and adjustments that an invoice of no such lines bills net: its
    true-up (the invoice as usage, against the accrued usage) books them too."""
    if _itemizes(data.breakdown):
        return ZERO
    return data.charged.tax + data.charged.credits + data.charged.adjustments


def _charges(invoice: InvoiceBreakdown, data: InvoiceBreakdown) -> list[tuple[str, Decimal]]:
    """Tax, credits and adjustments as the invoice itemizes them; when it itemizes none (a total alone),
    as the provider's own cost data holds them, which its invoice bills net."""
    if _itemizes(invoice):
        return [
            ("tax on the invoice", invoice.tax),
            ("credits on the invoice", invoice.credits),
            ("adjustments on the invoice", invoice.adjustments),
        ]
    return [
        ("tax in the provider's cost data", data.tax),
        ("credits in the provider's cost data", data.credits),
        ("adjustments in the provider's cost data", data.adjustments),
    ]


def _drawn_not_credited(data: ReconInput) -> Decimal:
    """A prepaid account's usage its lots paid for is not billed again: an invoice shows it as usage with
    the credits applied (explained by them), or leaves it out; what of it the invoice's credits do not
    show explains the rest."""
    prepaid = data.prepaid
    if prepaid is None or data.invoice_total is None:
        return ZERO
    return -(prepaid.drawn + prepaid.promotional + data.breakdown.credits)


def _trued_up(data: ReconInput) -> Decimal:
    """The part of a posted true-up not already explained by the invoice's adjustments or late usage, or
    by the charges in the provider's data an invoice of no lines bills."""
    b = data.breakdown
    return (
        data.true_up_total - b.adjustments + b.late_usage - _unitemized(data) if data.true_up_total else ZERO
    )


def _posted_vs_cost(data: ReconInput, rounding: Decimal) -> Finding:
    currency = data.currency
    expected = data.provider_cost_rounded_by_bucket
    difference = data.accrued_total - expected
    explanation = ""
    if rounding:
        explanation = (
            "rounding: each posting bucket is rounded to the cent once, which moves the total by "
            f"{_money(rounding, currency)} against the unrounded provider cost"
        )
    if difference and data.queued_total:
        explanation = _join(
            explanation, f"{_money(data.queued_total, currency)} is planned but not yet in the ledger"
        )
    if data.true_up_total:
        explanation = _join(
            explanation,
            f"posted {_money(data.posted_total, currency)} includes the invoice true-up of "
            f"{_money(data.true_up_total, currency, signed=True)}, which brings what was accrued to what "
            "the invoice bills",
        )
    if data.converted is not None:
        explanation = _join(explanation, _posted_before_source_kept(data, data.converted))
    return Finding(
        "posted = provider cost (rounded per bucket)",
        difference == 0,
        expected,
        data.accrued_total,
        difference,
        explanation,
        currency,
    )


def _posted_before_source_kept(data: ReconInput, books: ConvertedBooks) -> str:
    """How postings converted before tokenbooks kept the provider's amount are read in its currency."""
    if not books.read_back:
        return ""
    return (
        f"{_money(books.read_back, books.currency)} of it was converted before tokenbooks kept the provider's "
        f"amount: it is read as {_money(books.read_back_as, data.currency)} at the rates of its days, which "
        f"may differ from the {data.currency} it was converted from by a cent per bucket"
    )


def _conversion(data: ReconInput, books: ConvertedBooks) -> Finding:
    """What was posted in the books' currency against its provider's amounts at the rates they were
    converted at: apart from rounding each bucket once, they agree."""
    expected = quantize(books.at_rates, books.currency)
    difference = books.converted - expected
    holds = abs(books.rounding) <= books.rounding_bound(data.currency)
    rates = ", ".join(r.describe() for r in books.rates)
    explanation = f"converted from {data.currency} at {rates}" if rates else ""
    if difference and holds:
        explanation = _join(
            explanation,
            f"each bucket's exact amount is converted and rounded to the {books.currency} minor unit once, "
            f"which moves the total by {_money(difference, books.currency, signed=True)} against its "
            f"{data.currency} amounts at those rates: rounding, not a variance",
        )
    elif not holds:
        explanation = _join(
            explanation,
            f"{_money(difference, books.currency, signed=True)} is more than rounding each of "
            f"{books.buckets} bucket(s) once can explain: a rate corrected after its journals were posted? "
            "`tokenbooks sync` books the difference",
        )
    return Finding(
        f"posted in {books.currency} = posted in {data.currency} at the rates of its days",
        holds,
        expected,
        books.converted,
        difference,
        explanation,
        books.currency,
    )


def _known_account(data: ReconInput) -> Finding:
    return Finding(
        "the invoice's provider account is one a source knows",
        False,
        None,
        data.invoice_total,
        data.invoice_total or ZERO,
        data.unknown_account,
        data.currency,
    )


def _ledger_vs_posted(data: ReconInput) -> Finding:
    """What the ledger holds under tokenbooks' keys against what tokenbooks posted, in the ledger's currency."""
    posted = data.posted_in_ledger_currency
    difference = (data.ledger_total or ZERO) - posted
    explanation = ""
    if data.drifted_keys:
        explanation = "changed or missing in the ledger: " + ", ".join(data.drifted_keys)
    if data.draft_keys:
        explanation = _join(
            explanation,
            f"{_money(data.draft_total, data.ledger_currency)} is in {len(data.draft_keys)} draft journal(s) "
            "the ledger leaves out of its reports until a person approves them there: "
            + _some(data.draft_keys),
        )
    holds = difference == 0 and not data.drifted_keys and not data.draft_keys
    return Finding(
        "ledger = posted", holds, posted, data.ledger_total, difference, explanation, data.ledger_currency
    )


def _invoice_vs_cost(
    data: ReconInput, cost: Decimal, explained: tuple[tuple[str, Decimal], ...], unexplained: Decimal
) -> Finding:
    currency = data.currency
    invoice = data.invoice_total or ZERO
    difference = invoice - cost
    parts = [f"{label} {_money(amount, currency, signed=True)}" for label, amount in explained]
    if unexplained and data.estimated_cost:
        parts.append(
            f"{_money(data.estimated_cost, currency)} of the cost is estimated from token counts, not "
            "billed: the provider's own price for those tokens may differ"
        )
    tolerance = data.tolerance.describe(currency)
    if unexplained and data.tolerance.allows(unexplained, invoice):
        parts.append(
            f"{_money(unexplained, currency, signed=True)} unexplained, within the tolerance of {tolerance}"
        )
    elif unexplained:
        parts.append(
            f"{_money(unexplained, currency, signed=True)} unexplained, beyond the tolerance of {tolerance}: "
            "look for tax or credits the invoice does not itemize, usage billed in another period, or an "
            "invoice for another account"
        )
    return Finding(
        "invoice = provider cost", unexplained == 0, cost, invoice, difference, "; ".join(parts), currency
    )


def _prepaid_findings(data: ReconInput, prepaid: PrepaidMonth) -> list[Finding]:
    """What a prepaid account's month adds: whether an invoice is expected, the lots bought against the
    month's invoice, and the lots' remaining balance beside the books'."""
    currency = data.currency
    found = []
    if data.invoice_total is None:
        found.append(_invoice_expected(prepaid, currency))
    if prepaid.bought:
        found.append(_bought_vs_invoiced(data, prepaid))
    difference = prepaid.booked - prepaid.remaining
    found.append(
        Finding(
            "prepaid balance on the last day = lots' remaining",
            difference == 0,
            prepaid.remaining,
            prepaid.booked,
            difference,
            f"the lots hold {prepaid.remaining} {currency} on {data.period}'s last day; Prepaid AI credits as "
            f"booked for the account (lots bought, less the draws and write-offs tokenbooks posted) "
            f"{prepaid.booked}"
            + ("" if difference == 0 else ": what is not posted yet (or drawn from a lot since voided)")
            + "; the ledger account also holds AP's entries of the purchases: compare it with this figure",
            shown_only=True,
        )
    )
    return found


def _invoice_expected(prepaid: PrepaidMonth, currency: str) -> Finding:
    if not prepaid.beyond_lots:
        return Finding(
            "no invoice expected: the usage is drawn from prepaid credit lots",
            True,
            None,
            None,
            ZERO,
            f"{prepaid.drawn} {currency} drawn from the lots; the provider invoices the purchase of credits, "
            "not the usage they pay for",
            shown_only=True,
        )
    return Finding(
        "invoice expected for the usage beyond the prepaid lots",
        False,
        prepaid.beyond_lots,
        None,
        prepaid.beyond_lots,
        f"{prepaid.beyond_lots} {currency} of usage no lot covered is accrued, billed in arrears: its invoice "
        "is expected (or the lot that paid for it was not recorded)",
    )


def _bought_vs_invoiced(data: ReconInput, prepaid: PrepaidMonth) -> Finding:
    """Lots bought in the period against the purchases on the period's invoice, when one was imported."""
    lots = ", ".join(f"{lot_id} ({amount})" for lot_id, amount in prepaid.bought)
    bought, invoiced = prepaid.bought_total, data.breakdown.purchases
    if data.invoice_total is None:
        return Finding(
            "credit lots bought = purchases on the invoice",
            True,
            bought,
            None,
            ZERO,
            f"lots bought in {data.period}: {lots}; no invoice of {data.period} imported to match them against "
            "(AP's bill of the purchase is its record)",
            shown_only=True,
        )
    difference = invoiced - bought
    explanation = f"lots bought in {data.period}: {lots}; purchases on the invoice {invoiced}"
    if difference and not invoiced:
        explanation += (
            ": the invoice lists no purchase — import it with a `purchase` line for the credits it bills, "
            "or the purchase's own invoice for the period beside it"
        )
    elif difference:
        explanation += (
            ": record the lot the invoice bills (`tokenbooks credits add`), correct a lot's amount (its lot "
            "id again), or void a lot recorded in error (`tokenbooks credits void`)"
        )
    return Finding(
        "credit lots bought = purchases on the invoice",
        difference == 0,
        bought,
        invoiced,
        difference,
        explanation,
    )


def _status(data: ReconInput, findings: list[Finding], unexplained: Decimal | None) -> ReconStatus:
    if data.unknown_account:
        return ReconStatus.UNKNOWN_ACCOUNT
    if data.drifted_keys or any(
        f.check == "ledger = posted" and f.difference + data.draft_total != 0 for f in findings
    ):
        return ReconStatus.DRIFT
    if data.draft_keys:
        return ReconStatus.UNAPPROVED_DRAFTS
    if data.invoice_expected and (data.invoice_total is None or unexplained is None):
        return ReconStatus.MISSING_INVOICE
    judged = [f for f in findings if not f.shown_only]
    if all(f.holds for f in judged):
        return ReconStatus.MATCHED
    base = (
        data.invoice_total
        if data.invoice_total is not None
        else quantize(data.provider_cost_exact, data.currency)
    )
    if all(f.holds or data.tolerance.allows(_left_over(f, unexplained), base) for f in judged):
        return ReconStatus.WITHIN_TOLERANCE
    return ReconStatus.VARIANCE


def _left_over(finding: Finding, unexplained: Decimal | None) -> Decimal:
    """What a finding leaves to the tolerance: the invoice's difference once explained, else its own."""
    if finding.check == "invoice = provider cost" and unexplained is not None:
        return unexplained
    return finding.difference


def _some(keys: tuple[str, ...], shown: int = 10) -> str:
    """The first keys of a long list, and how many more (a month of daily drafts is dozens)."""
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first and second else first or second


def _money(amount: Decimal, currency: str, *, signed: bool = False) -> str:
    """An amount as a reader sees it (`format_money`), with its sign when `signed`."""
    text = format_money(amount, currency)
    return f"+{text}" if signed and not text.startswith("-") else text


# ------------------------------------------------------------------------------------------ late usage


class FactVersion(NamedTuple):
    """One stored version of a provider bucket, as the version history holds it."""

    source: str
    provider_account: str
    charge_date: date
    amount: Decimal
    pulled_at: datetime
    superseded_at: datetime | None
    is_current: bool


def late_usage(versions: Iterable[FactVersion], cutoff: datetime) -> Decimal:
    """Cost the *provider* changed after `cutoff` (the end of the invoice's issue date): now − as known then.

    Only provider days tokenbooks had already read before the cutoff count: there the version history
    shows what the provider restated, added or withdrew afterwards. A day first read after the cutoff (a
    backfill, the history pull, a FOCUS file imported late) says nothing about when the provider reported
    it, so it is not late: the invoice is compared with it as it stands.
    """
    versions = list(versions)
    known = {(v.source, v.provider_account, v.charge_date) for v in versions if v.pulled_at < cutoff}
    now = then = ZERO
    for v in versions:
        if (v.source, v.provider_account, v.charge_date) not in known:
            continue
        if v.is_current:
            now += v.amount
        if v.pulled_at < cutoff and (v.superseded_at is None or v.superseded_at >= cutoff):
            then += v.amount
    return now - then
