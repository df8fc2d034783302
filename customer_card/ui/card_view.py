"""One customer's card: header on top, details on the left, history on the right."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QScrollArea, QSplitter, QVBoxLayout, QWidget

from customer_card.domain.model import CustomerCard, RelatedCustomer
from customer_card.services.cards import ProductsBought
from customer_card.ui.card_header import CardHeader
from customer_card.ui.card_sections import (
    ConsentsSection,
    ContactsSection,
    IdentifiersSection,
    OpenNowSection,
    ProductsSection,
    RelatedSection,
)
from customer_card.ui.timeline_view import TimelinePanel


class CardView(QWidget):
    copied = Signal(str)  # a value went to the clipboard
    filter_changed = Signal(object)  # TimelineFilter chosen in the activity strip
    note_requested = Signal()
    call_requested = Signal()
    correct_requested = Signal(object)  # ContactPoint
    customer_requested = Signal(int)  # a related customer's link

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CardView")
        self._card: CustomerCard | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(10)

        self.header = CardHeader()
        layout.addWidget(self.header)

        self.open_now = OpenNowSection()
        self.contacts = ContactsSection()
        self.identifiers = IdentifiersSection()
        self.consents = ConsentsSection()
        self.related = RelatedSection()
        self.products = ProductsSection()
        self.contacts.copied.connect(self.copied)
        self.contacts.correct_requested.connect(self.correct_requested)
        self.identifiers.copied.connect(self.copied)
        self.related.open_requested.connect(self.customer_requested)

        column = QWidget()
        column.setObjectName("LeftColumn")
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 6, 0)
        column_layout.setSpacing(10)
        for section in (
            self.open_now,
            self.contacts,
            # What they bought, before the consents: the header already flags do-not-contact.
            self.products,
            self.consents,
            self.related,
            self.identifiers,
        ):
            column_layout.addWidget(section)
        column_layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setObjectName("LeftScroll")
        scroll.setWidget(column)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(380)
        self.left_scroll = scroll

        right = QFrame()
        right.setObjectName("TimelineFrame")
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(14, 10, 14, 12)
        self.timeline = TimelinePanel()
        self.timeline.filter_changed.connect(self.filter_changed)
        self.timeline.strip.note_requested.connect(self.note_requested)
        self.timeline.strip.call_requested.connect(self.call_requested)
        self.products.orders_requested.connect(lambda: self.timeline.strip.show_kind("order"))
        right_layout.addWidget(self.timeline)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.setHandleWidth(10)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        self.splitter = splitter
        self._user_sized = False
        splitter.splitterMoved.connect(self._on_splitter_moved)
        layout.addWidget(splitter, 1)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if not self._user_sized:
            # About a third for the details, the rest for the history, until the user decides.
            total = self.splitter.width()
            left = max(400, min(540, int(total * 0.33)))
            self.splitter.setSizes([left, max(total - left, 1)])

    def _on_splitter_moved(self, _pos: int, _index: int) -> None:
        self._user_sized = True

    @property
    def card(self) -> CustomerCard | None:
        return self._card

    def set_related(
        self,
        customer_id: int,
        customers: tuple[RelatedCustomer, ...],
        kinds: tuple[str, ...] | None = None,
    ) -> bool:
        """Related customers (and the kinds of interaction in the history) arrive after the
        card; ignored if another card is shown since."""
        if self._card is None or self._card.customer.id != customer_id:
            return False
        self.related.set_related(customers)
        self.header.set_related(customers)
        if kinds is not None and kinds != self._card.kinds:
            self._card = replace(self._card, kinds=kinds)
            self.timeline.strip.set_kinds(kinds)
        return True

    def set_products(self, customer_id: int, bought: ProductsBought) -> bool:
        """The products bought arrive after the card, like the related customers; ignored if
        another card is shown since."""
        if self._card is None or self._card.customer.id != customer_id:
            return False
        self.products.set_products(customer_id, bought)
        return True

    def set_editable(self, editable: bool) -> None:
        """Read-only windows (no action service) hide what would record something."""
        self.contacts.editable = editable
        self.timeline.strip.note_button.setVisible(editable)
        self.timeline.strip.call_button.setVisible(editable)

    def set_card(self, card: CustomerCard, keep_filters: bool = False) -> None:
        """Show ``card``; ``keep_filters`` when it is the card on screen again (refreshed
        after a note or a sync): the timeline filters and the scroll position stay."""
        if keep_filters and self._card is not None and not card.kinds:
            card = replace(card, kinds=self._card.kinds)  # known already; re-read after
        self._card = card
        self.header.set_card(card)
        self.open_now.set_card(card)
        self.contacts.set_card(card)
        self.identifiers.set_card(card)
        self.consents.set_card(card)
        self.related.set_related(card.related)
        if self.products.customer_id != card.customer.id:
            self.products.set_products(None, None)  # another customer's: read after the card
        self.timeline.set_card(card, keep_filters)
        if not keep_filters:
            self.left_scroll.verticalScrollBar().setValue(0)
