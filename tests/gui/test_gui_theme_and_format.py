"""Themes load without Qt warnings; numbers and dates are formatted the French way."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from customer_card.ui.formatting import (
    NBSP,
    age_on,
    format_count,
    format_date,
    format_datetime,
    format_money,
)
from customer_card.ui.main_window import MainWindow
from customer_card.ui.theme import RESOURCES, available_themes, load_theme, theme_path


def test_resources_found_from_the_repository() -> None:
    assert (RESOURCES / "themes" / "light.qss").is_file()
    assert {"light", "dark"} <= set(available_themes())
    with pytest.raises(FileNotFoundError):
        theme_path("neon")


@pytest.mark.parametrize("name", ["light", "dark"])
def test_theme_applies_and_window_renders(
    qtbot: Any, qapp: Any, demo_services: Any, name: str
) -> None:
    load_theme(qapp, name)
    try:
        window = MainWindow(demo_services.search, demo_services.cards)
        qtbot.addWidget(window)
        window.resize(1366, 768)
        window.show()
        qtbot.waitExposed(window)
        assert window.show_customer(1) or window.show_customer(2)
        assert not window.grab().isNull()
        assert qapp.property("theme") == name
    finally:
        qapp.setStyleSheet("")


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("12345.6"), f"12{NBSP}345,60{NBSP}€"),
        (Decimal("0"), f"0,00{NBSP}€"),
        (Decimal("1234567.891"), f"1{NBSP}234{NBSP}567,89{NBSP}€"),
        (Decimal("-5.5"), f"-5,50{NBSP}€"),
        (999, f"999,00{NBSP}€"),
    ],
)
def test_money_french_style(amount: Decimal, text: str) -> None:
    assert format_money(amount) == text
    assert format_money(None) == ""


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (950, "950"),
        (1000, f"1{NBSP}k"),
        (12_500, f"12,5{NBSP}k"),
        (250_000, f"250{NBSP}k"),
        (1_200_000, f"1,2{NBSP}M"),
    ],
)
def test_follower_counts(count: int, text: str) -> None:
    assert format_count(count) == text


def test_dates() -> None:
    assert format_date(date(2024, 3, 5)) == "05/03/2024"
    assert format_datetime(datetime(2024, 3, 5, 9, 7)) == "05/03/2024 09:07"
    assert format_date(None) == ""
    assert age_on(date(1984, 6, 15), date(2024, 6, 14)) == 39
    assert age_on(date(1984, 6, 15), date(2024, 6, 15)) == 40
