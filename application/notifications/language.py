"""Which language a customer is written to, and the Babel locale amounts and dates are shown in.

The shipping country decides: German where it is an official language of the whole country
(Germany, Austria, Switzerland, Liechtenstein), English everywhere else. The locale is that
language as written in that country (de_CH writes 1’234.50, en_GB "4 December 2026", en_US
"December 4, 2026") when CLDR knows it, else the language alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from babel import localedata

GERMAN_SPEAKING = frozenset({"DE", "AT", "CH", "LI"})
LANGUAGES = ("de", "en")


@dataclass(frozen=True)
class MessageLocale:
    language: str  # the templates' folder: "de" or "en"
    locale: str  # the Babel locale of amounts and dates, e.g. "de_AT"


@lru_cache(maxsize=512)
def message_locale(country: str | None) -> MessageLocale:
    country = (country or "").upper()
    language = "de" if country in GERMAN_SPEAKING else "en"
    regional = f"{language}_{country}"
    return MessageLocale(language, regional if country and localedata.exists(regional) else language)
