"""The ISO 4217 table: each active code with its minor units, as the maintenance agency lists them."""
from __future__ import annotations

from decimal import Decimal

import pytest

from domain.money import CURRENCIES, ISO_4217, has_valid_precision, minor_units, to_currency


@pytest.mark.parametrize(("code", "units"), [("EUR", 2), ("USD", 2), ("HKD", 2), ("JPY", 0), ("KRW", 0),
                                             ("ISK", 0), ("XOF", 0), ("KWD", 3), ("BHD", 3), ("IQD", 3),
                                             ("TND", 3), ("CLF", 4), ("UYW", 4), ("UYI", 0)])
def test_minor_units_are_iso_4217s(code: str, units: int) -> None:
    assert ISO_4217[code] == units == minor_units(code)


def test_the_table_is_the_active_list() -> None:
    # Given the list as published on 2026-01-01
    # Then codes withdrawn by then are absent, and those introduced are present
    for withdrawn in ("HRK", "BGN", "ANG", "SLL", "ZWL", "CUC", "VEF", "MRO", "STD", "BYR", "LTL"):
        assert withdrawn not in ISO_4217, withdrawn
    for introduced in ("XCG", "ZWG", "SLE", "VED", "XAD", "MRU", "STN", "BYN"):
        assert introduced in ISO_4217, introduced
    assert len(ISO_4217) == 178
    assert all(len(code) == 3 and code.isupper() and code.isalpha() for code in ISO_4217)
    assert {units for units in ISO_4217.values() if units is not None} == {0, 2, 3, 4}


def test_codes_without_a_minor_unit_price_nothing() -> None:
    not_applicable = {code for code, units in ISO_4217.items() if units is None}
    assert not_applicable == {"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"}
    assert not not_applicable & set(CURRENCIES)
    assert list(CURRENCIES) == sorted(CURRENCIES) and len(CURRENCIES) == 165


def test_a_code_outside_the_table_keeps_two_decimals() -> None:
    # An order recorded before codes were checked still replays as it was priced.
    assert minor_units("XYZ") == 2 == minor_units("XAU")
    assert to_currency(Decimal("1.005"), "XYZ") == Decimal("1.00")


@pytest.mark.parametrize(("amount", "code", "valid"), [("100", "JPY", True), ("100.5", "JPY", False),
                                                        ("1.125", "KWD", True), ("1.1255", "KWD", False),
                                                        ("9.99", "EUR", True), ("9.999", "EUR", False)])
def test_precision(amount: str, code: str, valid: bool) -> None:
    assert has_valid_precision(Decimal(amount), code) is valid
