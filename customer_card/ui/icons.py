"""Icons and colours keyed by the data's vocabularies (channels, sources, contact kinds)."""

from __future__ import annotations

from functools import cache
from typing import Any

import qtawesome as qta
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QIcon

ACCENT = "#2563eb"
MUTED = "#64748b"

_CHANNEL_ICONS = {
    "phone": "fa5s.phone",
    "call": "fa5s.phone",
    "email": "fa5s.envelope",
    "mail": "fa5s.envelope",
    "sms": "fa5s.sms",
    "chat": "fa5s.comments",
    "store": "fa5s.store",
    "shop": "fa5s.store",
    "eshop": "fa5s.shopping-cart",
    "web": "fa5s.shopping-cart",
    "order": "fa5s.shopping-cart",
    "support": "fa5s.ticket-alt",
    "ticket": "fa5s.ticket-alt",
    "social": "fa5s.hashtag",
    "twitter": "fa5b.twitter",
    "x": "fa5b.twitter",
    "instagram": "fa5b.instagram",
    "facebook": "fa5b.facebook",
    "tiktok": "fa5b.tiktok",
    "loyalty": "fa5s.gift",
    "crm": "fa5s.address-book",
    "note": "fa5s.sticky-note",
}

_CONTACT_ICONS = {
    "email": "fa5s.envelope",
    "phone": "fa5s.phone",
    "address": "fa5s.map-marker-alt",
    "social": "fa5s.hashtag",
}

# One calm hue per source system, used for the small source badges.
SOURCE_COLOURS = {
    "crm": "#4f46e5",
    "eshop": "#0891b2",
    "loyalty": "#c2410c",
    "support": "#7c3aed",
    "social": "#db2777",
    "store": "#059669",
}

TIER_COLOURS = {
    "platinum": ("#334155", "#e2e8f0"),
    "gold": ("#854d0e", "#fef3c7"),
    "silver": ("#475569", "#f1f5f9"),
    "bronze": ("#9a3412", "#ffedd5"),
}


def source_colour(source: str) -> QColor:
    return QColor(SOURCE_COLOURS.get(source.lower(), MUTED))


def tier_colours(tier: str | None) -> tuple[QColor, QColor]:
    """(text, background) for a loyalty tier badge."""
    fg, bg = TIER_COLOURS.get((tier or "").lower(), ("#1e40af", "#dbeafe"))
    return QColor(fg), QColor(bg)


_PIXMAP_SIZES = (12, 13, 16, 18, 20, 24, 32, 48, 64)
_PREFIXES = ("fa5s", "fa5b")  # the only icon fonts the app uses


@cache
def _fonts() -> Any:
    """The Font Awesome 5 fonts alone: qtawesome's default loads (and checksums) its dozen
    bundled fonts on first use, a tenth of a second of every start. Falls back to it if its
    font table changes shape."""
    try:
        from qtawesome.iconic_font import IconicFont  # type: ignore[import-untyped]

        wanted = [f for f in qta._BUNDLED_FONTS if f[0] in _PREFIXES]
        if len(wanted) == len(_PREFIXES):
            return IconicFont(*wanted)
    except (AttributeError, ImportError, TypeError):
        pass
    return qta


@cache
def icon(name: str, colour: str = MUTED) -> QIcon:
    """A font icon rendered once into pixmaps.

    qtawesome's live icon engine paints into whatever size a style asks for, and item views
    under a style sheet sometimes ask for an empty one (a Qt warning); a pixmap icon simply
    scales.
    """
    live = _fonts().icon(name, color=colour)
    fixed = QIcon()
    for size in _PIXMAP_SIZES:
        fixed.addPixmap(live.pixmap(QSize(size, size)))
    return fixed


def channel_icon_name(channel: str) -> str:
    return _CHANNEL_ICONS.get(channel.lower(), "fa5s.circle")


def channel_icon(channel: str, colour: str = MUTED) -> QIcon:
    return icon(channel_icon_name(channel), colour)


def contact_icon(kind: str) -> QIcon:
    return icon(_CONTACT_ICONS.get(kind.lower(), "fa5s.circle"))
