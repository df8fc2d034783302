"""Loads a customer's card (off the GUI thread) and feeds the card view and its timeline."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from customer_card.domain.model import CustomerCard, Interaction, RelatedCustomer, TimelineFilter
from customer_card.services.cards import OrderLine, ProductsBought
from customer_card.ui.card_view import CardView
from customer_card.ui.ports import CardPort
from customer_card.ui.tasks import LatestOnlyRunner
from customer_card.ui.timeline_model import DEFAULT_PAGE_SIZE, TimelineModel


@dataclass(frozen=True, slots=True)
class _Kept:
    """A refresh of the card on screen: the timeline filter it had when the load started."""

    timeline_filter: TimelineFilter | None


# requested id, the card (None: no such customer), its first timeline page, what a refresh kept
_Answer = tuple[int, CustomerCard | None, list[Interaction], _Kept | None]

EXTRAS_DELAY_MS = 150  # after a card is shown, before its related customers are read
LINES_DELAY_MS = 120  # an order selected in the timeline, before its lines are read
PRODUCTS_SHOWN = 8  # products bought listed on the card; the others are counted


class CardController(QObject):
    card_shown = Signal(int)  # customer id actually shown (after merge redirects)
    card_missing = Signal(int)  # requested id
    load_failed = Signal(str)
    loading = Signal(bool)
    related_shown = Signal(int)  # customer id whose related customers (and kinds) are shown
    lines_shown = Signal(int)  # interaction id whose order lines are in the detail pane

    def __init__(
        self,
        cards: CardPort,
        view: CardView,
        pool: QThreadPool,
        page_size: int = DEFAULT_PAGE_SIZE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._cards = cards
        self._view = view
        self.timeline_model = TimelineModel(cards, page_size, self)
        view.timeline.set_model(self.timeline_model)
        view.filter_changed.connect(self._on_filter)
        self._runner = LatestOnlyRunner(pool, self)
        self._runner.finished.connect(self._on_loaded)
        self._runner.failed.connect(self._on_failed)
        # Related customers (households, namesakes) and the kinds in the history (a read of
        # every interaction) take longer than the card: fetched after it is on screen.
        self._related = LatestOnlyRunner(pool, self)
        self._related.finished.connect(self._on_related)
        # An order's lines, when the advisor stays on it in the timeline: read a moment after
        # the selection (not for each row passed with the arrow keys, and not in the middle of
        # a card being painted, whose newest row is selected as it opens).
        self._lines = LatestOnlyRunner(pool, self)
        self._lines.finished.connect(self._on_lines)
        self._lines_for: int | None = None
        self._lines_timer = QTimer(self)
        self._lines_timer.setSingleShot(True)
        self._lines_timer.setInterval(LINES_DELAY_MS)
        self._lines_timer.timeout.connect(self._read_lines)
        view.timeline.lines_wanted.connect(self._load_lines)
        self._extras_for: int | None = None
        self._extras_shown: int | None = None
        self._closed = False
        # The extras wait a moment after the card is painted: an advisor going through cards
        # one after another does not read each one's related customers, and a read started
        # for a card being left competes with the next card's load (a CPU core and the
        # interpreter lock), costing it 20–30 ms at a million customers.
        self._extras_timer = QTimer(self)
        self._extras_timer.setSingleShot(True)
        self._extras_timer.setInterval(EXTRAS_DELAY_MS)
        self._extras_timer.timeout.connect(self._load_extras)

    @property
    def card(self) -> CustomerCard | None:
        return self._view.card

    def open(self, customer_id: int) -> None:
        """Load in the background; ``card_shown`` or ``card_missing`` follows. The timeline
        starts unfiltered."""
        self._load(customer_id, None)

    def refresh(self, customer_id: int) -> None:
        """Load the card on screen again (a note was added, a sync changed it), keeping the
        advisor's timeline filter; another customer's card is simply opened."""
        card = self._view.card
        if card is None or card.customer.id != customer_id:
            self._load(customer_id, None)
        else:
            self._load(customer_id, _Kept(self.timeline_model.timeline_filter))

    def _load(self, customer_id: int, kept: _Kept | None) -> None:
        cards = self._cards
        size = self.timeline_model.page_size
        wanted = kept.timeline_filter if kept else None

        def load() -> _Answer:
            opened = cards.open(customer_id, size, wanted)  # card and first page in one read
            if opened is None:
                return customer_id, None, [], kept
            return customer_id, *opened, kept

        self.loading.emit(True)
        self._extras_timer.stop()  # the card being left: its extras are not wanted now
        # Nor its order's lines: a read beside the card's load would take another pooled
        # connection, and the next load a colder one (measured: +30 ms on a 20,000-row card).
        self._lines_timer.stop()
        self._runner.submit(load)

    def show_now(self, customer_id: int) -> bool:
        """Load on the calling (GUI) thread; for hand-offs where the caller needs the answer."""
        self.clear()  # drop a load in flight, and say loading stopped
        card = self._cards.load(customer_id)
        if card is None:
            self.card_missing.emit(customer_id)
            return False
        self._display(card, None)
        return True

    def clear(self) -> None:
        """Forget a load still running (its answer is dropped); the view keeps its last card."""
        if self._runner.busy:
            self._runner.cancel()
            self.loading.emit(False)
            self._extras_pending()

    def shutdown(self) -> None:
        """The window is closing: start no more background reads."""
        self._extras_timer.stop()
        self._lines_timer.stop()
        self._closed = True

    def _on_loaded(self, answer: _Answer) -> None:
        self.loading.emit(False)
        requested, card, first_page, kept = answer
        if card is None:
            self.card_missing.emit(requested)
            self._extras_pending()
            return
        shown = self._view.card
        if kept is not None and shown is not None and shown.customer.id == card.customer.id:
            self._refresh_display(card, first_page, kept.timeline_filter)
        else:
            self._display(card, first_page)

    def _on_failed(self, message: str) -> None:
        self.loading.emit(False)
        self.load_failed.emit(message)
        self._extras_pending()

    def _display(self, card: CustomerCard, first_page: list[Interaction] | None) -> None:
        self._view.set_card(card)
        self.timeline_model.set_customer(card.customer.id, first_page)
        self._shown(card)

    def _refresh_display(
        self,
        card: CustomerCard,
        first_page: list[Interaction],
        loaded_with: TimelineFilter | None,
    ) -> None:
        """The same customer again: new figures and history, the same filter and place."""
        current = self.timeline_model.timeline_filter
        self._view.set_card(card, keep_filters=True)
        # The advisor may have changed the filter while the card was loading: then the page
        # read is for the old one, and the current filter's first page is read now.
        page = first_page if current == loaded_with else None
        self.timeline_model.set_customer(card.customer.id, page, current)
        self._shown(card)

    def _shown(self, card: CustomerCard) -> None:
        self.card_shown.emit(card.customer.id)
        # The slower reads start a moment after the card is painted (see EXTRAS_DELAY_MS;
        # the timer runs after posted events such as the paint).
        self._extras_for = card.customer.id
        self._extras_shown = None
        self._extras_timer.start()

    def _extras_pending(self) -> None:
        """No new card came (missing, failed, cancelled): the card still on screen gets the
        extras its opening dropped."""
        if self._extras_for is not None and self._extras_shown != self._extras_for:
            self._extras_timer.start()

    def _load_extras(self) -> None:
        customer_id, cards = self._extras_for, self._cards
        if self._closed or customer_id is None or self._view.card is None:
            return
        if self._view.card.customer.id != customer_id:
            return  # another card came in between: its own timer follows
        if self._runner.busy:
            return  # a card is loading: its own timer follows, or _extras_pending
        self._related.submit(
            lambda: (
                customer_id,
                cards.related(customer_id),
                cards.kinds(customer_id),
                cards.products(customer_id, PRODUCTS_SHOWN),
            )
        )

    def _on_related(
        self,
        answer: tuple[int, tuple[RelatedCustomer, ...], tuple[str, ...], ProductsBought],
    ) -> None:
        customer_id, related, kinds, products = answer
        if self._view.set_related(customer_id, related, kinds):
            self._view.set_products(customer_id, products)
            self._extras_shown = customer_id
            self.related_shown.emit(customer_id)

    def _load_lines(self, interaction_id: int) -> None:
        self._lines_for = interaction_id
        self._lines_timer.start()

    def _read_lines(self) -> None:
        interaction_id, cards = self._lines_for, self._cards
        if self._closed or interaction_id is None:
            return
        self._lines.submit(lambda: (interaction_id, cards.order_lines(interaction_id)))

    def _on_lines(self, answer: tuple[int, tuple[OrderLine, ...]]) -> None:
        interaction_id, lines = answer
        if self._view.timeline.detail.set_lines(interaction_id, lines):
            self.lines_shown.emit(interaction_id)

    def _on_filter(self, timeline_filter: TimelineFilter) -> None:
        self.timeline_model.set_filter(timeline_filter)
