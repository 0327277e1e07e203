"""What the domain knows of a ledger: the shape of a mapping target for it. No ledger is named here.

A mapping binds account roles and rules to each ledger's accounts (`roles: {ai_cogs: {<ledger>: '5010'}}`);
how such a target may be written is the ledger's business, declared by its package
(`connector/ledgers/<name>/`) as a `TargetShape` and handed to the domain by the ledger registry
(`connector/ledgers/registry.py`, the one place ledgers are listed). The mapping parser, its JSON Schema and
the chart checks read the shapes from `TARGETS`, so a new ledger needs no edit in the domain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TARGETS", "TargetShape", "TargetShapes"]


def _any_account(_account: Any) -> str:
    return ""


@dataclass(frozen=True)
class TargetShape:
    """How a mapping names a place in one ledger, and which of its accounts a journal line cannot use."""

    ledger: str  # the name a mapping uses: `ledger: <name>` and `<name>: <target>`
    title: str  # as people write it in messages ("QuickBooks")
    extras: tuple[
        str, ...
    ] = ()  # keys besides `account` a target may carry: "class", "department", "tracking"
    max_tracking: int = 0  # tracking categories a line may carry (when "tracking" is an extra)
    account_pattern: str = ""  # a regular expression every account reference must match ("" for any)
    account_example: str = ""  # the fix shown when one does not ("write e.g. `Expenses:AI:COGS`")
    schema: Mapping[str, Any] = field(default_factory=dict)  # the target's JSON Schema (mappings/schema.json)
    inactive_word: str = "inactive"  # how the ledger calls an account or option it switched off
    # why the ledger refuses a journal line on this account ("" when it does not): a chart rule
    refuses_account: Callable[[Any], str] = _any_account  # given a `chart.LedgerAccount`
    opens_accounts: bool = False  # a ledger that opens any account on first use has no chart to check

    @property
    def keys(self) -> tuple[str, ...]:
        return ("account", *self.extras)

    def account_fits(self, account: str) -> bool:
        return not self.account_pattern or re.match(self.account_pattern, account) is not None


class TargetShapes:
    """The registered shapes, by ledger name, in registration order."""

    def __init__(self) -> None:
        self._shapes: dict[str, TargetShape] = {}

    def register(self, shape: TargetShape) -> None:
        self._shapes[shape.ledger] = shape

    def unregister(self, ledger: str) -> None:
        self._shapes.pop(ledger, None)

    def names(self) -> tuple[str, ...]:
        return tuple(self._shapes)

    def get(self, ledger: str) -> TargetShape | None:
        return self._shapes.get(ledger)

    def __contains__(self, ledger: object) -> bool:
        return ledger in self._shapes

    def __iter__(self) -> Iterator[TargetShape]:
        return iter(list(self._shapes.values()))


TARGETS = TargetShapes()  # filled by connector/ledgers/registry.py
