"""Render the README's screenshots from the demo cache, offscreen, with the real window.

    python -m tests.gui.screenshots [--out resources/screenshots] [--cache PATH] [--size WxH]

Builds the default demo cache at ``--cache`` when it is missing (through the real ingest),
opens each card as an advisor would (search, then the card with its products and the newest
interaction selected) and saves ``window.grab()``: the rich card, the VIP, the influencer and
the dark theme. Not a test: pytest does not collect it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from customer_card.services.actions import ActionService
from customer_card.services.cards import CardService
from customer_card.services.demo import build_demo
from customer_card.services.search import SearchService
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.keys import KdfCost
from customer_card.ui.main_window import MainWindow
from customer_card.ui.theme import load_theme

PASSPHRASE = "demo"
# file name, search text, theme
SHOTS = (
    ("demo-card.png", "jocelyne michu", "light"),
    ("vip-card.png", "bernard lefebvre-dumas", "light"),
    ("influencer-card.png", "ines kaddour", "light"),
    ("dark-card.png", "jocelyne michu", "dark"),
)


def _wait(app: QApplication, signal: object, timeout_ms: int = 10_000) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)  # type: ignore[attr-defined]
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)  # type: ignore[attr-defined]


def _settle(app: QApplication, ms: int = 300) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("resources/screenshots"))
    parser.add_argument("--cache", type=Path, default=Path(".bench/screenshots-demo.db"))
    parser.add_argument("--size", default="1366x768")
    parser.add_argument("--suffix", default="", help="added to each file name (e.g. -1080p)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    new = not args.cache.exists()
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    opened = open_cache(
        args.cache, None, Unlock(passphrase=PASSPHRASE), create=new, kdf_cost=KdfCost.minimal()
    )
    database = opened.database
    if new:
        build_demo(database)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    search, cards = SearchService(database), CardService(database)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        for name, query, theme in SHOTS:
            load_theme(app, theme)
            window = MainWindow(search, cards, ActionService(database), user="advisor")
            window.resize(width, height)
            window.show()
            (hit, *_) = search.search(query, limit=1)
            window.cards.open(hit.customer_id)
            _wait(app, window.cards.related_shown)
            _wait(app, window.cards.lines_shown, 1000)  # the newest order's lines, if any
            _settle(app)
            stem, dot, ext = name.rpartition(".")
            target = args.out / f"{stem}{args.suffix}{dot}{ext}"
            window.grab().save(str(target))
            sys.stdout.write(f"saved {target}\n")
            window.close()
            window.deleteLater()
            _settle(app, 50)
    finally:
        database.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
