"""Paints one search result on two lines: what tells namesakes apart, at a glance."""

from __future__ import annotations

import hashlib

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from customer_card.domain.model import SearchHit
from customer_card.ui.formatting import format_date
from customer_card.ui.icons import SOURCE_COLOURS, source_colour, tier_colours
from customer_card.ui.labels import source_label
from customer_card.ui.search_model import SearchRole

_AVATAR = ("#2563eb", "#0891b2", "#059669", "#7c3aed", "#db2777", "#ea580c", "#4f46e5")
ROW_HEIGHT = 54


class SearchHitDelegate(QStyledItemDelegate):
    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(option.rect.width(), ROW_HEIGHT)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        hit = index.data(SearchRole.HIT)
        if not isinstance(hit, SearchHit):
            super().paint(painter, option, index)
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = option.rect
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        if selected or hovered:
            tint = QColor(palette.color(QPalette.ColorRole.Highlight))
            tint.setAlpha(46 if selected else 20)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(tint)
            painter.drawRoundedRect(rect.adjusted(4, 2, -4, -2), 6, 6)
        if selected:
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(
                QRect(rect.left() + 4, rect.top() + 8, 3, rect.height() - 16), 1, 1
            )

        self._paint_avatar(painter, QRect(rect.left() + 14, rect.center().y() - 16, 32, 32), hit)
        left = rect.left() + 58
        right = rect.right() - 14
        text_colour = palette.color(QPalette.ColorRole.Text)
        muted_colour = QColor(text_colour)
        muted_colour.setAlpha(150)

        base = QFont(option.font)
        bold = QFont(base)
        bold.setBold(True)
        small = QFont(base)
        if base.pointSizeF() > 0:
            small.setPointSizeF(max(7.5, base.pointSizeF() - 1.5))
        top_y = rect.top() + 8
        painter.setFont(bold)
        bold_metrics = painter.fontMetrics()
        line_h = bold_metrics.height()

        # right column: last contact, then source badges
        painter.setFont(small)
        painter.setPen(muted_colour)
        contact = format_date(hit.last_contact_at)
        contact_text = self.tr("last contact %1").replace("%1", contact) if contact else ""
        contact_w = painter.fontMetrics().horizontalAdvance(contact_text)
        painter.drawText(
            QRect(right - contact_w, top_y, contact_w, line_h),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            contact_text,
        )
        badges_left = self._paint_sources(painter, small, right, top_y + line_h + 3, hit.sources)

        # line 1: name, tier, VIP
        painter.setFont(bold)
        painter.setPen(text_colour)
        name_w = min(bold_metrics.horizontalAdvance(hit.name) + 2, right - contact_w - left - 160)
        elided = bold_metrics.elidedText(hit.name, Qt.TextElideMode.ElideRight, name_w)
        painter.drawText(
            QRect(left, top_y, name_w + 2, line_h), Qt.AlignmentFlag.AlignVCenter, elided
        )
        x = left + name_w + 10
        if hit.loyalty_tier:
            fg, bg = tier_colours(hit.loyalty_tier)
            x = _pill(painter, small, x, top_y, line_h, hit.loyalty_tier.capitalize(), fg, bg)
        if hit.vip:
            _pill(
                painter,
                small,
                x,
                top_y,
                line_h,
                self.tr("★ VIP"),
                QColor("#ffffff"),
                QColor("#b45309"),
            )

        # line 2: city · born · public id · matched
        facts = [hit.city or self.tr("city unknown")]
        if hit.birth_year:
            facts.append(self.tr("born %1").replace("%1", str(hit.birth_year)))
        facts.append(hit.public_id)
        if hit.matched:
            facts.append(self.tr("matched %1").replace("%1", hit.matched))
        painter.setFont(base)
        painter.setPen(muted_colour)
        second = QRect(left, top_y + line_h + 3, badges_left - left - 10, line_h)
        text = painter.fontMetrics().elidedText(
            "  ·  ".join(facts), Qt.TextElideMode.ElideRight, second.width()
        )
        painter.drawText(second, Qt.AlignmentFlag.AlignVCenter, text)
        painter.restore()

    def _paint_avatar(self, painter: QPainter, rect: QRect, hit: SearchHit) -> None:
        seed = hashlib.sha1(hit.public_id.encode()).digest()[0]
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(_AVATAR[seed % len(_AVATAR)]))
        painter.drawEllipse(rect)
        font = QFont(painter.font())
        font.setBold(True)
        font.setPixelSize(13)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        initials = "".join(part[0] for part in hit.name.split()[:2]).upper() or "?"
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, initials)

    def _paint_sources(
        self, painter: QPainter, font: QFont, right: int, y: int, sources: tuple[str, ...]
    ) -> int:
        painter.setFont(font)
        metrics = painter.fontMetrics()
        height = metrics.height() + 2
        x = right
        order = list(SOURCE_COLOURS)
        ranked = sorted(sources, key=lambda s: order.index(s) if s in order else len(order))
        for source in reversed(ranked):  # laid out right to left
            label = source_label(source)
            width = metrics.horizontalAdvance(label) + 12
            x -= width
            colour = source_colour(source)
            bg = QColor(colour)
            bg.setAlpha(28)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(bg)
            painter.drawRoundedRect(QRect(x, y, width, height), 4, 4)
            painter.setFont(font)
            painter.setPen(colour)
            painter.drawText(QRect(x, y, width, height), Qt.AlignmentFlag.AlignCenter, label)
            x -= 4
        return x


def _pill(
    painter: QPainter, font: QFont, x: int, y: int, line_h: int, text: str, fg: QColor, bg: QColor
) -> int:
    painter.setFont(font)
    metrics = painter.fontMetrics()
    width = metrics.horizontalAdvance(text) + 14
    height = metrics.height() + 2
    top = y + (line_h - height) // 2
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(bg)
    painter.drawRoundedRect(QRect(x, top, width, height), height / 2, height / 2)
    painter.setFont(font)
    painter.setPen(fg)
    painter.drawText(QRect(x, top, width, height), Qt.AlignmentFlag.AlignCenter, text)
    return x + width + 6
