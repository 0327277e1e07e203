"""Money: exact parsing, deliberate rounding, penny-exact splits."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.domain.money import (
    MoneyError,
    allocate,
    currency_code,
    exact_sums,
    format_exact,
    parse_amount,
    quantize,
    split_quantum,
    to_minor_units,
)


def test_a_hundred_dollars_in_thirds_is_34_33_33():
    assert allocate(Decimal("100.00"), [Decimal(1)] * 3, Decimal("0.01")) == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]


def test_negative_totals_split_with_the_same_rule():
    assert allocate(Decimal("-100.00"), [Decimal(1)] * 3, Decimal("0.01")) == [
        Decimal("-33.34"),
        Decimal("-33.33"),
        Decimal("-33.33"),
    ]


def test_largest_remainder_goes_to_the_biggest_fraction_not_the_first_share():
    # 10.00 at 33/33/34 % → 3.30 / 3.30 / 3.40 exactly, no leftover; 10.01 leaves one cent for the 34 %.
    weights = [Decimal(33), Decimal(33), Decimal(34)]
    assert allocate(Decimal("10.01"), weights, Decimal("0.01")) == [
        Decimal("3.30"),
        Decimal("3.30"),
        Decimal("3.41"),
    ]


def test_sub_cent_provider_amounts_split_at_their_own_precision():
    amount = Decimal("1.2378912")  # Anthropic's "123.78912" cents
    unit = split_quantum(amount, "USD")
    assert unit == Decimal("1E-7")
    shares = allocate(amount, [Decimal(50), Decimal(50)], unit)
    assert sum(shares) == amount
    assert shares == [Decimal("0.6189456"), Decimal("0.6189456")]


@given(
    cents=st.integers(min_value=-(10**12), max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12).filter(any),
)
def test_allocation_always_sums_exactly_and_each_share_is_within_one_unit(cents, weights):
    total = Decimal(cents).scaleb(-2)
    shares = allocate(total, [Decimal(w) for w in weights], Decimal("0.01"))
    assert sum(shares) == total
    weight_sum = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        exact = total * Decimal(weight) / Decimal(weight_sum)
        assert abs(share - exact) < Decimal("0.01")


def test_quantize_rounds_half_up_to_the_currency_unit():
    assert quantize(Decimal("2.345"), "USD") == Decimal("2.35")
    assert quantize(Decimal("-2.345"), "USD") == Decimal("-2.35")
    assert quantize(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert quantize(Decimal("1.23456"), "KWD") == Decimal("1.235")
    assert to_minor_units(Decimal("12.34"), "USD") == 1234


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.06", Decimal("0.06")),
        (" 35.2E-7 ", Decimal("0.00000352")),
        (12, Decimal(12)),
        (Decimal("1.5"), Decimal("1.5")),
    ],
)
def test_amounts_parse_exactly(value, expected):
    assert parse_amount(value) == expected


@pytest.mark.parametrize("value", [0.1, True, "NaN", "inf", "", "1,000.00", "$12", "twelve", None, [1]])
def test_amounts_that_are_not_exact_decimals_are_refused(value):
    with pytest.raises(MoneyError):
        parse_amount(value)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("999999999999999999.99", True),  # 18 digits before the point
        ("1000000000000000000", False),  # 19
        ("1E+18", False),
        (10**18, False),
        ("-1234567890123456789", False),
        ("2.220446049250313E-16", True),  # a DOUBLE's residue: 31 digits after the point
        ("0." + "0" * 39 + "1", True),  # 40
        ("0." + "0" * 40 + "1", False),  # 41
        ("1E-41", False),
        (Decimal("1E-41"), False),
        ("0E+30", True),  # zero, however written
    ],
)
def test_amounts_are_bounded_so_that_their_sums_stay_exact(value, accepted):
    if accepted:
        assert parse_amount(value) == Decimal(str(value))
    else:
        with pytest.raises(MoneyError, match=r"digits (before|after) the decimal point"):
            parse_amount(value)


@given(
    st.lists(
        st.decimals(
            min_value=-(10**18) + 1, max_value=10**18 - 1, allow_nan=False, allow_infinity=False, places=40
        )
        | st.sampled_from([Decimal("2.220446049250313E-16"), Decimal("-1.1102230246251565E-16")]),
        min_size=1,
        max_size=30,
    )
)
def test_bounded_amounts_add_up_exactly_in_any_order_within_exact_sums(amounts):
    """Decimal's default 28 digits round 1234567890.5 + 2.220446049250313e-16; inside `exact_sums` any
    bounded amounts add up exactly: the sum minus each amount in turn gives back zero, in any order."""
    amounts = [parse_amount(a) for a in amounts]
    with exact_sums():
        total = sum(amounts, Decimal(0))
        assert sum(reversed(amounts), Decimal(0)) == total
        for amount in amounts:
            total -= amount
        assert total == 0
    exact = Decimal("1234567890.5000000000000002220446049250313")
    assert Decimal("1234567890.5") + Decimal("2.220446049250313E-16") != exact  # 28 digits: rounded
    with exact_sums():
        assert Decimal("1234567890.5") + Decimal("2.220446049250313E-16") == exact


def test_currency_codes_are_normalised_and_unknown_ones_refused():
    assert currency_code("usd") == "USD"
    with pytest.raises(MoneyError, match="unknown currency"):
        currency_code("XYZ")


def test_parts_rounded_together_add_up_to_their_whole_rounded_once():
    from connector.domain.money import round_preserving_total

    assert round_preserving_total([Decimal("5.003"), Decimal("5.002")], "USD") == [
        Decimal("5.01"),
        Decimal("5.00"),
    ]
    assert round_preserving_total([Decimal("0.005"), Decimal("0.005")], "USD") == [
        Decimal("0.00"),  # a tie: the earliest part gives back the cent
        Decimal("0.01"),
    ]  # half up once: 0.01 for the whole, not 0.02
    assert round_preserving_total([Decimal("-2.005"), Decimal("10.004")], "USD") == [
        Decimal("-2.00"),  # the part rounded furthest from its exact amount takes the cent the whole needs
        Decimal("10.00"),
    ]


@given(st.lists(st.decimals(min_value=-(10**6), max_value=10**6, places=4), min_size=1, max_size=12))
def test_rounding_together_keeps_the_whole_and_moves_no_part_by_a_cent_or_more(amounts):
    from connector.domain.money import quantize, round_preserving_total

    rounded = round_preserving_total(amounts, "USD")
    assert sum(rounded) == quantize(sum(amounts), "USD")
    assert all(abs(r - a) < Decimal("0.01") for r, a in zip(rounded, amounts, strict=True))


@given(
    digits=st.integers(min_value=-(10**38), max_value=10**38),
    places=st.integers(min_value=-3, max_value=12),
    currency=st.sampled_from(["USD", "JPY", "BHD", "EUR"]),
)
def test_an_exact_amount_for_people_is_the_same_number_to_the_last_digit(digits, places, currency):
    """Whatever its size and exponent, the text reads back as the same number (nothing rounded), with at
    least the currency's minor unit and no trailing zero beyond it."""
    amount = Decimal(digits).scaleb(-places)
    number, code = format_exact(amount, currency).split(" ")
    assert code == currency
    assert Decimal(number.replace(",", "")) == amount
    fraction = number.partition(".")[2]
    minor = {"USD": 2, "JPY": 0, "BHD": 3, "EUR": 2}[currency]
    assert len(fraction) >= minor
    assert len(fraction) == minor or not fraction.endswith("0")


def test_an_exact_amount_for_people_groups_thousands_and_trims_zeros_to_the_cents():
    assert format_exact(Decimal("3465349.0646760000"), "USD") == "3,465,349.064676 USD"
    assert format_exact(Decimal("1250.0000000000"), "USD") == "1,250.00 USD"
    assert format_exact(Decimal("1E+3"), "JPY") == "1,000 JPY"
