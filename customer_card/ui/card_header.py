"""The top of the card: who, how valuable, how influential, and what must not be missed."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from customer_card.domain.model import CustomerCard, RelatedCustomer, SocialProfile
from customer_card.ui.formatting import (
    age_on,
    format_count,
    format_date,
    format_integer,
    format_money,
)
from customer_card.ui.icons import channel_icon, icon
from customer_card.ui.labels import source_label
from customer_card.ui.widgets import Avatar, Badge, clear_layout, muted, selectable


class Banner(QFrame):
    """A full-width coloured strip: ``tone`` is danger (do not contact) or warning."""

    def __init__(
        self, icon_name: str, title: str, text: str, tone: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("Banner")
        self.setProperty("tone", tone)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 14, 8)
        layout.setSpacing(10)
        glyph = QLabel()
        colour = "#ffffff" if tone == "danger" else "#92400e"
        glyph.setPixmap(icon(icon_name, colour).pixmap(QSize(18, 18)))
        layout.addWidget(glyph)
        heading = QLabel(title)
        heading.setObjectName("BannerTitle")
        layout.addWidget(heading)
        body = QLabel(text)
        body.setObjectName("BannerText")
        body.setWordWrap(True)
        layout.addWidget(body, 1)


class CardHeader(QFrame):
    """Identity line, value to the company and social influence side by side."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CardHeader")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(8)

        self.banners = QVBoxLayout()
        self.banners.setSpacing(6)
        outer.addLayout(self.banners)

        panel = QFrame()
        panel.setObjectName("HeaderPanel")
        outer.addWidget(panel)
        row = QHBoxLayout(panel)
        row.setContentsMargins(18, 14, 18, 14)
        row.setSpacing(18)

        self.avatar = Avatar(60)
        row.addWidget(self.avatar, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(self._build_identity(), 3)
        row.addWidget(_vline())
        row.addLayout(self._build_value(), 2)
        row.addWidget(_vline())
        row.addLayout(self._build_social(), 2)

    def _build_identity(self) -> QVBoxLayout:
        box = QVBoxLayout()
        box.setSpacing(4)
        line = QHBoxLayout()
        line.setSpacing(8)
        self.name_label = selectable("", "CustomerName")
        line.addWidget(self.name_label)
        self.tier_badge = Badge()
        self.vip_badge = Badge(self.tr("★ VIP"), "vip")
        line.addWidget(self.tier_badge)
        line.addWidget(self.vip_badge)
        line.addStretch(1)
        box.addLayout(line)
        self.facts_label = muted("", selectable=True)
        box.addWidget(self.facts_label)
        self.sources_row = QHBoxLayout()
        self.sources_row.setSpacing(4)
        box.addLayout(self.sources_row)
        box.addStretch(1)
        return box

    def _build_value(self) -> QVBoxLayout:
        box = QVBoxLayout()
        box.setSpacing(2)
        box.addWidget(_caption(self.tr("Value to the company")))
        self.value_label = selectable("", "BigFigure")
        box.addWidget(self.value_label)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(1)
        self.orders_label = QLabel()
        self.last_purchase_label = QLabel()
        self.since_label = QLabel()
        for row, (caption, label) in enumerate(
            (
                (self.tr("Orders"), self.orders_label),
                (self.tr("Last purchase"), self.last_purchase_label),
                (self.tr("Customer since"), self.since_label),
            )
        ):
            grid.addWidget(muted(caption), row, 0)
            grid.addWidget(label, row, 1)
        grid.setColumnStretch(2, 1)
        box.addLayout(grid)
        box.addStretch(1)
        return box

    def _build_social(self) -> QVBoxLayout:
        box = QVBoxLayout()
        box.setSpacing(2)
        box.addWidget(_caption(self.tr("Social influence")))
        self.reach_label = selectable("", "BigFigure")
        box.addWidget(self.reach_label)
        self.social_rows = QVBoxLayout()
        self.social_rows.setSpacing(1)
        box.addLayout(self.social_rows)
        box.addStretch(1)
        return box

    def set_card(self, card: CustomerCard, today: date | None = None) -> None:
        customer = card.customer
        today = today or date.today()
        self.avatar.set_person(customer.initials, customer.public_id)
        self.name_label.setText(customer.display_name)
        tier = customer.loyalty_tier
        self.tier_badge.setVisible(bool(tier))
        if tier:
            self.tier_badge.setText(tier.capitalize())
            self.tier_badge.setProperty("tone", tier.lower())
            self.tier_badge.style().unpolish(self.tier_badge)
            self.tier_badge.style().polish(self.tier_badge)
        self.vip_badge.setVisible(customer.vip)

        facts = [customer.public_id]
        if customer.city:
            facts.append(customer.city)
        if customer.birth_date:
            age = age_on(customer.birth_date, today)
            facts.append(self.tr("%1 years").replace("%1", str(age)))
        if customer.language:
            facts.append(customer.language.upper())
        if customer.loyalty_card:
            facts.append(self.tr("card %1").replace("%1", customer.loyalty_card))
        self.facts_label.setText("  ·  ".join(facts))

        clear_layout(self.sources_row)
        for source in sorted({p.source for p in card.sources}):
            badge = Badge(source_label(source), f"source-{source.lower()}")
            badge.setToolTip(self._source_tooltip(card, source))
            self.sources_row.addWidget(badge)
        self.sources_row.addStretch(1)

        self.value_label.setText(format_money(customer.lifetime_value))
        self.orders_label.setText(format_integer(customer.order_count))
        self.last_purchase_label.setText(format_date(customer.last_purchase_at) or "—")
        self.since_label.setText(format_date(customer.customer_since) or "—")

        self._set_social(card.social, customer.followers)
        self.set_related(card.related)
        self._set_banners(card)

    def _source_tooltip(self, card: CustomerCard, source: str) -> str:
        lines = [self.tr("Records in %1:").replace("%1", source_label(source))]
        for prov in card.sources:
            if prov.source == source:
                when = format_date(prov.updated_at)
                lines.append(f"  #{prov.source_id}" + (f"  ({when})" if when else ""))
        return "\n".join(lines)

    def _set_social(self, profiles: tuple[SocialProfile, ...], followers: int) -> None:
        clear_layout(self.social_rows)
        total = max(followers, sum(p.followers for p in profiles))
        if not profiles and not total:
            self.reach_label.setText("—")
            self.social_rows.addWidget(muted(self.tr("No social profile known")))
            return
        self.reach_label.setText(self.tr("%1 followers").replace("%1", format_count(total)))
        for profile in sorted(profiles, key=lambda p: -p.followers):
            line = QHBoxLayout()
            line.setSpacing(6)
            glyph = QLabel()
            glyph.setPixmap(channel_icon(profile.network).pixmap(QSize(13, 13)))
            line.addWidget(glyph)
            handle = selectable(profile.handle)
            handle.setToolTip(
                self.tr("%1 · from %2 #%3 · %4")
                .replace("%1", profile.network)
                .replace("%2", profile.provenance.source)
                .replace("%3", profile.provenance.source_id)
                .replace("%4", format_date(profile.provenance.updated_at))
            )
            line.addWidget(handle)
            line.addWidget(muted(format_count(profile.followers)))
            line.addStretch(1)
            self.social_rows.addLayout(line)

    def set_related(self, customers: tuple[RelatedCustomer, ...]) -> None:
        """A namesake not linked yet may hold this person's audience: say so, never add it in."""
        for related in customers:
            maybe_same = related.relation in ("same_name", "possible_duplicate")
            if maybe_same and related.followers > 0:
                hint = muted(
                    self.tr("Maybe also %1 followers: %2 (not linked yet)")
                    .replace("%1", format_count(related.followers))
                    .replace("%2", related.public_id)
                )
                hint.setObjectName("UnlinkedReach")
                hint.setWordWrap(True)
                hint.setToolTip(
                    self.tr(
                        "%1 (%2) may be the same person (not linked yet); see Related customers."
                    )
                    .replace("%1", related.name)
                    .replace("%2", related.public_id)
                )
                self.social_rows.addWidget(hint)
                return

    def _set_banners(self, card: CustomerCard) -> None:
        clear_layout(self.banners)
        if card.do_not_contact:
            self.banners.addWidget(
                Banner(
                    "fa5s.ban",
                    self.tr("DO NOT CONTACT"),
                    self.tr(
                        "This customer has withdrawn or refused every contact consent. "
                        "Answer their request; no marketing, no outbound calls."
                    ),
                    "danger",
                )
            )
        if card.pending_suggestions > 0:
            self.banners.addWidget(
                Banner(
                    "fa5s.clone",
                    self.tr("Possible duplicate"),
                    self.tr(
                        "%n record(s) may be the same person; a supervisor will review.",
                        "",
                        card.pending_suggestions,
                    ),
                    "warning",
                )
            )

    def add_alert(self, title: str, text: str, tone: str = "warning") -> None:
        """Slot for alerts and next-best actions computed elsewhere (rules)."""
        self.banners.addWidget(Banner("fa5s.bell", title, text, tone))

    @property
    def banner_count(self) -> int:
        return self.banners.count()


def _caption(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("Caption")
    return label


def _vline() -> QFrame:
    line = QFrame()
    line.setObjectName("VLine")
    line.setFrameShape(QFrame.Shape.VLine)
    return line
