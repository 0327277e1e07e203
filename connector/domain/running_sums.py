"""Running sums that can be taken back: rows of sums that end with a count of what was added to them.

A plan keeps what classifying a posting day summed (`domain/day_sums.py`) and, when some of the day's
facts change, takes the old versions' contributions back out and adds the new ones'. For the result to
be the sums of the remaining facts — not merely equal amounts — a row must disappear exactly when
nothing added to it is left, and stay (with its zero amount) while something is: a set of contributions
cannot be subtracted, a count can.
"""

from __future__ import annotations

from collections.abc import Mapping


class NotAdded(ArithmeticError):
    """Taking back what was never added: kept sums that are not the sums of the facts they claim."""


def merge_rows(own: dict[tuple, list], theirs: Mapping[tuple, list], *, take_back: bool = False) -> None:
    """Add (or, `take_back`, subtract) `theirs` into `own`, row by row; each row's last element counts
    the contributions. A row taken back to no contributions is removed; it must then sum to zero."""
    for key, row in theirs.items():
        mine = own.get(key)
        if not take_back:
            if mine is None:
                own[key] = list(row)
            else:
                for i, value in enumerate(row):
                    mine[i] += value
            continue
        if mine is None or mine[-1] < row[-1]:
            raise NotAdded(f"taking back {row} from {key!r}, which holds {mine}")
        for i, value in enumerate(row):
            mine[i] -= value
        if mine[-1] == 0:
            if any(value != 0 for value in mine):
                raise NotAdded(f"{key!r} has no contributions left but sums to {mine}")
            del own[key]
