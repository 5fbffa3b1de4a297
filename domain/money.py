"""Money is a Decimal amount in an ISO 4217 currency; never a float."""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

# ISO 4217 minor units where they differ from 2.
_MINOR_UNITS = {
    "BHD": 3, "BIF": 0, "CLF": 4, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3,
    "JPY": 0, "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3,
    "UGX": 0, "UYI": 0, "UYW": 4, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}

ZERO = Decimal("0")


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


@lru_cache(maxsize=512)
def _minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def to_currency(amount: Decimal, currency: str) -> Decimal:
    """Rounds an amount to the currency's minor unit (banker's rounding)."""
    return amount.quantize(_minor_unit(currency), rounding=ROUND_HALF_EVEN)


def has_valid_precision(amount: Decimal, currency: str) -> bool:
    """True when the amount has no more decimals than the currency allows."""
    return amount == to_currency(amount, currency)
