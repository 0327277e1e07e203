"""A month of AI spend for a fictional company, Acme Analytics — the demo's provider data.

Deterministic (a fixed seed, integer micro-dollars, no floats): two customer-facing AI features (a
support assistant and document search), a shared platform split between product and engineering,
engineers' coding tools, a free-trial sandbox and website chat, internal G&A use, and a hackathon project
nobody mapped (it lands in suspense). One day is restated by the provider three days later, as providers
do, so the demo shows a delta posting.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from connector.domain.money import quantize
from connector.domain.periods import Period

DEMO_PERIOD = Period(2026, 10)
DEMO_ORGANIZATION = "org-acme-analytics"
DEMO_ENTITY = "acme-us"
RESTATED_DAY = date(2026, 10, 7)
RESTATED_ON = date(2026, 10, 10)  # the provider corrects 7 October when it answers on 10 October


@dataclass(frozen=True, slots=True)
class CostLine:
    day: date
    project: str
    line_item: str
    amount: Decimal  # dollars, exact (six decimals, as the API returns)
    restated_amount: Decimal | None = None  # what the provider says from RESTATED_ON onwards

    def amount_as_of(self, as_of: date) -> Decimal:
        if self.restated_amount is not None and as_of >= RESTATED_ON:
            return self.restated_amount
        return self.amount


# project → (typical dollars per day, weekdays only?, line items with their share in percent)
PROJECTS: dict[str, tuple[int, bool, tuple[tuple[str, int], ...]]] = {
    "proj_support_assistant": (
        185,
        False,
        (("gpt-4.1, input", 38), ("gpt-4.1, output", 52), ("gpt-4.1, cached input", 10)),
    ),
    "proj_doc_search": (
        92,
        False,
        (("text-embedding-3-large, input", 22), ("gpt-4.1-mini, input", 30), ("gpt-4.1-mini, output", 48)),
    ),
    "proj_platform_shared": (41, False, (("gpt-4.1-mini, input", 45), ("gpt-4.1-mini, output", 55))),
    "proj_eng_copilot": (64, True, (("o4-mini, input", 35), ("o4-mini, output", 65))),
    "proj_eng_evals": (23, True, (("gpt-4.1, batch input", 40), ("gpt-4.1, batch output", 60))),
    "proj_free_trial": (27, False, (("gpt-4.1-mini, input", 40), ("gpt-4.1-mini, output", 60))),
    "proj_website_chat": (9, False, (("gpt-4.1-nano, input", 50), ("gpt-4.1-nano, output", 50))),
    "proj_finance_ops": (6, True, (("gpt-4.1, input", 60), ("gpt-4.1, output", 40))),
    "proj_hr_assistant": (3, True, (("gpt-4.1-mini, input", 50), ("gpt-4.1-mini, output", 50))),
}
HACKATHON = (
    "proj_hackathon_2026",
    (date(2026, 10, 16), date(2026, 10, 17)),
    (("gpt-4.1, input", 40), ("gpt-4.1, output", 60)),
)


def month_of_costs(seed: int = 20261001) -> list[CostLine]:
    """Every cost line of the demo month, in a stable order."""
    rng = random.Random(seed)
    lines: list[CostLine] = []
    for day in DEMO_PERIOD.days():
        for project, (daily, weekdays_only, items) in PROJECTS.items():
            if weekdays_only and day.weekday() >= 5:
                continue
            lines.extend(_day_lines(rng, day, project, daily, items))
        name, days, items = HACKATHON
        if day in days:
            lines.extend(_day_lines(rng, day, name, 38, items))
    return [_restate(line) for line in lines]


def _day_lines(
    rng: random.Random, day: date, project: str, daily: int, items: tuple[tuple[str, int], ...]
) -> list[CostLine]:
    micro_total = daily * 1_000_000 * rng.randint(80, 125) // 100
    return [
        CostLine(day, project, item, Decimal(micro_total * share // 100 + rng.randint(0, 99_999)).scaleb(-6))
        for item, share in items
    ]


def _restate(line: CostLine) -> CostLine:
    if (
        line.day == RESTATED_DAY
        and line.project == "proj_support_assistant"
        and line.line_item.endswith("output")
    ):
        return CostLine(
            line.day, line.project, line.line_item, line.amount, line.amount + Decimal("12.345678")
        )
    return line


def available(lines: list[CostLine], as_of: date) -> list[CostLine]:
    """What the provider reports on `as_of`: complete UTC days only."""
    return [line for line in lines if line.day < as_of]


def invoice_total(lines: list[CostLine], period: Period = DEMO_PERIOD) -> Decimal:
    """What the provider invoices for the month: the final amounts, rounded once."""
    final = sum(
        (ln.amount_as_of(period.last_day + timedelta(days=30)) for ln in lines if period.contains(ln.day)),
        Decimal(0),
    )
    return quantize(final, "USD")
