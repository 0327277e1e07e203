"""Invoice true-up: when the invoice differs from what was accrued, spread the difference pro rata.

The variance (invoice usage total − accrued total for the provider account and period) is allocated to
the category accounts in proportion to what each was accrued, penny-exact by largest remainder. A
negative variance (invoice below the accrual) credits them back the same way. After the true-up, the
accrued liability for the provider-period equals the invoice, so the AP bill that debits Accrued AI costs
leaves it at zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from connector.domain.journals import LedgerTarget
from connector.domain.money import ZERO, allocate, quantum


def spread_variance(
    variance: Decimal, accrued_by_target: Mapping[LedgerTarget, Decimal], currency: str
) -> dict[LedgerTarget, Decimal]:
    """The variance split over targets in proportion to their accruals (all of it, to the cent)."""
    if variance == 0:
        return {}
    weights = {t: a for t, a in accrued_by_target.items() if a > 0}
    if not weights:
        raise ValueError("nothing was accrued to spread an invoice variance over")
    targets = sorted(weights, key=lambda t: t.key())
    shares = allocate(variance, [weights[t] for t in targets], quantum(currency))
    return {t: share for t, share in zip(targets, shares, strict=True) if share != ZERO}
