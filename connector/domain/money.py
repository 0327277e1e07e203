"""Money: `Decimal` amounts, quantized on purpose, split penny-exact.

No float ever touches an amount. Parsing accepts strings, ints and Decimals (JSON is read with
``parse_float=Decimal``); a float reaching `parse_amount` is a bug and is refused.

Rounding is ROUND_HALF_UP (what accountants call commercial rounding) and happens in exactly two places:
when posting buckets' exact totals become journal amounts (`quantize`; `round_preserving_total` when
several buckets share one balancing total, so they still add up to it rounded once), and when a split
gives each share its minor units (`allocate`, largest remainder, so shares always sum to the whole).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

ZERO = Decimal(0)
CENT = Decimal("0.01")

# ISO 4217 minor units of the currencies tokenbooks accepts. A currency not listed is an input error,
# never a guess.
# fmt: off
_TWO_DECIMALS = (
    "AED ARS AUD BGN BRL CAD CHF CNY COP CZK DKK EGP EUR GBP HKD HUF IDR ILS INR MAD "
    "MXN MYR NGN NOK NZD PEN PHP PKR PLN RON RUB SAR SEK SGD THB TRY TWD UAH USD ZAR"
)
# fmt: on
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMALS.split(), 2),
    **dict.fromkeys(["CLP", "ISK", "JPY", "KRW", "UGX", "VND", "XAF", "XOF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


_NOT_PLAIN = frozenset(",$€£ _")  # separators and symbols a plain decimal never holds
# The largest amounts read: 18 digits before the point (a quintillion: no bill line is larger) and 40
# after it (a DOUBLE's residue such as 2.220446049250313e-16 has 31). Within them, a sum of up to 10¹⁵
# amounts has at most 73 digits, which SUM_DIGITS holds: `exact_sums` adds them without rounding, where
# Decimal's default 28 digits would round 1234567890.5 + 2.220446049250313e-16 in its 29th.
MAX_INTEGER_DIGITS, MAX_FRACTION_DIGITS, SUM_DIGITS = 18, 40, 80


class MoneyError(ValueError):
    """An amount or currency that cannot be money."""


def currency_code(value: object) -> str:
    """Normalise a currency code ("usd" → "USD") and refuse unknown ones."""
    if value in MINOR_UNITS:  # the common case, on every fact and journal: already a known code
        return value
    if not isinstance(value, str) or not value.strip():
        raise MoneyError(f"currency must be an ISO 4217 code, got {value!r}")
    code = value.strip().upper()
    if code not in MINOR_UNITS:
        raise MoneyError(f"unknown currency {value!r}; expected an ISO 4217 code such as USD or EUR")
    return code


def quantum(currency: str) -> Decimal:
    """The smallest unit of `currency` as a Decimal exponent (USD → 0.01, JPY → 1)."""
    return Decimal(1).scaleb(-MINOR_UNITS[currency_code(currency)])


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round an exact amount to the currency's minor unit (ROUND_HALF_UP)."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def is_quantized(amount: Decimal, currency: str) -> bool:
    return amount == quantize(amount, currency)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """An amount already in minor units of precision, as an integer count (12.34 USD → 1234)."""
    if not is_quantized(amount, currency):
        raise MoneyError(f"{amount} has more precision than {currency} minor units")
    return int(amount.scaleb(MINOR_UNITS[currency_code(currency)]))


@contextmanager
def exact_sums() -> Iterator[None]:
    """A block (or, as `@exact_sums()`, a function) in which adding provider amounts, as `parse_amount`
    bounds them, never rounds: the importers sum raw rows in it, before anything is quantized."""
    with localcontext(prec=SUM_DIGITS):
        yield


def parse_amount(value: object) -> Decimal:
    """Parse a provider or file amount into an exact finite Decimal.

    Accepts Decimal, int and str (plain or E-notation, surrounding spaces allowed). Refuses floats,
    booleans, NaN, infinities, empty strings, thousands separators and currency symbols, and amounts of
    more than MAX_INTEGER_DIGITS digits before the point or MAX_FRACTION_DIGITS after it.
    """
    if type(value) is str:  # the common case first: file and API amounts arrive as text
        text = value.strip()
        if not text:
            raise MoneyError("amount is empty")
        if not _NOT_PLAIN.isdisjoint(text):
            raise MoneyError(f"{value!r} is not a plain decimal (no separators or currency symbols)")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"{value!r} is not a number") from None
    elif isinstance(value, bool | float):
        raise MoneyError(f"{value!r} is a {type(value).__name__}; amounts must be exact decimals")
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):  # a str subclass
        return parse_amount(str(value))
    else:
        raise MoneyError(f"{value!r} is not an amount")
    if not result.is_finite():
        raise MoneyError(f"{value!r} is not a finite number")
    if result and result.adjusted() >= MAX_INTEGER_DIGITS:
        raise MoneyError(
            f"{value!r} has more than {MAX_INTEGER_DIGITS} digits before the decimal point: no bill line is "
            "that large"
        )
    # most amounts are short plain text, whose fraction cannot be long: only others pay for the tuple
    if (type(value) is not str or len(value) > MAX_FRACTION_DIGITS or "e" in value or "E" in value) and (
        -result.as_tuple().exponent > MAX_FRACTION_DIGITS  # type: ignore[operator]  # finite: an int
    ):
        raise MoneyError(f"{value!r} has more than {MAX_FRACTION_DIGITS} digits after the decimal point")
    return result


# what `parse_quantity` reads, in the words a row's problem uses
QUANTITY_READ = (
    f"a finite number of at most {MAX_INTEGER_DIGITS} digits before the point and {MAX_FRACTION_DIGITS} after"
)


def parse_quantity(value: object) -> Decimal | None:
    """A quantity (tokens, hours, images: not money) as an exact Decimal, or None when it is not
    `QUANTITY_READ`. Integers, Decimals and decimal text (E-notation, surrounding spaces) are read; booleans
    and floats are not numbers here. A quantity is bounded as an amount is, so that the sums and spreads of
    quantities stay exact within SUM_DIGITS (1e80 tokens spread over two days was an internal error)."""
    if isinstance(value, bool | float):
        return None
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    if not number.is_finite() or (number and number.adjusted() >= MAX_INTEGER_DIGITS):
        return None
    return number if -number.as_tuple().exponent <= MAX_FRACTION_DIGITS else None  # type: ignore[operator]


def split_quantum(total: Decimal, currency: str) -> Decimal:
    """The unit a split of `total` works in: the currency's minor unit, or finer if `total` is finer.

    A provider fact of $1.2378912 split three ways keeps its seven decimals, so the shares still sum to
    the fact exactly and rounding happens only once, at the posting bucket.
    """
    currency_unit = quantum(currency)
    exponent, unit_exponent = total.as_tuple().exponent, currency_unit.as_tuple().exponent
    if isinstance(exponent, int) and isinstance(unit_exponent, int) and exponent < unit_exponent:
        return Decimal(1).scaleb(exponent)
    return currency_unit


def allocate(total: Decimal, weights: Sequence[Decimal], unit: Decimal) -> list[Decimal]:
    """Split `total` in proportion to `weights`, in multiples of `unit`, summing exactly to `total`.

    Largest remainder: every share gets its proportional amount rounded toward zero, then the units
    left over go one at a time to the shares with the largest remainders (ties: earliest share first).
    $100.00 in thirds is 33.34 + 33.33 + 33.33.
    """
    if not weights:
        raise MoneyError("cannot allocate over no shares")
    if any(w < 0 for w in weights):
        raise MoneyError("allocation weights must not be negative")
    weight_sum = sum(weights, ZERO)
    if weight_sum == 0:
        raise MoneyError("allocation weights sum to zero")
    if total % unit != 0:
        raise MoneyError(f"{total} is not a whole number of {unit}")
    sign = -1 if total < 0 else 1
    units_total = int(abs(total) / unit)
    exact = [Decimal(units_total) * w / weight_sum for w in weights]
    floors = [int(e.to_integral_value(rounding=ROUND_DOWN)) for e in exact]
    leftover = units_total - sum(floors)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in by_remainder[:leftover]:
        floors[i] += 1
    return [sign * unit * n for n in floors]


def round_preserving_total(amounts: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Round each exact amount to the currency's minor unit so that they sum to their exact total rounded
    once: each is rounded half up, then the units the parts lost (or gained) against the whole go to the
    parts rounded furthest the other way (ties: earliest first). One part is simply `quantize`d.

    10.005 split as 5.003 + 5.002 rounds to 5.01 + 5.00 (the whole is 10.01), never 5.00 + 5.00.
    """
    rounded = [quantize(a, currency) for a in amounts]
    unit = quantum(currency)
    missing = int((quantize(sum(amounts, ZERO), currency) - sum(rounded, ZERO)) / unit)
    if missing:
        step = unit if missing > 0 else -unit
        # the parts that lost most to rounding (gained most, when the whole needs less) adjust first
        order = sorted(range(len(amounts)), key=lambda i: (-(amounts[i] - rounded[i]) * step, i))
        for i in order[: abs(missing)]:
            rounded[i] += step
    return rounded


def format_money(amount: Decimal, currency: str) -> str:
    """12345.6 USD → '12,345.60 USD' (for people, never for parsing)."""
    return f"{quantize(amount, currency):,} {currency_code(currency)}"


def format_exact(amount: Decimal, currency: str) -> str:
    """An exact amount for people, nothing rounded: thousands grouped, trailing zeros dropped down to the
    currency's minor unit (3465349.0646760000 USD → '3,465,349.064676 USD', 12.5 → '12.50 USD')."""
    with localcontext(prec=len(amount.as_tuple().digits) + SUM_DIGITS):  # normalize() rounds to it
        trimmed = amount.normalize()
        padded = trimmed.quantize(quantum(currency))
    return f"{padded if padded == trimmed else trimmed:,f} {currency_code(currency)}"
