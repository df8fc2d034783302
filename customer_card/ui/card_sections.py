"""The left column of the card: contact points, identifiers, consents and preferences,
related customers and the products bought.

Every value carries a tooltip saying where it came from (source, id there, date) and
every contact value or identifier has a copy button.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from customer_card.domain.model import (
    Consent,
    ContactKind,
    ContactPoint,
    CustomerCard,
    Identifier,
    Interaction,
    Preference,
    Provenance,
    RelatedCustomer,
)
from customer_card.services.cards import ProductBought, ProductsBought
from customer_card.ui.formatting import format_count, format_date, format_datetime, format_money
from customer_card.ui.icons import channel_icon, contact_icon
from customer_card.ui.labels import (
    consent_label,
    identifier_label,
    kind_label,
    purpose_label,
    relation_label,
    source_label,
)
from customer_card.ui.widgets import (
    ActionButton,
    Badge,
    BadgeRow,
    CopyButton,
    ElidedLabel,
    GridRows,
    RowPool,
    Section,
    muted,
    selectable,
    set_themed,
    set_tone,
)

LOCAL_SOURCE = "local"  # what advisors entered in the app (see store.card_store)
_KIND_ORDER = {ContactKind.PHONE: 0, ContactKind.EMAIL: 1, ContactKind.ADDRESS: 2}
_CONSENT_TONES = {"granted": "success", "withdrawn": "danger", "denied": "danger"}


def provenance_tooltip(provenance: Iterable[Provenance]) -> str:
    lines = []
    for prov in provenance:
        when = format_date(prov.updated_at)
        if prov.source == LOCAL_SOURCE:
            line = QCoreApplication.translate("Card", "Entered in Customer Card by %1").replace(
                "%1", prov.source_id
            )
        else:
            line = QCoreApplication.translate("Card", "From %1 #%2").replace(
                "%1", source_label(prov.source)
            )
            line = line.replace("%2", prov.source_id)
        lines.append(f"{line} · {when}" if when else line)
    return "\n".join(lines) or QCoreApplication.translate("Card", "Source unknown")


class ContactRow(QWidget):
    """One contact point: icon, value, label, flags, copy and correct buttons."""

    correct_requested = Signal(object)  # ContactPoint

    def __init__(self, editable: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ContactRow")
        self.setProperty("invalid", False)
        self._point: ContactPoint | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 1, 0, 1)
        layout.setSpacing(8)
        self._layout = layout
        self.glyph = QLabel()
        layout.addWidget(self.glyph, 0, Qt.AlignmentFlag.AlignTop)
        self.value = ElidedLabel("", "ContactValue")
        self.value.setProperty("strike", False)
        layout.addWidget(self.value, 1)
        # Addresses wrap (and can be selected) instead of eliding.
        self.address = selectable("", "ContactValue")
        self.address.setWordWrap(True)
        self.address.setProperty("strike", False)
        layout.addWidget(self.address, 1)
        self.label = muted("")
        layout.addWidget(self.label)
        self.primary = _small_badge(self.tr("primary"), "accent")
        layout.addWidget(self.primary)
        self.corrected = _small_badge(self.tr("corrected"), "warning")
        layout.addWidget(self.corrected)
        self.invalid = Badge(self.tr("invalid"), "danger")
        self.invalid.setToolTip(self.tr("This value failed validation: do not rely on it."))
        layout.addWidget(self.invalid)
        self.edited = _small_badge(self.tr("edited"), "success")
        layout.addWidget(self.edited)
        self.copy = CopyButton("")
        layout.addWidget(self.copy)
        self.edit: ActionButton | None = None  # made only where advisors may correct
        if editable:
            self._add_edit_button()

    def _add_edit_button(self) -> ActionButton:
        edit = ActionButton("fa5s.pen", "")
        edit.setObjectName("CorrectButton")
        edit.clicked.connect(self._on_edit)
        self._layout.addWidget(edit)
        self.edit = edit
        return edit

    def set_point(self, point: ContactPoint, editable: bool) -> None:
        self._point = point
        set_themed(self, "invalid", not point.valid)
        tooltip = provenance_tooltip(point.provenance)
        self.setToolTip(tooltip)
        self.glyph.setPixmap(contact_icon(point.kind).pixmap(QSize(13, 13)))
        address = point.kind == ContactKind.ADDRESS
        shown, hidden = (self.address, self.value) if address else (self.value, self.address)
        hidden.hide()
        if address:
            self.address.setText(point.value)
        else:
            self.value.set_full_text(point.value)
        shown.setToolTip(tooltip)
        set_themed(shown, "strike", bool(not point.valid or point.corrected_to))
        shown.show()
        self.label.setText(point.label or "")
        self.label.setVisible(bool(point.label))
        self.primary.setVisible(point.primary)
        self.corrected.setVisible(bool(point.corrected_to))
        if point.corrected_to:
            self.corrected.setToolTip(
                self.tr(
                    "Replaced by %1 on this card; the source systems still hold this value."
                ).replace("%1", point.corrected_to)
            )
        self.invalid.setVisible(not point.valid and not point.corrected_to)
        self.edited.setVisible(any(p.source == LOCAL_SOURCE for p in point.provenance))
        self.edited.setToolTip(tooltip)
        self.copy.set_value(point.value)
        correctable = editable and point.kind in (ContactKind.PHONE, ContactKind.EMAIL)
        if correctable and self.edit is None:
            self._add_edit_button()
        if self.edit is not None:
            text = self.tr("Correct %1").replace("%1", point.value)
            self.edit.setToolTip(text)
            self.edit.setAccessibleName(text)
            self.edit.setProperty("contact_value", point.value if correctable else None)
            self.edit.setVisible(correctable)

    @property
    def point(self) -> ContactPoint | None:
        return self._point

    def _on_edit(self) -> None:
        if self._point is not None:
            self.correct_requested.emit(self._point)


class ContactsSection(Section):
    copied = Signal(str)
    correct_requested = Signal(object)  # ContactPoint

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("Card", "Contact"), parent)
        self.editable = True
        self._rows = RowPool(self.body, self._new_row)

    def _new_row(self) -> ContactRow:
        row = ContactRow(self.editable)
        row.copy.copied.connect(self.copied)
        row.correct_requested.connect(self.correct_requested)
        return row

    def set_card(self, card: CustomerCard) -> None:
        points = sorted(
            card.contact_points,
            key=lambda p: (_KIND_ORDER.get(p.kind, 9), not p.primary, not p.valid, p.value),
        )
        self.set_empty(None if points else self.tr("No contact point known"))
        editable = self.editable
        self._rows.fill(points, lambda row, point: row.set_point(point, editable))

    def rows(self) -> list[ContactRow]:
        """The rows on screen, in order."""
        return self._rows.shown


class IdentifierCell(QWidget):
    """An identifier's value with, under it, the systems it comes from."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.value = ElidedLabel("", "ContactValue")
        layout.addWidget(self.value)
        self.sources = BadgeRow()
        layout.addWidget(self.sources)


class IdentifiersSection(Section):
    copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("Card", "Identifiers"), parent)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(5)
        grid.setColumnStretch(1, 1)
        self.body.addLayout(grid)
        top = Qt.AlignmentFlag.AlignTop
        self._rows = GridRows(grid, self._new_row, (top, Qt.AlignmentFlag(0), top))

    def _new_row(self) -> tuple[QLabel, IdentifierCell, CopyButton]:
        copy = CopyButton("")
        copy.copied.connect(self.copied)
        return muted(""), IdentifierCell(), copy

    def set_card(self, card: CustomerCard) -> None:
        idents = sorted(card.identifiers, key=lambda i: (i.kind, i.value))
        self.set_empty(None if idents else self.tr("No identifier"))
        self._rows.fill(idents, _fill_identifier)


def _fill_identifier(cells: Sequence[QWidget], ident: Identifier) -> None:
    kind, cell, copy = cells
    assert isinstance(kind, QLabel)
    assert isinstance(cell, IdentifierCell)
    assert isinstance(copy, CopyButton)
    tooltip = provenance_tooltip(ident.provenance)
    kind.setText(identifier_label(ident.kind))
    cell.value.set_full_text(ident.value)
    cell.value.setToolTip(tooltip)
    cell.sources.set_badges(source_badges((p.source for p in ident.provenance), tooltip))
    copy.set_value(ident.value)


def source_badges(sources: Iterable[str], tooltip: str) -> list[tuple[str, str, str]]:
    """One small coloured badge per source system: (text, tone, tooltip) for a ``BadgeRow``."""
    return [
        (source_label(source), f"source-{source.lower()}", tooltip)
        for source in sorted(set(sources))
    ]


class ConsentsSection(Section):
    """Consents per purpose (status colour, date, source), then preferences."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("Card", "Consents & preferences"), parent)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        grid.setColumnStretch(0, 1)
        self.body.addLayout(grid)
        self._consents = GridRows(grid, lambda: (QLabel(), Badge(), muted("")))
        self._gap = QWidget()
        self._gap.setFixedHeight(2)  # with the body's spacing: 6 px between the two grids
        self.body.addWidget(self._gap)
        prefs = QGridLayout()
        prefs.setHorizontalSpacing(10)
        prefs.setVerticalSpacing(2)
        prefs.setColumnStretch(1, 1)
        self.body.addLayout(prefs)
        self._prefs = GridRows(prefs, _preference_cells)

    def set_card(self, card: CustomerCard) -> None:
        consents = sorted(card.consents, key=lambda c: c.purpose)
        self.set_empty(None if consents else self.tr("No consent recorded"))
        self._consents.fill(consents, self._fill_consent)

        grouped: dict[str, list[Preference]] = {}
        for pref in card.preferences:
            grouped.setdefault(pref.key, []).append(pref)
        self._gap.setVisible(bool(grouped))
        self._prefs.fill(sorted(grouped.items()), _fill_preference)

    def _fill_consent(self, cells: Sequence[QWidget], consent: Consent) -> None:
        purpose, status, when = cells
        assert isinstance(purpose, QLabel)
        assert isinstance(status, Badge)
        assert isinstance(when, QLabel)
        tooltip = provenance_tooltip([consent.provenance])
        purpose.setText(purpose_label(consent.purpose))
        purpose.setToolTip(tooltip)
        status.setText(consent_label(consent.status))
        set_tone(status, _CONSENT_TONES.get(consent.status, "neutral"))
        status.setToolTip(tooltip)
        when.setText(format_date(consent.collected_at) or "—")
        via = [source_label(consent.provenance.source)]
        if consent.channel:
            via.insert(0, self.tr("via %1").replace("%1", consent.channel))
        when.setToolTip(f"{' · '.join(via)}\n{tooltip}")


def _fill_preference(cells: Sequence[QWidget], item: tuple[str, list[Preference]]) -> None:
    name, value = cells
    assert isinstance(name, QLabel)
    assert isinstance(value, QLabel)
    key, prefs = item
    name.setText(key.replace("_", " ").capitalize())
    value.setText(", ".join(dict.fromkeys(p.value for p in prefs)))  # distinct, in order
    value.setToolTip(provenance_tooltip(p.provenance for p in prefs))


def _preference_cells() -> tuple[QLabel, QLabel]:
    value = selectable("")
    value.setWordWrap(True)
    return muted(""), value


class OpenItemRow(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.glyph = QLabel()
        layout.addWidget(self.glyph)
        self.text = ElidedLabel("", "OpenItem", mode=Qt.TextElideMode.ElideRight)
        layout.addWidget(self.text, 1)
        self.when = muted("")
        layout.addWidget(self.when)

    def set_item(self, item: Interaction) -> None:
        self.glyph.setPixmap(channel_icon(item.channel, "#b45309").pixmap(QSize(13, 13)))
        self.text.set_full_text(item.summary)
        when = format_datetime(item.occurred_at)
        self.text.setToolTip(f"{kind_label(item.kind)} · {when}\n{item.details or item.summary}")
        self.when.setText(format_date(item.occurred_at))


class OpenNowSection(Section):
    """Open tickets, orders in progress and follow-ups: hidden when nothing is open."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("Card", "Open now"), parent)
        self._rows = RowPool(self.body, OpenItemRow)
        self._more = muted("")
        self.body.addWidget(self._more)

    def set_card(self, card: CustomerCard) -> None:
        self.setVisible(bool(card.open_items))
        self._rows.fill(card.open_items, OpenItemRow.set_item)
        more = card.open_interactions - len(card.open_items)
        self._more.setVisible(more > 0)
        if more > 0:
            self._more.setText(self.tr("and %n more in the history", "", more))


class RelatedRow(QWidget):
    open_requested = Signal(int)  # customer id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.link = QLabel()
        self.link.setObjectName("RelatedLink")
        self.link.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.link.linkActivated.connect(lambda href: self.open_requested.emit(int(href)))
        layout.addWidget(self.link)
        self.badge = _small_badge("", "neutral")
        layout.addWidget(self.badge)
        self.detail = ElidedLabel(mode=Qt.TextElideMode.ElideRight)
        self.detail.setProperty("muted", True)
        layout.addWidget(self.detail, 1)

    def set_related(self, related: RelatedCustomer) -> None:
        self.link.setText(f'<a href="{related.customer_id}">{escape(related.name)}</a>')
        reason = _reason_text(related)
        self.link.setToolTip(f"{related.public_id} · {related.city or '—'}\n{reason}")
        self.badge.setText(relation_label(related.relation))
        set_tone(self.badge, "neutral" if related.relation == "household" else "warning")
        self.badge.setToolTip(reason)
        facts = []
        if related.followers:
            facts.append(
                QCoreApplication.translate("Card", "%1 followers").replace(
                    "%1", format_count(related.followers)
                )
            )
        if related.lifetime_value:
            facts.append(format_money(related.lifetime_value))
        facts.append(reason)
        self.detail.set_full_text(" · ".join(facts))
        self.detail.setToolTip(reason)


class RelatedSection(Section):
    """Other customers tied to this one: same household, or perhaps the same person."""

    open_requested = Signal(int)  # customer id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("Card", "Related customers"), parent)
        self._rows = RowPool(self.body, self._new_row)

    def _new_row(self) -> RelatedRow:
        row = RelatedRow()
        row.open_requested.connect(self.open_requested)
        return row

    def set_related(self, customers: tuple[RelatedCustomer, ...]) -> None:
        self.setVisible(bool(customers))
        self._rows.fill(customers, RelatedRow.set_related)


class ProductRow(QWidget):
    """One product: name, then category, quantity, orders and last date; "returned" marked;
    where it comes from (the last order) on hover."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.name = ElidedLabel("", "ProductName", mode=Qt.TextElideMode.ElideRight)
        layout.addWidget(self.name, 1)
        self.returned = _small_badge("", "warning")
        layout.addWidget(self.returned)
        self.facts = muted("")
        layout.addWidget(self.facts)

    def set_product(self, product: ProductBought) -> None:
        tr = QCoreApplication.translate
        self.name.set_full_text(product.name)
        times = tr("Card", "%n order(s)", "", product.times)
        quantity = f"×{format_count(product.quantity)}"
        # Times bought and category are in the tooltip: at kiosk width the name needs the room.
        self.facts.setText(f"{quantity} · {format_date(product.last_bought_at)}")
        self.returned.setVisible(product.returned > 0)
        if product.returned:
            self.returned.setText(
                tr("Card", "returned")
                if product.returned >= product.quantity
                else tr("Card", "%1 returned").replace("%1", format_count(product.returned))
            )
        where = tr("Card", "Last bought in order %1 · %2").replace("%1", product.last_source_id)
        source = provenance_tooltip(
            [Provenance(product.last_source, product.last_source_id, product.last_bought_at)]
        )
        lines = [
            product.name,
            " · ".join(x for x in (product.category, product.sku) if x),
            tr("Card", "%1 bought in %2")
            .replace("%1", format_count(product.quantity))
            .replace("%2", times),
            where.replace("%2", format_date(product.last_bought_at)),
            source,
        ]
        tooltip = "\n".join(line for line in lines if line)
        for widget in (self, self.name, self.facts, self.returned):
            widget.setToolTip(tooltip)


class ProductsSection(Section):
    """What the customer bought, per product, the most recent first; loaded after the card."""

    orders_requested = Signal()  # the advisor wants every order in the timeline

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("Card", "Products bought"), parent)
        self._rows = RowPool(self.body, ProductRow)
        self.more = QLabel()
        self.more.setObjectName("ProductsMore")
        self.more.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.more.linkActivated.connect(lambda _href: self.orders_requested.emit())
        self.body.addWidget(self.more)
        self.customer_id: int | None = None
        self.hide()

    def set_products(self, customer_id: int | None, bought: ProductsBought | None) -> None:
        """Show ``bought`` for ``customer_id`` (None: nothing known yet, hidden)."""
        self.customer_id = customer_id
        products = bought.products if bought else ()
        self.setVisible(bool(products))
        self._rows.fill(products, ProductRow.set_product)
        more = (bought.total - len(products)) if bought else 0
        self.more.setVisible(more > 0)
        if more > 0:
            text = self.tr("%n more product(s)", "", more).replace(str(more), format_count(more))
            self.more.setText(
                f'<a href="orders">{escape(text)}</a> · '
                + escape(self.tr("see the orders in the history"))
            )
            self.more.setToolTip(self.tr("Show only the orders in the history"))

    @property
    def rows(self) -> list[ProductRow]:
        return self._rows.shown


def _small_badge(text: str, tone: str) -> Badge:
    badge = Badge(text, tone)
    badge.setProperty("small", True)
    return badge


def _reason_text(related: RelatedCustomer) -> str:
    if related.relation == "household":
        kinds = [
            {"email": "e-mail", "phone": "phone", "address": "address"}.get(k, k)
            for k in related.reason.split(", ")
        ]
        return QCoreApplication.translate("Card", "shares the %1").replace(
            "%1", QCoreApplication.translate("Card", " and ").join(kinds)
        )
    return related.reason
