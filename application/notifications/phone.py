"""Phone numbers as SMS providers take them: E.164 (``+4915112345678``).

A customer writes the number as people in their country do (``0151 1234 5678``) or
internationally (``+49 151 ...``, ``0049 ...``); the shipping country says which country a
number without a country code is in. A number that is not a valid number there, or one that is
certainly a landline, gets no SMS (the outbox records why).
"""
from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType


class NoSmsNumber(ValueError):
    """The customer's phone number cannot receive an SMS; the message says why."""


def to_e164(phone: str, country: str | None) -> str:
    """``phone`` in E.164, read with ``country`` (ISO 3166-1 alpha-2) as its region when it has
    no country code; ``NoSmsNumber`` when it is not a valid number or is a landline."""
    region = (country or "").upper() or None
    try:
        parsed = phonenumbers.parse(phone, region)
    except NumberParseException as error:
        raise NoSmsNumber(f"{phone!r} is not a phone number ({error})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise NoSmsNumber(f"{phone!r} is not a valid phone number" + (f" in {region}" if region else ""))
    if phonenumbers.number_type(parsed) == PhoneNumberType.FIXED_LINE:
        raise NoSmsNumber(f"{phone!r} is a landline number: it cannot receive an SMS")
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
