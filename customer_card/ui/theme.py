"""Themes: a Fusion palette plus a .qss file from resources/themes/.

The theme chosen in the window (View ▸ Theme) is remembered in the profile's per-user
settings (``settings.ini`` in the config directory); ``CUSTOMER_CARD_THEME`` still wins at
start-up when set.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from customer_card import paths

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
THEMES = RESOURCES / "themes"

_PALETTES = {
    "light": {
        QPalette.ColorRole.Window: "#f4f6f9",
        QPalette.ColorRole.WindowText: "#1e293b",
        QPalette.ColorRole.Base: "#ffffff",
        QPalette.ColorRole.AlternateBase: "#f8fafc",
        QPalette.ColorRole.Text: "#1e293b",
        QPalette.ColorRole.Button: "#ffffff",
        QPalette.ColorRole.ButtonText: "#1e293b",
        QPalette.ColorRole.Highlight: "#2563eb",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#1e293b",
        QPalette.ColorRole.ToolTipText: "#f8fafc",
        QPalette.ColorRole.PlaceholderText: "#94a3b8",
        QPalette.ColorRole.Link: "#2563eb",
    },
    "dark": {
        QPalette.ColorRole.Window: "#0f172a",
        QPalette.ColorRole.WindowText: "#e2e8f0",
        QPalette.ColorRole.Base: "#1e293b",
        QPalette.ColorRole.AlternateBase: "#223047",
        QPalette.ColorRole.Text: "#e2e8f0",
        QPalette.ColorRole.Button: "#1e293b",
        QPalette.ColorRole.ButtonText: "#e2e8f0",
        QPalette.ColorRole.Highlight: "#3b82f6",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#e2e8f0",
        QPalette.ColorRole.ToolTipText: "#0f172a",
        QPalette.ColorRole.PlaceholderText: "#64748b",
        QPalette.ColorRole.Link: "#60a5fa",
    },
}


THEME_ENV = "CUSTOMER_CARD_THEME"


THEME_KEY = "view/theme"


def settings() -> QSettings:
    """The per-user settings of the profile (an ini file in its config directory)."""
    return QSettings(str(paths.config_dir() / "settings.ini"), QSettings.Format.IniFormat)


def saved_theme() -> str | None:
    """The theme last chosen in the window, if it still exists."""
    value = settings().value(THEME_KEY)
    return value if isinstance(value, str) and value in available_themes() else None


def save_theme(name: str) -> None:
    store = settings()
    store.setValue(THEME_KEY, name)
    store.sync()
    if store.status() != QSettings.Status.NoError:
        log.warning("could not save the theme in %s", store.fileName())


def theme_name() -> str:
    """The theme asked for in ``CUSTOMER_CARD_THEME`` (light or dark), else the one chosen
    last in the window, else light."""
    wanted = os.environ.get(THEME_ENV, "").strip().lower()
    if wanted in available_themes():
        return wanted
    return saved_theme() or "light"


def current_theme(app: QApplication) -> str:
    name = app.property("theme")
    return name if isinstance(name, str) else "light"


def available_themes() -> list[str]:
    return sorted(p.stem for p in THEMES.glob("*.qss"))


def theme_path(name: str) -> Path:
    path = THEMES / f"{name}.qss"
    if not path.is_file():
        raise FileNotFoundError(f"no theme named {name!r} in {THEMES}")
    return path


def load_theme(app: QApplication, name: str = "light", point_size: float = 10.0) -> None:
    """Apply the palette and style sheet named ``name`` ("light" or "dark") to ``app``."""
    qss = theme_path(name).read_text(encoding="utf-8")
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in _PALETTES.get(name, _PALETTES["light"]).items():
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSizeF(point_size)
    app.setFont(font)
    app.setStyleSheet(qss)
    app.setProperty("theme", name)
    log.debug("theme %s loaded from %s", name, THEMES)
