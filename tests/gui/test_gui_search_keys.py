"""Type-ahead in the real window, by every kind of key a caller or a customer gives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt

from customer_card.domain.model import ContactKind, CustomerCard
from customer_card.ui.main_window import MainWindow


@pytest.fixture
def jocelyne(demo_services: Any) -> CustomerCard:
    hit = demo_services.search.search("Jocelyne Michu", limit=1)[0]
    card = demo_services.cards.load(hit.customer_id)
    assert card is not None
    assert card.customer.display_name == "Jocelyne Michu"
    return card


def _mobile(card: CustomerCard) -> str:
    return next(
        p.normalised
        for p in card.contact_points
        if p.kind == ContactKind.PHONE and p.valid and p.normalised.startswith(("+336", "+337"))
    )


def _national(e164: str) -> str:
    digits = "0" + e164.removeprefix("+33")
    return " ".join(digits[i : i + 2] for i in range(0, 10, 2))


KEYS: dict[str, Callable[[CustomerCard], str]] = {
    "name with a typo, reversed": lambda c: "michou jocelyne",
    "e-mail": lambda c: next(
        p.value for p in c.contact_points if p.kind == ContactKind.EMAIL
    ).upper(),
    "phone, national with spaces": lambda c: _national(_mobile(c)),
    "phone, international": _mobile,
    "phone, last digits": lambda c: _mobile(c)[-6:],
    "loyalty card": lambda c: c.customer.loyalty_card or "",
    "social handle": lambda c: "@" + next(s.handle for s in c.social).lstrip("@"),
    "customer id": lambda c: c.customer.public_id.lower(),
}


@pytest.mark.parametrize("kind", list(KEYS))
def test_search_finds_the_customer_by(
    qtbot: Any, window: MainWindow, jocelyne: CustomerCard, kind: str
) -> None:
    text = KEYS[kind](jocelyne)
    assert text
    with qtbot.waitSignal(window.search_results_shown, timeout=5000):
        qtbot.keyClicks(window.search_bar.field, text)
    model = window.search_results_model
    ids = [model.hit(r).customer_id for r in range(model.rowCount())]  # type: ignore[union-attr]
    assert jocelyne.customer.id in ids[:5], f"{kind}: {text!r} gave {ids[:5]}"
    # and the keyboard opens it
    row = ids.index(jocelyne.customer.id)
    for _ in range(row):
        qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Down)
    with qtbot.waitSignal(window.card_shown, timeout=5000) as shown:
        qtbot.keyClick(window.search_bar.field, Qt.Key.Key_Return)
    assert shown.args == [jocelyne.customer.id]


def test_search_by_city_lists_people_of_that_city(
    qtbot: Any, window: MainWindow, jocelyne: CustomerCard
) -> None:
    city = jocelyne.customer.city
    assert city
    with qtbot.waitSignal(window.search_results_shown, timeout=5000):
        qtbot.keyClicks(window.search_bar.field, city.lower())
    model = window.search_results_model
    assert model.rowCount() > 1
    cities = [model.hit(r).city for r in range(model.rowCount())]  # type: ignore[union-attr]
    # City matches rank first; a street or a name containing the word may follow.
    assert cities[0] == city
    assert cities.count(city) > len(cities) / 2
