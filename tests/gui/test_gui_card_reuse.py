"""The card keeps its row widgets from one customer to the next (updated in place, extras
hidden), and loads what is costly (related customers, kinds in the history) after the card."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from customer_card.domain.model import ContactKind, CustomerCard
from customer_card.ui.card_sections import _KIND_ORDER
from customer_card.ui.main_window import MainWindow
from tests.gui.conftest import PAGE, _scan


def _contact_values(card: CustomerCard) -> list[str]:
    points = sorted(
        card.contact_points,
        key=lambda p: (_KIND_ORDER.get(p.kind, 9), not p.primary, not p.valid, p.value),
    )
    return [p.value for p in points]


def _shown_values(window: MainWindow) -> list[str]:
    values = []
    for row in window.card_view.contacts.rows():
        assert row.isVisible()
        address = not row.address.isHidden()
        values.append(row.address.text() if address else row.value.full_text())
    return values


def test_rows_are_reused_and_extras_hidden(window: MainWindow, demo_services: Any) -> None:
    many = _scan(demo_services, lambda c: len(c.contact_points) >= 3)
    few = _scan(demo_services, lambda c: 0 < len(c.contact_points) < len(many.contact_points))
    window.show_customer(many.customer.id)
    rows_before = window.card_view.contacts.rows()
    assert _shown_values(window) == _contact_values(many)

    window.show_customer(few.customer.id)
    rows_after = window.card_view.contacts.rows()
    assert rows_after == rows_before[: len(rows_after)], "the same widgets, updated"
    assert _shown_values(window) == _contact_values(few)
    assert all(row.isHidden() for row in rows_before[len(rows_after) :])

    window.show_customer(many.customer.id)
    assert window.card_view.contacts.rows() == rows_before
    assert _shown_values(window) == _contact_values(many)


def test_flags_follow_the_contact_point(window: MainWindow, demo_services: Any) -> None:
    """A reused row takes the look of its new value: struck through and flagged when invalid
    or corrected, plain otherwise."""
    clean = _scan(
        demo_services,
        lambda c: (
            len(c.contact_points) >= 2
            and all(p.valid and not p.corrected_to for p in c.contact_points)
        ),
    )
    first, second, *rest = clean.contact_points
    flawed = replace(
        clean,
        contact_points=(
            replace(first, valid=False, primary=False),
            replace(second, corrected_to="+33 6 00 00 00 00"),
            *rest,
        ),
    )
    view = window.card_view
    for card in (clean, flawed, clean, flawed):
        view.set_card(card)
        rows = view.contacts.rows()
        assert len(rows) == len(card.contact_points)
        for row in rows:
            point = row.point
            assert point is not None
            label = row.address if point.kind == ContactKind.ADDRESS else row.value
            assert label.property("strike") is (not point.valid or bool(point.corrected_to))
            assert row.invalid.isHidden() is not (not point.valid and not point.corrected_to)
            assert row.corrected.isHidden() is not bool(point.corrected_to)
            assert row.primary.isHidden() is not point.primary
            assert row.copy.value == point.value
        struck = sum(bool(r.value.property("strike") or r.address.property("strike")) for r in rows)
        assert struck == (2 if card is flawed else 0)


def test_banners_of_the_previous_card_go(
    window: MainWindow, demo_services: Any, dnc_card: CustomerCard
) -> None:
    header = window.card_view.header
    window.show_customer(dnc_card.customer.id)
    assert header.do_not_contact_banner in header.visible_banners()
    header.add_alert("Birthday", "Wish them a happy birthday")
    assert header.banner_count == len(header.visible_banners()) >= 2

    other = _scan(demo_services, lambda c: not c.do_not_contact and not c.pending_suggestions)
    window.show_customer(other.customer.id)
    assert header.visible_banners() == []
    assert header.banner_count == 0


def test_detail_pane_shows_only_the_selected_items_facts(
    window: MainWindow, rich_card: CustomerCard
) -> None:
    window.show_customer(rich_card.customer.id)
    panel = window.card_view.timeline
    for row in range(5):
        panel.table.selectRow(row)
        item = window.timeline_model.interaction(row)
        assert item is not None
        facts = dict(panel.detail.facts())
        assert ("Amount" in facts) is bool(item.amount)
        assert ("By" in facts) is bool(item.author)
        assert facts["Channel"]
    panel.detail.set_interaction(None)
    assert panel.detail.facts() == []


def test_kinds_arrive_after_the_card(
    qtbot: Any, window: MainWindow, rich_card: CustomerCard
) -> None:
    """The kinds in a long history cost a read of every row: the card shows without them and
    the kind filter fills in when they arrive."""
    with qtbot.waitSignals([window.card_shown, window.cards.related_shown], timeout=5000):
        window.cards.open(rich_card.customer.id)
    strip = window.card_view.timeline.strip
    assert window.card_view.card == rich_card
    assert [strip.kind.itemData(i) for i in range(1, strip.kind.count())] == list(rich_card.kinds)


def test_kind_chosen_before_the_kinds_arrive_is_kept(
    window: MainWindow, rich_card: CustomerCard
) -> None:
    window.show_customer(rich_card.customer.id)
    strip = window.card_view.timeline.strip
    kind = rich_card.kinds[-1]
    strip.kind.setCurrentIndex(strip.kind.findData(kind))
    strip.set_kinds(rich_card.kinds[:-1])  # an answer without it: the choice stays
    assert strip.kind.currentData() == kind
    assert window.timeline_model.timeline_filter is not None
    assert window.timeline_model.timeline_filter.kinds == {kind}


def test_open_reads_card_and_first_page_together(demo_services: Any) -> None:
    card = _scan(demo_services, lambda c: c.interaction_count > PAGE)
    opened = demo_services.cards.open(card.customer.id, PAGE)
    assert opened is not None
    first, page = opened
    assert first == replace(card, kinds=())
    assert page == demo_services.cards.timeline(card.customer.id, None, PAGE)
    assert demo_services.cards.kinds(card.customer.id) == card.kinds
    assert demo_services.cards.open(10_000_000, PAGE) is None


def test_extras_of_a_card_left_at_once_are_not_read(
    qtbot: Any, window: MainWindow, rich_card: CustomerCard, dnc_card: CustomerCard
) -> None:
    """Going through cards one after another reads only the last one's related customers:
    a read for a card being left would slow the next card down."""
    assert rich_card.customer.id != dnc_card.customer.id
    related_for: list[int] = []
    window.cards.related_shown.connect(related_for.append)

    def next_card(customer_id: int) -> None:
        if customer_id == rich_card.customer.id:
            window.cards.open(dnc_card.customer.id)  # before the first card's extras start

    window.card_shown.connect(next_card)
    with qtbot.waitSignal(window.cards.related_shown, timeout=5000):
        window.cards.open(rich_card.customer.id)
    assert related_for == [dnc_card.customer.id]
    assert window.card_view.card is not None
    assert window.card_view.card.customer.id == dnc_card.customer.id


def test_a_missing_customer_leaves_the_card_on_screen_its_extras(
    qtbot: Any, window: MainWindow, rich_card: CustomerCard
) -> None:
    missing = 10**9

    def next_card(customer_id: int) -> None:
        if customer_id == rich_card.customer.id:
            window.cards.open(missing)  # stops the first card's extras

    related_for: list[int] = []
    window.cards.related_shown.connect(related_for.append)
    window.card_shown.connect(next_card)
    with qtbot.waitSignals([window.cards.card_missing, window.cards.related_shown], timeout=5000):
        window.cards.open(rich_card.customer.id)
    assert related_for == [rich_card.customer.id]
    assert window.card_view.card is not None
    assert window.card_view.card.customer.id == rich_card.customer.id
