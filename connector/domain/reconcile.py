"""Reconciliation, as balance assertions: provider cost ↔ invoice ↔ what tokenbooks posted ↔ the ledger.

Pure: figures in, findings and a status out. Each finding is an assertion that either holds within its
tolerance or names the difference and, where it can, explains it (rounding, estimated amounts, late
usage, tax, credits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from connector.domain.money import ZERO, quantize


class ReconStatus(StrEnum):
    MATCHED = "matched"
    WITHIN_TOLERANCE = "within_tolerance"
    VARIANCE = "variance"
    MISSING_INVOICE = "missing_invoice"
    DRIFT = "drift"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # e.g. "invoice = provider cost"
    holds: bool
    expected: Decimal | None
    actual: Decimal | None
    difference: Decimal
    explanation: str = ""

    def as_dict(self) -> dict:
        return {
            "check": self.check,
            "holds": self.holds,
            "expected": None if self.expected is None else str(self.expected),
            "actual": None if self.actual is None else str(self.actual),
            "difference": str(self.difference),
            "explanation": self.explanation,
        }


@dataclass(frozen=True, slots=True)
class ReconInput:
    entity: str
    provider: str
    provider_account: str
    period: str
    currency: str
    provider_cost_exact: Decimal  # Σ current billed facts, unrounded
    provider_cost_rounded_by_bucket: Decimal  # Σ of each bucket's rounded total = what should be posted
    estimated_cost: Decimal  # the part of the cost tokenbooks priced from tokens (not billed)
    posted_total: Decimal  # Σ of tokenbooks' journals for the period, status posted
    queued_total: Decimal  # planned / failed, not yet in the ledger
    invoice_total: Decimal | None
    ledger_total: Decimal | None = None  # what the ledger holds under tokenbooks' keys (read back)
    drifted_keys: tuple[str, ...] = ()
    tolerance: Decimal = Decimal("1.00")


@dataclass(frozen=True, slots=True)
class ReconResult:
    input: ReconInput
    status: ReconStatus
    findings: tuple[Finding, ...] = field(default=())
    coverage: Decimal | None = None  # share of the invoice explained by metered cost

    @property
    def provider_cost(self) -> Decimal:
        return quantize(self.input.provider_cost_exact, self.input.currency)


def reconcile(data: ReconInput) -> ReconResult:
    cost = quantize(data.provider_cost_exact, data.currency)
    rounding = data.provider_cost_rounded_by_bucket - cost
    findings = [_posted_vs_cost(data, rounding)]
    if data.ledger_total is not None:
        findings.append(_ledger_vs_posted(data))
    coverage = None
    if data.invoice_total is not None:
        findings.append(_invoice_vs_cost(data, cost))
        billed = cost - quantize(data.estimated_cost, data.currency)
        coverage = (billed / data.invoice_total).quantize(Decimal("0.0001")) if data.invoice_total else None
    return ReconResult(data, _status(data, findings), tuple(findings), coverage)


def _posted_vs_cost(data: ReconInput, rounding: Decimal) -> Finding:
    expected = data.provider_cost_rounded_by_bucket
    difference = data.posted_total - expected
    explanation = ""
    if rounding:
        explanation = (
            f"rounding: each posting bucket is rounded to the cent once, which moves the total by {rounding} "
            "against the unrounded provider cost"
        )
    if difference and data.queued_total:
        explanation = _join(explanation, f"{data.queued_total} is planned but not yet in the ledger")
    return Finding(
        "posted = provider cost (rounded per bucket)",
        difference == 0,
        expected,
        data.posted_total,
        difference,
        explanation,
    )


def _ledger_vs_posted(data: ReconInput) -> Finding:
    difference = (data.ledger_total or ZERO) - data.posted_total
    explanation = ""
    if data.drifted_keys:
        explanation = "changed or missing in the ledger: " + ", ".join(data.drifted_keys)
    holds = difference == 0 and not data.drifted_keys
    return Finding("ledger = posted", holds, data.posted_total, data.ledger_total, difference, explanation)


def _invoice_vs_cost(data: ReconInput, cost: Decimal) -> Finding:
    invoice = data.invoice_total or ZERO
    difference = invoice - cost
    explanation = ""
    if difference and data.estimated_cost:
        explanation = f"{data.estimated_cost} of the cost is estimated from token counts, not billed"
    if difference and abs(difference) <= data.tolerance:
        explanation = _join(explanation, f"within the tolerance of {data.tolerance}")
    elif difference:
        explanation = _join(
            explanation,
            "beyond tolerance: look for tax, credits, usage billed late, or an invoice for another period",
        )
    return Finding("invoice = provider cost", difference == 0, cost, invoice, difference, explanation)


def _status(data: ReconInput, findings: list[Finding]) -> ReconStatus:
    if data.drifted_keys or any(f.check == "ledger = posted" and not f.holds for f in findings):
        return ReconStatus.DRIFT
    if data.invoice_total is None:
        return ReconStatus.MISSING_INVOICE
    if all(f.holds for f in findings):
        return ReconStatus.MATCHED
    if all(f.holds or abs(f.difference) <= data.tolerance for f in findings):
        return ReconStatus.WITHIN_TOLERANCE
    return ReconStatus.VARIANCE


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second
