"""Messages rendered from the Jinja2 templates in ``templates/notifications`` (or the folder
``OMS_NOTIFICATION_TEMPLATES`` names): ``<language>/<template>.subject.j2``, ``.txt.j2`` and
``.html.j2`` for an e-mail, ``.sms.j2`` for an SMS. HTML is autoescaped (a customer's name is
text, never markup); amounts and dates go through the filters below, which format them with Babel
for the message's locale: ``{{ amount | money }}``, ``{{ day | day }}``, ``{{ day | long_day }}``,
``{{ code | country }}``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape

from application.notifications.language import LANGUAGES, MessageLocale

# The templates shipped with the OMS (the repository's templates/notifications).
DEFAULT_TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "notifications"

EMAIL_PARTS = ("subject", "txt", "html")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@pass_context
def _money(context: Any, amount: Decimal | str, currency: str | None = None) -> str:
    return _formatted_amount(Decimal(amount), currency or context["currency"], context["locale"])


# Babel takes some 70 µs an amount, and a confirmation shows a dozen (each in the text and the
# HTML); the same prices and totals come back order after order.
@lru_cache(maxsize=8192)
def _formatted_amount(amount: Decimal, currency: str, locale: str) -> str:
    return format_currency(amount, currency, locale=locale)


@pass_context
def _number(context: Any, value: Any) -> str:
    return format_decimal(value, locale=context["locale"])


@pass_context
def _day(context: Any, value: date | datetime) -> str:
    return format_date(value, format="long", locale=context["locale"])


@pass_context
def _long_day(context: Any, value: date | datetime) -> str:
    return format_date(value, format="full", locale=context["locale"])


@pass_context
def _country(context: Any, code: str | None) -> str:
    if not code:
        return ""
    return Locale.parse(context["locale"]).territories.get(code.upper(), code)


class Renderer:
    def __init__(self, directory: Path | str = DEFAULT_TEMPLATES) -> None:
        self.directory = Path(directory)
        self._environment = Environment(
            loader=FileSystemLoader(self.directory),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            undefined=StrictUndefined,  # a misspelt name fails the render instead of leaving a gap
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        )
        self._environment.filters.update(money=_money, number=_number, day=_day, long_day=_long_day,
                                         country=_country)

    def check(self, templates: Mapping[str, tuple[str, ...]]) -> None:
        """Compiles every template each message needs, in every language: a missing file or a
        syntax error stops the start, not the outbox at the first order that needs it."""
        for language in LANGUAGES:
            for template, parts in templates.items():
                for part in parts:
                    self._environment.get_template(f"{language}/{template}.{part}.j2")

    def email(self, template: str, where: MessageLocale, context: Mapping[str, Any]) -> RenderedEmail:
        subject, text, html = (self._render(template, part, where, context) for part in EMAIL_PARTS)
        return RenderedEmail(" ".join(subject.splitlines()).strip(), text, html)  # a subject is one line

    def sms(self, template: str, where: MessageLocale, context: Mapping[str, Any]) -> str:
        # One line, and plain spaces: Babel's no-break spaces (1.234,50 €) are not in the GSM
        # alphabet, and one of them would make the provider send the whole SMS as UCS-2 (70
        # characters a part instead of 160).
        return " ".join(self._render(template, "sms", where, context).split())

    def _render(self, template: str, part: str, where: MessageLocale, context: Mapping[str, Any]) -> str:
        return self._environment.get_template(f"{where.language}/{template}.{part}.j2").render(
            {**context, "locale": where.locale, "language": where.language})
