"""Each accounting policy choice beside the accounting guide's explanation of it (docs/accounting-
policies.md, condensed), for the Policies page: what was chosen, what it means, and the standard."""

from __future__ import annotations

from dataclasses import dataclass

from connector.domain.accounting_policy import EntityPolicy, FxSource, Tolerance

GUIDE = {
    "billing:arrears": "The provider bills after the fact: usage is accrued as it happens (Dr the category "
    "account, Cr Accrued AI costs) and the AP bill relieves the accrual.",
    "billing:prepaid": "Usage draws down credits bought in advance: Dr the category account, Cr Prepaid AI "
    "credits, lots drawn first-expiring first; an expired balance is written off.",
    "accrual:daily": "One accrual per usage day, adjusted as the provider restates it (desired − posted).",
    "accrual:month_end_reversing": "One accrual on the month's last day, reversed on the next month's first "
    "day: the classic reversing accrual.",
    "granularity:daily": "Journals are dated on the usage day.",
    "granularity:monthly": "One journal per month, dated its last day.",
    "locked:next_open_period": "A journal dated in a closed period posts on the first open day, its memo "
    "naming the original period: closed books are never written into.",
    "locked:hold": "A journal dated in a closed period waits, held, until an approver decides.",
    "posting:auto": "Journals post as planned.",
    "posting:draft": "Journals are posted as drafts (Xero) or kept as drafts in the outbox (QuickBooks), "
    "for a person to review.",
    "posting:approve": "Every journal is held until an approver releases it (Journals → Approve).",
    "posting:None": "The posting mode of TOKENBOOKS_LEDGER_MODE applies.",
    "fine_tuning:expense": "Fine-tuning spend stays where the mapping puts it (an expense).",
    "fine_tuning:capitalize": "Fine-tuning spend is capitalized as software (ASC 350-40).",
    "tolerance": "An invoice that differs from the accrual is trued up pro rata; beyond this tolerance the "
    "true-up waits for approval, because a large difference usually means something else is wrong.",
    "breakage": "Credits you sell: the share expected never to be redeemed is recognized in proportion to "
    "redemptions (ASC 606-10-55-48), only as far as no significant reversal is probable.",
    "fx": "Usage in another currency than the books' is converted at the rate in force on the day it "
    "belongs to, each bucket rounded once; a month-end reversal mirrors its accrual at the accrual's rate. "
    "QuickBooks with multicurrency keeps the provider's currency and records the day's rate instead.",
    "fx:none": "No rates are set: every amount must be in the books' currency (a run stops on another and "
    "says which rates to add).",
    "amortization": "Capitalized software is amortized straight-line over its useful life from the start "
    "chosen (ASC 350-40).",
}


@dataclass(frozen=True, slots=True)
class PolicyNote:
    topic: str
    choice: str
    explanation: str


def policy_notes(policy: EntityPolicy) -> list[PolicyNote]:
    mode = policy.posting_mode.value if policy.posting_mode else None
    notes = [
        PolicyNote("Posting mode", mode or "from TOKENBOOKS_LEDGER_MODE", GUIDE[f"posting:{mode}"]),
        PolicyNote(
            "Closed periods", policy.locked_period.value, GUIDE[f"locked:{policy.locked_period.value}"]
        ),
    ]
    for account in policy.accounts:
        who = "every other account" if account.provider == "*" else f"{account.provider} {account.account}"
        notes.append(
            PolicyNote(f"Billing — {who}", account.billing.value, GUIDE[f"billing:{account.billing.value}"])
        )
        if account.billing.value == "arrears":
            notes.append(
                PolicyNote(
                    f"Accrual — {who}", account.accrual.value, GUIDE[f"accrual:{account.accrual.value}"]
                )
            )
        notes.append(
            PolicyNote(
                f"Granularity — {who}",
                account.granularity.value,
                GUIDE[f"granularity:{account.granularity.value}"],
            )
        )
        notes.append(
            PolicyNote(
                f"Invoice tolerance — {who}", _tolerance(account.invoice_tolerance), GUIDE["tolerance"]
            )
        )
    notes.append(_conversion(policy))
    cap = policy.capitalization
    notes.append(
        PolicyNote("Fine-tuning", cap.fine_tuning.value, GUIDE[f"fine_tuning:{cap.fine_tuning.value}"])
    )
    notes.append(
        PolicyNote(
            "Amortization",
            f"{cap.useful_life_months} months, from the {cap.amortization_start.value.replace('_', ' ')}",
            GUIDE["amortization"],
        )
    )
    rates = ", ".join(f"{product} {rate * 100:g} %" for product, rate in policy.breakage) or "none"
    notes.append(
        PolicyNote(
            "Expected breakage", f"{rates}; others {policy.default_breakage * 100:g} %", GUIDE["breakage"]
        )
    )
    return notes


def _tolerance(tolerance: Tolerance) -> str:
    """As a controller reads it: an amount with its cents, in the currency the invoice is in."""
    amount = f"{tolerance.absolute:,.2f} in the invoice's currency"
    return amount + (f", or {tolerance.percent:g} % of the invoice if larger" if tolerance.percent else "")


def _conversion(policy: EntityPolicy) -> PolicyNote:
    """Where the rates that convert the provider's currency into the books' come from."""
    if policy.fx_source is FxSource.LEDGER:
        choice = "the ledger's rate of the day" + (f", else {policy.rates_file}" if policy.rates_file else "")
    elif policy.rates_file:
        choice = f"rates file {policy.rates_file}"
    else:
        return PolicyNote("Currency conversion", "none", GUIDE["fx:none"])
    return PolicyNote("Currency conversion", choice, GUIDE["fx"])
