"""QuickBooks batch requests for journal entries: ids, body and answers, with no I/O.

python-quickbooks' batch helpers send no `requestid` and use 36-character uuid4 bIds, which QuickBooks
refuses once a batch carries a requestid (erps.md §1.5: batch requestid ≤ 36 chars, then bIds ≤ 10). So the
body is built here from the SDK objects' own JSON (`to_json`) and sent with `make_request`.

Ids are derived, never random, so a batch sent again after no answer is byte-for-byte the same request
and QuickBooks can replay its first answer:

- items are ordered by their journals' request ids, so the same journals always make the same body;
- `bId` = two digits of position + eight hex digits of the journal's request id (10 chars, unique);
- the batch `requestid` = uuid5 over the journals' request ids and posting attempt numbers (36 chars), so
  a new run (a new attempt) never replays an old run's answer, and `round` changes it within a call when
  an item must be sent again after QuickBooks did answer (a stale object, a system error).
Amounts travel as JSON numbers with their exact digits (whether QuickBooks accepts the SDK's quoted
strings is unconfirmed, erps.md §9.4).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connector.exact_json import dumps_exact
from connector.ledgers.port import PostRequest

BATCH_MAX_ITEMS = 30  # Intuit: at most 30 payloads per batch (some pages say 10: the size is configurable)
BATCH_REQUEST_ID_MAX = 36
BID_MAX = 10
_NAMESPACE = uuid.UUID("0b7c6f52-7f0e-4f44-9d4e-5a4c2b0d1e37")
_AMOUNT_FIELDS = frozenset({"Amount", "ExchangeRate", "TaxAmount", "TotalAmt"})


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One journal entry ready to go: its request, the JSON body QuickBooks gets, and what it posts."""

    request: PostRequest
    entry: dict[str, Any]
    postings: tuple[tuple[str, Decimal], ...]  # (account id, signed amount): what "the same content" means

    @property
    def key(self) -> str:
        return self.request.journal.key


@dataclass(frozen=True, slots=True)
class BatchCall:
    request_id: str
    items: tuple[tuple[str, BatchItem], ...]  # (bId, item), in body order
    body: str


def entry_json(sdk_json: str) -> dict[str, Any]:
    """The SDK's `to_json()` text as a dict whose amounts are `Decimal` again (the SDK quotes them)."""
    return _amounts_as_decimals(json.loads(sdk_json, parse_float=Decimal))


def _amounts_as_decimals(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: Decimal(v) if k in _AMOUNT_FIELDS and isinstance(v, str) else _amounts_as_decimals(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_amounts_as_decimals(v) for v in value]
    return value


def build_call(items: Sequence[BatchItem], round_: int = 0) -> BatchCall:
    """The batch for these items: derived requestid and bIds, and the body (see the module docstring)."""
    if not items or len(items) > BATCH_MAX_ITEMS:
        raise ValueError(f"a QuickBooks batch holds 1..{BATCH_MAX_ITEMS} items, got {len(items)}")
    ordered = sorted(items, key=lambda item: item.request.request_id)
    basis = "\n".join(f"{i.request.request_id}#{i.request.attempt}" for i in ordered)
    request_id = str(uuid.uuid5(_NAMESPACE, f"{basis}\nround {round_}"))
    numbered = tuple(
        (f"{n:02d}{item.request.request_id.replace('-', '')[:8]}", item) for n, item in enumerate(ordered)
    )
    body = {
        "BatchItemRequest": [
            {"bId": bid, "operation": "create", "JournalEntry": item.entry} for bid, item in numbered
        ]
    }
    return BatchCall(request_id, numbered, dumps_exact(body))


def answers_by_bid(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(a.get("bId")): a for a in data.get("BatchItemResponse") or [] if isinstance(a, dict)}


def batch_size_within_limits(size: int) -> int:
    if not 1 <= size <= BATCH_MAX_ITEMS:
        raise ValueError(f"the QuickBooks batch size must be 1..{BATCH_MAX_ITEMS}, got {size}")
    return size
