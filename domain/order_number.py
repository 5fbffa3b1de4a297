"""The short number people read an order by (``OMS-7K3F9Q``): in every message to the customer,
on the packing slip, on the phone.

Each order gets a different whole number from the service (blocks of a database sequence, so
several writer processes never hand out the same one); this module only writes it down. The
number is scrambled by a bijection of its width, so that consecutive orders do not get
consecutive numbers (which would tell anyone how many orders a shop takes), and written in
Crockford's base 32 (no I, L, O or U: nothing to misread on a phone).
"""
from __future__ import annotations

PREFIX = "OMS-"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MIN_WIDTH = 6
# An odd multiplier is a bijection modulo any power of two; the offset hides where counting began.
_MULTIPLIER = 0x2E1B5F9D
_OFFSET = 0x1A2B3C4D


def order_number(n: int) -> str:
    """The order number for the ``n``-th number the service handed out (n >= 0): different
    numbers give different texts (six characters up to 2**30, then longer)."""
    if n < 0:
        raise ValueError("order numbers count from 0")
    width = _MIN_WIDTH
    while n >= 1 << (5 * width):
        width += 1
    bits = 5 * width
    scrambled = (n * _MULTIPLIER + _OFFSET) & ((1 << bits) - 1)
    digits = []
    for _ in range(width):
        scrambled, digit = divmod(scrambled, 32)
        digits.append(_ALPHABET[digit])
    return PREFIX + "".join(reversed(digits))
