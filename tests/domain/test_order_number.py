"""Order numbers people can read out: unique for unique counts, short, nothing to misread."""
import re

from hypothesis import given
from hypothesis import strategies as st

from domain.order_number import order_number

FORMAT = re.compile(r"^OMS-[0-9A-HJKMNP-TV-Z]{6,}$")  # Crockford's base 32: no I, L, O, U


@given(st.integers(0, 2**40), st.integers(0, 2**40))
def test_different_counts_give_different_numbers(a: int, b: int) -> None:
    assert (order_number(a) == order_number(b)) == (a == b)


def test_every_number_of_a_width_is_distinct_and_readable() -> None:
    numbers = [order_number(n) for n in range(200_000)]
    assert len(set(numbers)) == len(numbers)
    assert all(FORMAT.match(n) and len(n) == 10 for n in numbers)
    assert order_number(2**30) != order_number(0) and len(order_number(2**30)) == 11  # wider, still distinct


def test_consecutive_orders_do_not_get_consecutive_numbers() -> None:
    """So a number does not tell how many orders a shop takes."""
    first, second = order_number(41), order_number(42)
    assert first[:-2] != second[:-2]
