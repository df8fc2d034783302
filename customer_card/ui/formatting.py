"""Number and date formatting for the card, French style ("12 345,60 €", "03/04/2024").

Pure functions so they are tested without a QApplication. The words around the numbers
("followers", "orders") are translated by the widgets, not here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

NBSP = "\u00a0"  # keeps "12 345,60 €" on one line
_CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}


def group_thousands(integer_digits: str) -> str:
    """'1234567' -> '1 234 567' with non-breaking spaces."""
    groups = []
    while integer_digits:
        groups.append(integer_digits[-3:])
        integer_digits = integer_digits[:-3]
    return NBSP.join(reversed(groups)) or "0"


def format_money(amount: Decimal | int | float | None, currency: str | None = "EUR") -> str:
    """French-style amount with two decimals: Decimal('12345.6') -> '12 345,60 €'."""
    if amount is None:
        return ""
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    integer, _, cents = f"{abs(value):.2f}".partition(".")
    symbol = _CURRENCY_SYMBOLS.get((currency or "EUR").upper(), (currency or "").upper())
    return f"{sign}{group_thousands(integer)},{cents}{NBSP}{symbol}".rstrip()


def format_count(value: int) -> str:
    """Compact count for followers: 950, '12,5 k', '250 k', '1,2 M'."""
    if value < 1000:
        return str(value)
    for divisor, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= divisor:
            scaled = value / divisor
            text = f"{scaled:.1f}" if scaled < 100 else f"{scaled:.0f}"
            text = text.removesuffix(".0").replace(".", ",")
            return f"{text}{NBSP}{unit}"
    return str(value)  # pragma: no cover - loop always returns


def format_integer(value: int) -> str:
    sign = "-" if value < 0 else ""
    return sign + group_thousands(str(abs(value)))


def local(value: datetime) -> datetime:
    """Aware timestamps (the cache stores UTC) shown in the advisor's local time."""
    return value.astimezone() if value.tzinfo is not None else value


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value)
    return value.strftime("%d/%m/%Y")


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return local(value).strftime("%d/%m/%Y %H:%M")


def age_on(birth: date, today: date) -> int:
    years = today.year - birth.year
    return years - ((today.month, today.day) < (birth.month, birth.day))
