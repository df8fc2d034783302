"""The top of the card: who, how valuable, how influential, and what must not be missed."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from customer_card.domain.model import (
    CustomerCard,
    CustomerStatus,
    RelatedCustomer,
    SocialProfile,
)
from customer_card.ui.formatting import (
    age_on,
    format_count,
    format_date,
    format_integer,
    format_money,
)
from customer_card.ui.icons import channel_icon, icon
from customer_card.ui.labels import source_label
from customer_card.ui.widgets import (
    Avatar,
    Badge,
    BadgeRow,
    RowPool,
    muted,
    selectable,
    set_tone,
)


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
        self.body = QLabel(text)
        self.body.setObjectName("BannerText")
        self.body.setWordWrap(True)
        layout.addWidget(self.body, 1)


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
        self.do_not_contact_banner = Banner(
            "fa5s.ban",
            self.tr("DO NOT CONTACT"),
            self.tr(
                "This customer has withdrawn or refused every contact consent. "
                "Answer their request; no marketing, no outbound calls."
            ),
            "danger",
        )
        self.duplicate_banner = Banner("fa5s.clone", self.tr("Possible duplicate"), "", "warning")
        self.deleted_banner = Banner(
            "fa5s.trash-alt",
            self.tr("Deleted at its sources"),
            self.tr(
                "Every system this customer came from has deleted their record. The history "
                "stays here for reference; search no longer finds this card."
            ),
            "warning",
        )
        for banner in (self.deleted_banner, self.do_not_contact_banner, self.duplicate_banner):
            banner.hide()
            self.banners.addWidget(banner)
        self._alerts: list[Banner] = []

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
        self.sources_row = BadgeRow(small=False)
        box.addWidget(self.sources_row)
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
        self._profiles = RowPool(self.social_rows, _ProfileRow)
        self.no_social_label = muted(self.tr("No social profile known"))
        self.social_rows.addWidget(self.no_social_label)
        self.unlinked_reach = muted("")
        self.unlinked_reach.setObjectName("UnlinkedReach")
        self.unlinked_reach.setWordWrap(True)
        self.unlinked_reach.hide()
        self.social_rows.addWidget(self.unlinked_reach)
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
            set_tone(self.tier_badge, tier.lower())
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

        self.sources_row.set_badges(
            [
                (
                    source_label(source),
                    f"source-{source.lower()}",
                    self._source_tooltip(card, source),
                )
                for source in sorted({p.source for p in card.sources})
            ]
        )

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
        total = max(followers, sum(p.followers for p in profiles))
        nothing = not profiles and not total
        self.no_social_label.setVisible(nothing)
        ordered = sorted(profiles, key=lambda p: -p.followers)
        self._profiles.fill(ordered, _ProfileRow.set_profile)
        if nothing:
            self.reach_label.setText("—")
        else:
            self.reach_label.setText(self.tr("%1 followers").replace("%1", format_count(total)))

    def set_related(self, customers: tuple[RelatedCustomer, ...]) -> None:
        """A namesake not linked yet may hold this person's audience: say so, never add it in."""
        for related in customers:
            maybe_same = related.relation in ("same_name", "possible_duplicate")
            if maybe_same and related.followers > 0:
                self.unlinked_reach.setText(
                    self.tr("Maybe also %1 followers: %2 (not linked yet)")
                    .replace("%1", format_count(related.followers))
                    .replace("%2", related.public_id)
                )
                self.unlinked_reach.setToolTip(
                    self.tr(
                        "%1 (%2) may be the same person (not linked yet); see Related customers."
                    )
                    .replace("%1", related.name)
                    .replace("%2", related.public_id)
                )
                self.unlinked_reach.show()
                return
        self.unlinked_reach.hide()

    def _set_banners(self, card: CustomerCard) -> None:
        for alert in self._alerts:
            alert.hide()
            alert.deleteLater()
        self._alerts = []
        self.deleted_banner.setVisible(card.customer.status == CustomerStatus.DELETED)
        self.do_not_contact_banner.setVisible(card.do_not_contact)
        if card.pending_suggestions > 0:
            self.duplicate_banner.body.setText(
                self.tr(
                    "%n record(s) may be the same person; a supervisor will review.",
                    "",
                    card.pending_suggestions,
                )
            )
        self.duplicate_banner.setVisible(card.pending_suggestions > 0)

    def add_alert(self, title: str, text: str, tone: str = "warning") -> None:
        """Slot for alerts and next-best actions computed elsewhere (rules); cleared by the
        next card."""
        alert = Banner("fa5s.bell", title, text, tone)
        self._alerts.append(alert)
        self.banners.addWidget(alert)
        alert.show()

    def visible_banners(self) -> list[Banner]:
        """The banners this card shows, top first."""
        return [
            banner
            for banner in (
                self.deleted_banner,
                self.do_not_contact_banner,
                self.duplicate_banner,
                *self._alerts,
            )
            if not banner.isHidden()
        ]

    @property
    def banner_count(self) -> int:
        return len(self.visible_banners())


def _caption(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("Caption")
    return label


def _vline() -> QFrame:
    line = QFrame()
    line.setObjectName("VLine")
    line.setFrameShape(QFrame.Shape.VLine)
    return line


class _ProfileRow(QWidget):
    """One social profile under the reach figure: network icon, handle, followers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        line = QHBoxLayout(self)
        line.setContentsMargins(0, 0, 0, 0)
        line.setSpacing(6)
        self.glyph = QLabel()
        line.addWidget(self.glyph)
        self.handle = selectable("")
        line.addWidget(self.handle)
        self.followers = muted("")
        line.addWidget(self.followers)
        line.addStretch(1)

    def set_profile(self, profile: SocialProfile) -> None:
        self.glyph.setPixmap(channel_icon(profile.network).pixmap(QSize(13, 13)))
        self.handle.setText(profile.handle)
        self.handle.setToolTip(
            self.tr("%1 · from %2 #%3 · %4")
            .replace("%1", profile.network)
            .replace("%2", profile.provenance.source)
            .replace("%3", profile.provenance.source_id)
            .replace("%4", format_date(profile.provenance.updated_at))
        )
        self.followers.setText(format_count(profile.followers))
