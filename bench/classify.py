"""Benchmark: classify 1,000,000 facts with a 200-rule mapping; report facts/s and peak memory.

Not a test (it takes tens of seconds): `python -m bench` runs it with the others, `python -m bench.classify
[N]` alone (N facts, default 1,000,000). The facts repeat a realistic number
of distinct dimension tuples (projects × models × line items × keys), because that is what the
classifier's cache is for: rules are evaluated once per distinct tuple, not once per fact.
"""

from __future__ import annotations

import gc
import random
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from bench.memory import peak_rss_mb
from connector.domain.classifier import Classifier
from connector.domain.facts import Dimensions, Fact
from connector.domain.mapping import MappingSet
from connector.domain.mapping_history import MappingHistory
from connector.domain.mapping_parser import parse_mapping
from connector.ledgers import registry  # noqa: F401 - registers the ledgers' target shapes, as bootstrap does

FACTS = 1_000_000
RULES = 200
DISTINCT = 20_000  # distinct dimension tuples among the facts
DAYS = 31


@dataclass
class Result:
    name: str
    facts: int
    seconds: float  # CPU time of this process: what one core spent, whatever else the machine runs
    wall: float
    allocations: int

    @property
    def rate(self) -> float:
        return self.facts / self.seconds


def mapping_text(rules: int = RULES, version: int = 1, effective_from: str = "2026-01-01") -> str:
    """A valid mapping with `rules` rules of every kind (exact, one-of, glob, regex, tags, splits)."""
    head = f"""\
mapping_version: {version}
effective_from: {effective_from}
change_note: benchmark mapping
entities:
  acme-us: {{ledger: quickbooks, currency: USD, timezone: America/New_York}}
roles:
  ai_cogs: {{quickbooks: "5010"}}
  rnd: {{quickbooks: "6110"}}
  sales_marketing: {{quickbooks: "6120"}}
  g_and_a: {{quickbooks: "6130"}}
  accrued_ai_costs: {{quickbooks: "2150"}}
  suspense: {{quickbooks: "6190"}}
rules:
"""
    categories = ["cogs", "rnd", "sales_marketing", "g_and_a"]
    body = []
    for i in range(rules):
        kind = i % 10
        category = categories[(i + version) % 4]
        if kind < 5:
            when = f"{{provider: openai, project: proj_{i:04d}}}"
        elif kind == 5:
            when = f"{{project: {{one_of: [proj_{i:04d}, proj_{i:04d}_b, proj_{i:04d}_c]}}}}"
        elif kind == 6:
            when = f'{{project: {{glob: "team{i:04d}_*"}}}}'
        elif kind == 7:
            when = f'{{project: {{regex: "^svc{i:04d}-(prod|staging)"}}}}'
        elif kind == 8:
            when = f"{{tags: {{cost_center: cc{i:04d}}}}}"
        else:
            when = f'{{api_key: key_{i:04d}, model: {{glob: "gpt-4*"}}}}'
        if i % 20 == 3:
            body.append(
                f"  - id: r{i:04d}\n    when: {when}\n    split:\n"
                "      - {percent: 50, category: cogs}\n      - {percent: 30, category: rnd}\n"
                "      - {percent: 20, category: g_and_a}\n"
            )
        else:
            body.append(f"  - id: r{i:04d}\n    when: {when}\n    category: {category}\n")
    return head + "".join(body)


def parse(text: str) -> MappingSet:
    mapping, problems = parse_mapping(text, "bench.yaml")
    errors = [p for p in problems if p.is_error]
    if mapping is None or errors:
        raise SystemExit("benchmark mapping is invalid: " + "; ".join(str(p) for p in errors[:5]))
    return mapping


def dimension_pool(rng: random.Random) -> list[Dimensions]:
    models = ["gpt-4.1", "gpt-4o-mini", "o3", "text-embedding-3-small"]
    items = ["input", "output", "cached input", "batch output"]
    pool = []
    for n in range(DISTINCT):
        i = rng.randrange(RULES * 2)  # about half the tuples match no rule: suspense
        project = rng.choice(
            [f"proj_{i:04d}", f"proj_{i:04d}_b", f"team{i:04d}_x", f"svc{i:04d}-prod", f"unmapped_{i}"]
        )
        pool.append(
            Dimensions.of(
                project=project,
                model=rng.choice(models),
                line_item=f"{rng.choice(models)}, {rng.choice(items)}",
                api_key=f"key_{i:04d}" if n % 7 == 0 else None,
                **{"tag:cost_center": f"cc{i:04d}" if n % 5 == 0 else None},
            )
        )
    return pool


def make_facts(count: int = FACTS, seed: int = 7) -> list[Fact]:
    rng = random.Random(seed)
    pool = dimension_pool(rng)
    start = date(2026, 10, 1)
    days = [start + timedelta(days=d) for d in range(DAYS)]
    amounts = [Decimal(rng.randrange(1, 10_000_000)) / Decimal(1_000_000) for _ in range(4096)]
    return [
        Fact(
            entity="acme-us",
            provider="openai",
            provider_account="org-1",
            charge_date=days[n * DAYS // count],
            posting_date=days[n * DAYS // count],  # day by day, as the store returns them
            amount=amounts[n % 4096],
            currency="USD",
            natural_key=f"openai:{n:020x}",
            dimensions=pool[n % DISTINCT],
        )
        for n in range(count)
    ]


def timed(name: str, facts: list[Fact], classify, repeat: int = 3) -> Result:
    """The best of `repeat` runs, in CPU time: the machine may be busy with other work."""
    best: Result | None = None
    for _ in range(repeat):
        gc.collect()
        gc.disable()  # the allocations all stay alive until the end: collecting midway only costs time
        try:
            start, cpu = time.perf_counter(), time.process_time()
            allocations = classify(facts)
            seconds, wall = time.process_time() - cpu, time.perf_counter() - start
        finally:
            gc.enable()
        total = sum((f.amount for f in facts), Decimal(0))
        if sum((a.amount for a in allocations), Decimal(0)) != total:
            raise SystemExit(
                f"{name}: allocations do not sum to the facts"
            )  # never trade correctness for speed
        if best is None or seconds < best.seconds:
            best = Result(name, len(facts), seconds, wall, len(allocations))
        del allocations
    assert best is not None
    return best


TARGET_RATE = 500_000  # facts per second, one core


def run(count: int = FACTS) -> dict:
    """Run the benchmark; the figures, and whether the target is met."""
    current = parse(mapping_text())
    older = parse(mapping_text(version=2, effective_from="2026-01-01"))
    newer = parse(mapping_text(version=3, effective_from="2026-10-15"))
    start = time.perf_counter()
    facts = make_facts(count)
    built = time.perf_counter() - start
    rss_facts = peak_rss_mb()
    one = timed("one version (Classifier)", facts, lambda fs: Classifier(current).classify_all(fs))
    history = MappingHistory.of([older, newer])
    two = timed(
        "two versions, one effective mid-month (HistoryClassifier)",
        facts,
        lambda fs: history.classifier().classify_all(fs),
    )
    return {
        "facts": count,
        "rules": len(current.rules),
        "distinct": DISTINCT,
        "python": sys.version.split()[0],
        "build_seconds": built,
        "rss_facts_mb": rss_facts,
        "peak_rss_mb": peak_rss_mb(),
        "results": [one, two],
        "meets_targets": one.rate >= TARGET_RATE,
    }


def report(result: dict) -> str:
    lines = [
        f"Classification: {result['facts']:,} facts, {result['distinct']:,} distinct dimension tuples, "
        f"{result['rules']} rules (exact, one-of, glob, regex, tags, 3-way splits), one core, "
        f"Python {result['python']}",
        f"  building the facts took {result['build_seconds']:.1f} s (not counted); "
        f"peak RSS with the facts loaded: {result['rss_facts_mb']:,.0f} MB",
    ]
    for r in result["results"]:
        lines.append(
            f"  {r.name}: {r.seconds:.2f} s of CPU ({r.wall:.2f} s wall), {r.rate:,.0f} facts/s, "
            f"{r.allocations:,} allocations"
        )
    lines.append(
        f"  peak RSS: {result['peak_rss_mb']:,.0f} MB (the facts and every allocation held in memory)"
    )
    verdict = "met" if result["meets_targets"] else "NOT met"
    lines.append(f"  target ≥ {TARGET_RATE:,} facts/s with one version: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    result = run(int(args[0]) if args else FACTS)
    print(report(result), flush=True)
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
