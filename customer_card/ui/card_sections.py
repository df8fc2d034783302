"""The left column of the card: contact points, identifiers, consents and preferences.

Every value carries a tooltip saying where it came from (source, id there, date) and
every contact value or identifier has a copy button.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from customer_card.domain.model import (
    ContactKind,
    ContactPoint,
    CustomerCard,
    Preference,
    Provenance,
    RelatedCustomer,
)
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
    CopyButton,
    ElidedLabel,
    Section,
    muted,
    selectable,
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


class ContactsSection(Section):
    copied = Signal(str)
    correct_requested = Signal(object)  # ContactPoint

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("Card", "Contact"), parent)
        self.editable = True

    def set_card(self, card: CustomerCard) -> None:
        self.clear()
        points = sorted(
            card.contact_points,
            key=lambda p: (_KIND_ORDER.get(p.kind, 9), not p.primary, not p.valid, p.value),
        )
        if not points:
            self.add_empty(self.tr("No contact point known"))
        for point in points:
            self.body.addWidget(self._row(point))

    def _row(self, point: ContactPoint) -> QWidget:
        row = QWidget()
        row.setObjectName("ContactRow")
        row.setProperty("invalid", not point.valid)
        tooltip = provenance_tooltip(point.provenance)
        row.setToolTip(tooltip)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 1, 0, 1)
        layout.setSpacing(8)
        glyph = QLabel()
        glyph.setPixmap(contact_icon(point.kind).pixmap(QSize(13, 13)))
        layout.addWidget(glyph, 0, Qt.AlignmentFlag.AlignTop)
        value: QLabel
        if point.kind == ContactKind.ADDRESS:
            value = selectable(point.value, "ContactValue")
            value.setWordWrap(True)
        else:
            value = ElidedLabel(point.value, "ContactValue")
        value.setToolTip(tooltip)
        if not point.valid or point.corrected_to:
            value.setProperty("strike", True)
        layout.addWidget(value, 1)
        if point.label:
            layout.addWidget(muted(point.label))
        if point.primary:
            primary = Badge(self.tr("primary"), "accent")
            primary.setProperty("small", True)
            layout.addWidget(primary)
        if point.corrected_to:
            fixed = Badge(self.tr("corrected"), "warning")
            fixed.setProperty("small", True)
            fixed.setToolTip(
                self.tr(
                    "Replaced by %1 on this card; the source systems still hold this value."
                ).replace("%1", point.corrected_to)
            )
            layout.addWidget(fixed)
        elif not point.valid:
            invalid = Badge(self.tr("invalid"), "danger")
            invalid.setToolTip(self.tr("This value failed validation: do not rely on it."))
            layout.addWidget(invalid)
        if any(p.source == LOCAL_SOURCE for p in point.provenance):
            local = Badge(self.tr("edited"), "success")
            local.setProperty("small", True)
            local.setToolTip(tooltip)
            layout.addWidget(local)
        copy = CopyButton(point.value)
        copy.copied.connect(self.copied)
        layout.addWidget(copy)
        if self.editable and point.kind in (ContactKind.PHONE, ContactKind.EMAIL):
            edit = ActionButton("fa5s.pen", self.tr("Correct %1").replace("%1", point.value))
            edit.setObjectName("CorrectButton")
            edit.setProperty("contact_value", point.value)
            edit.clicked.connect(lambda _=False, p=point: self.correct_requested.emit(p))
            layout.addWidget(edit)
        return row


class IdentifiersSection(Section):
    copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("Card", "Identifiers"), parent)

    def set_card(self, card: CustomerCard) -> None:
        self.clear()
        if not card.identifiers:
            self.add_empty(self.tr("No identifier"))
            return
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(5)
        grid.setColumnStretch(1, 1)
        for row, ident in enumerate(sorted(card.identifiers, key=lambda i: (i.kind, i.value))):
            tooltip = provenance_tooltip(ident.provenance)
            kind = muted(identifier_label(ident.kind))
            grid.addWidget(kind, row, 0, Qt.AlignmentFlag.AlignTop)
            cell = QVBoxLayout()
            cell.setSpacing(2)
            value = ElidedLabel(ident.value, "ContactValue")
            value.setToolTip(tooltip)
            cell.addWidget(value)
            cell.addLayout(source_badges((p.source for p in ident.provenance), tooltip))
            grid.addLayout(cell, row, 1)
            copy = CopyButton(ident.value)
            copy.copied.connect(self.copied)
            grid.addWidget(copy, row, 2, Qt.AlignmentFlag.AlignTop)
        self.body.addLayout(grid)


def source_badges(sources: Iterable[str], tooltip: str) -> QHBoxLayout:
    """One small coloured badge per source system, left-aligned."""
    row = QHBoxLayout()
    row.setSpacing(3)
    for source in sorted(set(sources)):
        badge = Badge(source_label(source), f"source-{source.lower()}")
        badge.setProperty("small", True)
        badge.setToolTip(tooltip)
        row.addWidget(badge)
    row.addStretch(1)
    return row


class ConsentsSection(Section):
    """Consents per purpose (status colour, date, source), then preferences."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("Card", "Consents & preferences"), parent)

    def set_card(self, card: CustomerCard) -> None:
        self.clear()
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(3)
        grid.setColumnStretch(0, 1)
        if not card.consents:
            self.add_empty(self.tr("No consent recorded"))
        for row, consent in enumerate(sorted(card.consents, key=lambda c: c.purpose)):
            tooltip = provenance_tooltip([consent.provenance])
            purpose = QLabel(purpose_label(consent.purpose))
            purpose.setToolTip(tooltip)
            grid.addWidget(purpose, row, 0)
            status = Badge(
                consent_label(consent.status), _CONSENT_TONES.get(consent.status, "neutral")
            )
            status.setToolTip(tooltip)
            grid.addWidget(status, row, 1)
            when = muted(format_date(consent.collected_at) or "—")
            via = [source_label(consent.provenance.source)]
            if consent.channel:
                via.insert(0, self.tr("via %1").replace("%1", consent.channel))
            when.setToolTip(f"{' · '.join(via)}\n{tooltip}")
            grid.addWidget(when, row, 2)
        self.body.addLayout(grid)

        if card.preferences:
            self.body.addSpacing(6)
            prefs = QGridLayout()
            prefs.setHorizontalSpacing(10)
            prefs.setVerticalSpacing(2)
            prefs.setColumnStretch(1, 1)
            grouped: dict[str, list[Preference]] = {}
            for pref in card.preferences:
                grouped.setdefault(pref.key, []).append(pref)
            for row, (key, items) in enumerate(sorted(grouped.items())):
                values = list(dict.fromkeys(p.value for p in items))  # distinct, in order
                value = selectable(", ".join(values))
                value.setWordWrap(True)
                value.setToolTip(provenance_tooltip(p.provenance for p in items))
                prefs.addWidget(muted(key.replace("_", " ").capitalize()), row, 0)
                prefs.addWidget(value, row, 1)
            self.body.addLayout(prefs)


class OpenNowSection(Section):
    """Open tickets, orders in progress and follow-ups: hidden when nothing is open."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("Card", "Open now"), parent)

    def set_card(self, card: CustomerCard) -> None:
        self.clear()
        self.setVisible(bool(card.open_items))
        for item in card.open_items:
            row = QHBoxLayout()
            row.setSpacing(8)
            glyph = QLabel()
            glyph.setPixmap(channel_icon(item.channel, "#b45309").pixmap(QSize(13, 13)))
            row.addWidget(glyph)
            text = ElidedLabel(item.summary, "OpenItem", mode=Qt.TextElideMode.ElideRight)
            when = format_datetime(item.occurred_at)
            text.setToolTip(f"{kind_label(item.kind)} · {when}\n{item.details or item.summary}")
            row.addWidget(text, 1)
            row.addWidget(muted(format_date(item.occurred_at)))
            self.body.addLayout(row)
        if card.open_interactions > len(card.open_items):
            more = card.open_interactions - len(card.open_items)
            self.body.addWidget(muted(self.tr("and %n more in the history", "", more)))


class RelatedSection(Section):
    """Other customers tied to this one: same household, or perhaps the same person."""

    open_requested = Signal(int)  # customer id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("Card", "Related customers"), parent)

    def set_related(self, customers: tuple[RelatedCustomer, ...]) -> None:
        self.clear()
        self.setVisible(bool(customers))
        for related in customers:
            self.body.addLayout(self._row(related))

    def _row(self, related: RelatedCustomer) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(8)
        link = QLabel(f'<a href="{related.customer_id}">{related.name}</a>')
        link.setObjectName("RelatedLink")
        link.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        link.linkActivated.connect(lambda href: self.open_requested.emit(int(href)))
        reason = _reason_text(related)
        link.setToolTip(f"{related.public_id} · {related.city or '—'}\n{reason}")
        row.addWidget(link)
        tone = "neutral" if related.relation == "household" else "warning"
        badge = Badge(relation_label(related.relation), tone)
        badge.setProperty("small", True)
        badge.setToolTip(reason)
        row.addWidget(badge)
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
        detail = ElidedLabel(" · ".join(facts), mode=Qt.TextElideMode.ElideRight)
        detail.setProperty("muted", True)
        detail.setToolTip(reason)
        row.addWidget(detail, 1)
        return row


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
