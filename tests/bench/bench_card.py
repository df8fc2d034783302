"""Card window benchmark: measured inside the real widgets (offscreen), over a cache built once.

    python tests/bench/bench_card.py --customers 1000000

Reuses ``.bench/card-1m.db`` (``card-<N>``, passphrase "benchmark"), built once by the bulk
builder (``_bulk_card_cache.py``: the demo generator's people written straight into the cache,
linked by the generator's ground truth; about 10 interactions per person, one customer with
20,000). ``--ingest`` uses ``.bench/cache-N.db`` built through the real ingest path instead (as
``bench_cache.py`` does: hours at a million). Prints one JSON line:

- ``typeahead_ms``: from the last keystroke of a query (the rest typed before) to the results
  model filled, p50/p95, per kind of query (typo'd names, phone fragments, e-mails);
- ``card_open_ms``: from choosing a result to the card shown (widgets filled and laid out) and
  the first timeline page in the model, p50/p95, over random customers and, separately, the
  customer with 20,000 interactions; ``painted_ms`` the same up to the window painted with it
  (the next turn of the event loop);
- ``timeline_page_ms``: one more page of that customer's history (scrolling), and a free-text
  search in it;
- ``cold_start_s``: process start to a usable window (cache open, window shown, search field
  focused), measured in fresh processes;
- ``peak_rss_mb`` while browsing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

START = time.perf_counter()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PASSPHRASE = "benchmark"

# PySide6 6.12.0 on Python 3.11 drops a reference to None on every call of a void method
# (None is immortal only from 3.12), so a long run aborts with "deallocating None". Until the
# dependency is pinned below 6.12, top None's count up while waiting (8 bytes per reference,
# subtracted from the RSS reported).
_NONE_PINS: list[None] = []


def _keep_none_alive() -> None:
    if sys.version_info < (3, 12) and sys.getrefcount(None) < 200_000:
        _NONE_PINS.extend([None] * 500_000)


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1), "n": len(values)}


def _open(path: Path, customers: int, seed: int, ingest: bool) -> object:
    if not ingest:
        from tests.bench._bulk_card_cache import ensure

        return ensure(path, customers, seed)
    from customer_card.services.demo import build_demo
    from customer_card.store.cache import Unlock, open_cache

    opened = open_cache(path, None, Unlock(passphrase=PASSPHRASE), create=True)
    if opened.created:
        print(f"building {path} ({customers} customers); this takes a while…", file=sys.stderr)
        build_demo(opened.database, customers=customers, seed=seed)
    return opened.database


def cold_start(path: Path) -> None:
    """Child process: open the cache and show a usable window; print seconds since start."""
    from PySide6.QtWidgets import QApplication

    from customer_card.services.actions import ActionService
    from customer_card.services.cards import CardService
    from customer_card.services.search import SearchService
    from customer_card.store.cache import Unlock, open_cache
    from customer_card.ui.main_window import MainWindow
    from customer_card.ui.theme import load_theme

    _keep_none_alive()
    app = QApplication([])
    database = open_cache(path, None, Unlock(passphrase=PASSPHRASE)).database
    load_theme(app, "light")
    window = MainWindow(
        SearchService(database), CardService(database), ActionService(database), "bench"
    )
    window.resize(1366, 768)
    window.show()
    window.search_bar.field.setFocus()
    app.processEvents()
    assert window.isVisible()
    print(time.perf_counter() - START)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="people generated")
    parser.add_argument("--ingest", action="store_true", help="build through the real ingest")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--heavy-opens", type=int, default=30)
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--cold-start-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.db:
        path = args.db
    elif args.ingest:
        path = Path(".bench") / f"cache-{args.customers}.db"
    else:
        from tests.bench._bulk_card_cache import default_path

        path = default_path(args.customers)
    if args.cold_start_child:
        cold_start(path)
        return 0

    from PySide6.QtCore import QCoreApplication, QEvent, QModelIndex, Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QWidget
    from sqlalchemy import func, select

    from customer_card.domain.model import TimelineFilter
    from customer_card.services.actions import ActionService
    from customer_card.services.cards import CardService
    from customer_card.services.search import SearchService
    from customer_card.store import models as m
    from customer_card.ui.main_window import MainWindow
    from customer_card.ui.theme import load_theme
    from tests.bench.bench_cache import sample_queries

    database = _open(path, args.customers, args.seed, args.ingest)
    app = QApplication([])
    load_theme(app, "light")
    search = SearchService(database)  # type: ignore[arg-type]
    cards = CardService(database)  # type: ignore[arg-type]
    window = MainWindow(search, cards, ActionService(database), "bench")  # type: ignore[arg-type]
    window.resize(1366, 768)
    window.show()
    app.processEvents()
    search.search("warm up")  # the vocabulary, loaded once as at start

    def press(widget: QWidget, char: str) -> None:
        """One keystroke that types ``char`` (QTest only types ASCII)."""
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.sendEvent(widget, QKeyEvent(kind, 0, Qt.KeyboardModifier.NoModifier, char))

    def wait(done: Callable[[], bool], timeout_s: float = 10.0) -> None:
        deadline = time.perf_counter() + timeout_s
        _keep_none_alive()
        while not done():
            if time.perf_counter() > deadline:
                raise TimeoutError("the window did not answer")
            QCoreApplication.processEvents()
            time.sleep(0.0002)

    figures: dict[str, object] = {"customers": args.customers, "cache": str(path)}
    rng = random.Random(args.seed)
    field = window.search_bar.field
    model = window.search_results_model
    typing: dict[str, list[float]] = {}
    for kind, query in sample_queries(database, rng, args.queries):  # type: ignore[arg-type]
        field.clear()
        window.search.hide_results()
        for char in query[:-1]:
            press(field, char)
        wait(lambda: not window.search.busy)
        wanted = query.strip()
        t0 = time.perf_counter()
        press(field, query[-1])
        wait(lambda wanted=wanted: model.query == wanted and not window.search.busy)
        typing.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
    every = [v for values in typing.values() for v in values]
    figures["typeahead_ms"] = {"all": _percentiles(every)} | {
        kind: _percentiles(values) for kind, values in typing.items()
    }

    shown: list[tuple[int, float]] = []
    window.card_shown.connect(lambda cid: shown.append((cid, time.perf_counter())))

    painted: list[float] = []

    def open_card(customer_id: int) -> float:
        shown.clear()
        t0 = time.perf_counter()
        window.search.customer_chosen.emit(customer_id)  # what choosing a result does
        wait(lambda: bool(shown))
        assert window.timeline_model.rowCount() > 0 or window.card_view.card is not None
        QCoreApplication.processEvents()  # the paint Qt posted for the new card
        painted.append((time.perf_counter() - t0) * 1000)
        return (shown[-1][1] - t0) * 1000

    with database.read() as session:  # type: ignore[attr-defined]
        top = session.execute(select(func.max(m.Customer.id))).scalar_one()
        active = set(
            session.execute(
                select(m.Customer.id)
                .where(m.Customer.id.in_([rng.randint(1, top) for _ in range(args.cards * 3)]))
                .where(m.Customer.status == "active")
            ).scalars()
        )
        heavy, heavy_count = session.execute(
            select(m.Interaction.customer_id, func.count())
            .where(m.Interaction.customer_id.in_(range(1, 50)))
            .group_by(m.Interaction.customer_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
    print(f"type-ahead done: {figures['typeahead_ms']}", file=sys.stderr)
    sample = sorted(active)[: args.cards]
    rng.shuffle(sample)
    opens = [open_card(customer_id) for customer_id in sample]
    figures["card_open_ms"] = _percentiles(opens)
    figures["card_painted_ms"] = _percentiles(painted)
    heavy_opens, heavy_painted = [], []
    for _ in range(args.heavy_opens):
        open_card(sample[0])  # away, then back: no cached answer
        heavy_opens.append(open_card(heavy))
        heavy_painted.append(painted[-1])
    figures["heavy_card"] = {
        "interactions": heavy_count,
        "open_ms": _percentiles(heavy_opens),
        "painted_ms": _percentiles(heavy_painted),
    }

    timeline = window.timeline_model
    pages = []
    for _ in range(10):
        t0 = time.perf_counter()
        timeline.fetchMore(QModelIndex())
        pages.append((time.perf_counter() - t0) * 1000)
    text = []
    for word in ("livraison", "magasin", "zzqxw"):
        t0 = time.perf_counter()
        timeline.set_filter(TimelineFilter(text=word))
        text.append((time.perf_counter() - t0) * 1000)
    figures["timeline_page_ms"] = _percentiles(pages)
    figures["timeline_text_search_ms"] = _percentiles(text)
    table = window.card_view.timeline.table
    table.scrollToBottom()
    QTest.keyClick(table, Qt.Key.Key_End)
    app.processEvents()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - 8 * len(_NONE_PINS)
    figures["peak_rss_mb"] = round(peak / 1e6, 1)

    print(f"cards done: {figures}", file=sys.stderr)
    starts = []
    for _ in range(args.cold_starts):
        out = subprocess.run(
            [sys.executable, __file__, "--db", str(path), "--cold-start-child"],
            capture_output=True,
            text=True,
            check=True,
            env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
        )
        starts.append(float(out.stdout.strip().splitlines()[-1]))
    figures["cold_start_s"] = {
        "median": round(statistics.median(starts), 2),
        "max": round(max(starts), 2),
    }
    window.close()
    database.dispose()  # type: ignore[attr-defined]
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
