"""Credit files: prepaid credit lots you bought (docs/credits.md) and the customer credit ledger you sell.

Credit lots — CSV columns (JSON: {"lots": [...]}, same names):
  lot_id, provider, account, purchase_date, amount, currency[, expires_on, entity, description]
  An OpenAI lot without expires_on expires one year after purchase (OpenAI's terms).

Customer credit events — CSV columns (JSON: {"events": [...]}):
  event_id, customer, grant, kind (purchase | redemption | refund | expiry), date, amount, currency
  [, product, expires_on (purchases), entity]
  Amounts are positive; the kind gives the direction.

Every bad record is quarantined with its row, field and reason; the good ones are imported.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from connector.domain.credits import CreditLot, CustomerCreditEvent, CustomerCreditKind, default_expiry
from connector.domain.errors import Problem
from connector.domain.imports import QuarantinedRow, Tally
from connector.domain.money import parse_amount
from connector.sources.records import (
    Record,
    RecordFormat,
    check_field,
    choice_value,
    day_value,
    read_record_file,
    required_text,
)

LOT_COLUMNS = ("lot_id", "provider", "account", "purchase_date", "amount", "currency")
EVENT_COLUMNS = ("event_id", "customer", "grant", "kind", "date", "amount", "currency")
KINDS = ", ".join(k.value for k in CustomerCreditKind)
LOTS = RecordFormat(
    "lots",
    LOT_COLUMNS,
    identity=lambda lot: f"lot {lot.provider}/{lot.provider_account}/{lot.lot_id}",
    amount_of=lambda lot: (lot.amount, lot.currency),
    amount_field="amount",
)
EVENTS = RecordFormat(
    "events",
    EVENT_COLUMNS,
    identity=lambda e: f"event {e.event_id}",
    amount_of=lambda e: (e.amount, e.currency),
    amount_field="amount",
)


def read_credit_lots(
    path: Path, default_entity: str
) -> tuple[list[tuple[str, CreditLot]], list[QuarantinedRow], Tally, Problem | None]:
    """Good lots (each with its location), quarantined rows, the tally, or a problem that stops the file."""

    def parse_one(record: Record, source: str, problems: list[Problem]) -> CreditLot | None:
        v, at = record.values, record.location
        if not required_text(v, LOT_COLUMNS, source, at, problems):
            return None
        purchased = check_field(
            problems, source, at, "purchase_date", lambda: day_value(v["purchase_date"]), "write YYYY-MM-DD"
        )
        amount = check_field(
            problems,
            source,
            at,
            "amount",
            lambda: _positive(v["amount"]),
            "write a positive amount, e.g. 1000.00",
        )
        expires = check_field(
            problems,
            source,
            at,
            "expires_on",
            lambda: _optional_day(v.get("expires_on")),
            "write YYYY-MM-DD or leave it empty",
        )
        promotional = check_field(
            problems,
            source,
            at,
            "promotional",
            lambda: _yes_no(v.get("promotional")),
            "write true for credits the provider granted free, false (or nothing) for credits bought",
        )
        if problems:
            return None
        provider = str(v["provider"]).strip().lower()
        return check_field(
            problems,
            source,
            at,
            "expires_on" if expires else "currency",
            lambda: CreditLot(
                entity=str(v.get("entity") or default_entity),
                provider=provider,
                provider_account=str(v["account"]).strip(),
                lot_id=str(v["lot_id"]).strip(),
                purchase_date=purchased,
                amount=amount,
                currency=v["currency"],
                expires_on=expires or default_expiry(provider, purchased),
                description=str(v.get("description") or ""),
                source=source,
                promotional=bool(promotional),
            ),
            "check the currency (ISO 4217) and that expires_on is after purchase_date",
        )

    accepted, quarantined, tally, problem = read_record_file(path, LOTS, parse_one)
    return [(record.location, item) for record, item in accepted], quarantined, tally, problem


def read_customer_credits(
    path: Path, default_entity: str
) -> tuple[list[tuple[str, CustomerCreditEvent]], list[QuarantinedRow], Tally, Problem | None]:
    """Events with their locations (the service checks grant balances against the store before storing)."""

    def parse_one(record: Record, source: str, problems: list[Problem]) -> CustomerCreditEvent | None:
        v, at = record.values, record.location
        if not required_text(v, EVENT_COLUMNS, source, at, problems):
            return None
        kind = check_field(
            problems,
            source,
            at,
            "kind",
            lambda: choice_value(v["kind"], CustomerCreditKind, "a kind of customer credit event"),
            f"use one of: {KINDS}",
        )
        day = check_field(problems, source, at, "date", lambda: day_value(v["date"]), "write YYYY-MM-DD")
        amount = check_field(
            problems,
            source,
            at,
            "amount",
            lambda: _positive(v["amount"]),
            "write a positive amount; the kind gives the direction",
        )
        expires = check_field(
            problems,
            source,
            at,
            "expires_on",
            lambda: _optional_day(v.get("expires_on")),
            "write YYYY-MM-DD or leave it empty",
        )
        if problems:
            return None
        return check_field(
            problems,
            source,
            at,
            "currency",
            lambda: CustomerCreditEvent(
                entity=str(v.get("entity") or default_entity),
                event_id=str(v["event_id"]).strip(),
                customer=str(v["customer"]).strip(),
                grant_id=str(v["grant"]).strip(),
                kind=kind,
                event_date=day,
                amount=amount,
                currency=v["currency"],
                product=str(v.get("product") or ""),
                expires_on=expires,
                source=source,
            ),
            "use an ISO 4217 code such as USD",
        )

    accepted, quarantined, tally, problem = read_record_file(path, EVENTS, parse_one)
    return [(record.location, event) for record, event in accepted], quarantined, tally, problem


def _optional_day(value: object) -> date | None:
    return None if value in (None, "") else day_value(value)


def _positive(value: object):
    amount = parse_amount(value)
    if amount <= 0:
        raise ValueError(f"{value!r} is not positive")
    return amount


def _yes_no(value: object) -> bool:
    text = str(value or "").strip().lower()
    if text in ("", "false", "no", "0"):
        return False
    if text in ("true", "yes", "1"):
        return True
    raise ValueError(f"{value!r} is not true or false")
