"""The order document's amounts: written in the currency's minor units, rounded half to even."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from application.documents import _money
from domain.money import to_currency


@given(st.decimals(min_value=-10**15, max_value=10**15, places=6, allow_nan=False, allow_infinity=False),
       st.sampled_from(["EUR", "JPY", "BHD", "CLF", "XXX"]))
def test_an_amount_is_written_as_rounded_to_its_currency(amount: Decimal, currency: str) -> None:
    assert _money(amount, currency) == str(to_currency(amount, currency))


def test_examples() -> None:
    assert [_money(Decimal(a), c) for a, c in (("19.9", "EUR"), ("0.125", "EUR"), ("0.135", "EUR"), ("5", "JPY"),
                                               ("1E+3", "EUR"), ("-0.001", "EUR"))] == \
        ["19.90", "0.12", "0.14", "5", "1000.00", "-0.00"]
