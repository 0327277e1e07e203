"""Reading the price catalog: the YAML file shipped with tokenbooks, or the user's own (TOKENBOOKS_PRICES_FILE).

The file format is described at the top of `connector/sources/data/prices.yaml`. Every problem names the
file, the provider and entry, the field and the fix; a catalog with any problem is refused, because a
wrong price would quietly misstate every estimate made with it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from connector.domain.errors import ConfigError, Problem
from connector.domain.money import MoneyError, currency_code, parse_amount
from connector.domain.pricing import MILLION, ModelPrice, PriceCatalog, Rate, Tier

SHIPPED_PRICES = Path(__file__).with_name("data") / "prices.yaml"
_FIX = "see the format at the top of connector/sources/data/prices.yaml"
TIER_PERIODS = ("month", "day", "call")  # what volume tiers count usage over


def load_catalog(path: Path | None = None) -> PriceCatalog:
    """The catalog at `path` (default: the shipped one); ConfigError listing every problem."""
    path = path or SHIPPED_PRICES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the price catalog {path}: {exc}", fix="check TOKENBOOKS_PRICES_FILE"
        ) from None
    catalog, problems = parse_catalog(text, str(path))
    if problems:
        raise ConfigError(
            f"the price catalog {path} has {len(problems)} problem(s)",
            fix="correct the file; " + _FIX,
            problems=problems,
        )
    return catalog


def parse_catalog(text: str, source: str) -> tuple[PriceCatalog, list[Problem]]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return PriceCatalog(), [Problem(source, "", "", f"not valid YAML: {exc}", _FIX)]
    if not isinstance(document, dict):
        return PriceCatalog(), [Problem(source, "", "", "expected providers at the top level", _FIX)]
    entries: list[ModelPrice] = []
    problems: list[Problem] = []
    for provider, items in document.items():
        if not isinstance(items, list):
            problems.append(Problem(source, str(provider), "", "expected a list of model entries", _FIX))
            continue
        for index, item in enumerate(items):
            where = f"{provider}[{index}]"
            entry = _entry(str(provider).lower(), item, source, where, problems)
            if entry is not None:
                entries.append(entry)
    return PriceCatalog(tuple(entries), source), problems


def _entry(provider: str, item: Any, source: str, where: str, problems: list[Problem]) -> ModelPrice | None:
    if not isinstance(item, dict):
        problems.append(Problem(source, where, "", "an entry must be a mapping", _FIX))
        return None
    before = len(problems)
    model = item.get("model")
    if not isinstance(model, str) or not model.strip():
        problems.append(
            Problem(source, where, "model", "missing", "name the model or a glob such as claude-sonnet-4*")
        )
    effective = item.get("effective_from")
    if isinstance(effective, str):
        try:
            effective = date.fromisoformat(effective)
        except ValueError:
            effective = None
    if not isinstance(effective, date):
        problems.append(Problem(source, where, "effective_from", "missing or not a date", "write YYYY-MM-DD"))
    try:
        currency = currency_code(item.get("currency", "USD"))
        rates = _rates(item.get("rates"), item.get("per") or {})
        batch = _multiplier(item.get("batch", "1"))
        tiers = tuple((str(k), _multiplier(v)) for k, v in (item.get("service_tiers") or {}).items())
    except (ValueError, MoneyError, TypeError, AttributeError) as exc:
        problems.append(Problem(source, where, "rates", str(exc), _FIX))
        return None
    period = str(item.get("tier_period", "month"))
    if period not in TIER_PERIODS:
        problems.append(
            Problem(
                source,
                where,
                "tier_period",
                f"{period!r} is not a tier period",
                f"write one of {', '.join(TIER_PERIODS)}",
            )
        )
    if len(problems) > before or not isinstance(model, str) or not isinstance(effective, date):
        return None  # (the last two are named among the problems already)
    return ModelPrice(
        provider, model.strip(), effective, currency, rates, batch, tiers, str(item.get("note", "")), period
    )


def _rates(raw: Any, per: dict) -> tuple[tuple[str, Rate], ...]:
    if not isinstance(raw, dict) or not raw:
        raise ValueError("rates must map unit kinds (input, output …) to prices")
    rates = []
    for kind, value in raw.items():
        units = Decimal(str(per.get(kind, MILLION)))
        if isinstance(value, list):
            tiers = tuple(Tier(Decimal(str(t["from"])), _price(t["price"])) for t in value)
        else:
            tiers = (Tier(Decimal(0), _price(value)),)
        rates.append((str(kind), Rate(tiers, units)))
    return tuple(rates)


def _price(value: Any) -> Decimal:
    """Prices are written as quoted decimals; a bare YAML float is refused (it would round)."""
    if isinstance(value, float):
        raise ValueError(f'price {value!r} must be quoted ("{value}") so it stays exact')
    return parse_amount(str(value) if isinstance(value, int) else value)


def _multiplier(value: Any) -> Decimal:
    result = _price(value)
    if result < 0:
        raise ValueError(f"multiplier {value!r} must not be negative")
    return result
