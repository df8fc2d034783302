"""The main window: a search bar on top, then the welcome page or one customer's card."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from customer_card.domain.model import CustomerCard, SearchHit
from customer_card.ui.actions_controller import ActionsController
from customer_card.ui.card_controller import CardController
from customer_card.ui.card_view import CardView
from customer_card.ui.icons import icon
from customer_card.ui.ports import ActionPort, CardPort, SearchPort
from customer_card.ui.search_bar import ResultsPopup, SearchBar
from customer_card.ui.search_controller import SearchController
from customer_card.ui.search_model import SearchResultsModel
from customer_card.ui.sync_controller import SyncController, SyncPort
from customer_card.ui.sync_views import SyncStatusBar
from customer_card.ui.theme import current_theme, load_theme, save_theme
from customer_card.ui.timeline_model import TimelineModel
from customer_card.ui.widgets import muted


class _MessagePage(QWidget):
    """A calm centred message: the welcome page, "not found", a failed load."""

    def __init__(self, icon_name: str, title: str, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("MessagePage")
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        glyph = QLabel()
        glyph.setPixmap(icon(icon_name, "#94a3b8").pixmap(QSize(48, 48)))
        glyph.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(glyph)
        self.title = QLabel(title)
        self.title.setObjectName("MessageTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.title)
        self.text = muted(text)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        layout.addStretch(3)

    def set_message(self, title: str, text: str) -> None:
        self.title.setText(title)
        self.text.setText(text)


MAX_RECENT = 12


class MainWindow(QMainWindow):
    card_shown = Signal(int)  # customer id on screen
    search_results_shown = Signal(str, int)  # query, hits
    action_saved = Signal(int, str)  # customer id, message
    action_failed = Signal(str)

    def __init__(
        self,
        search: SearchPort,
        cards: CardPort,
        actions: ActionPort | None = None,
        user: str = "",
        parent: QWidget | None = None,
        *,
        sync: SyncPort | None = None,
    ):
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self._app_title = self.tr("Customer Card")
        self.setWindowTitle(self._app_title)
        self.setMinimumSize(1024, 640)
        self._cards = cards
        self._recent: list[SearchHit] = []
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)

        central = QWidget()
        central.setObjectName("Central")
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.search_bar = SearchBar()
        layout.addWidget(self.search_bar)
        self.pages = QStackedWidget()
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.welcome = _MessagePage(
            "fa5s.search",
            self.tr("Find a customer"),
            self.tr(
                "Type a name (typos are fine), a phone number or part of it, an e-mail, "
                "a loyalty card number, a @handle, a customer id or a city.\n"
                "↑ ↓ to move · Enter to open · Esc to clear · Ctrl+K to come back here"
            ),
        )
        self.message = _MessagePage("fa5s.user-slash", "", "")
        self.card_view = CardView()
        for page in (self.welcome, self.card_view, self.message):
            self.pages.addWidget(page)

        self.results_popup = ResultsPopup(central)
        self.search = SearchController(
            search, self.search_bar, self.results_popup, self._pool, self
        )
        self.cards = CardController(cards, self.card_view, self._pool, parent=self)

        # No callable bound to the window here: a Python reference cycle through the window
        # could be collected on a worker thread, deleting widgets off the GUI thread.
        cards_, pages, view = self.cards, self.pages, self.card_view
        self.card_actions = ActionsController(
            actions,
            user,
            lambda: cards_.card if pages.currentWidget() is view else None,
            self,
            self._pool,
            self,
        )
        self.card_view.set_editable(self.card_actions.enabled)
        self.search.recent_wanted.connect(self.show_recent)

        self.search.customer_chosen.connect(self.cards.open)
        self.search.results_shown.connect(self.search_results_shown)
        self.card_view.customer_requested.connect(self.cards.open)
        self.card_view.note_requested.connect(self.card_actions.add_note)
        self.card_view.call_requested.connect(self.card_actions.log_call)
        self.card_view.correct_requested.connect(self.card_actions.correct_contact)
        self.card_actions.saved.connect(self._on_action_saved)
        self.card_actions.failed.connect(self._on_action_failed)
        self.cards.card_shown.connect(self._on_card_shown)
        self.cards.card_missing.connect(self._on_card_missing)
        self.cards.load_failed.connect(self._on_load_failed)
        self.cards.loading.connect(self._on_loading)
        self.card_view.copied.connect(self._on_copied)

        for sequence in (QKeySequence("Ctrl+K"), QKeySequence(QKeySequence.StandardKey.Find)):
            shortcut = QShortcut(sequence, self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(self.focus_search)
        for keys, slot in (
            ("Ctrl+N", self.card_actions.add_note),
            ("Ctrl+L", self.card_actions.log_call),
            ("Ctrl+R", self.show_recent),
            ("Ctrl+E", self.show_recent),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)
        self._build_menu()
        self.statusBar().setSizeGripEnabled(False)
        # Syncs on a worker, their state at the right of the status bar (Ctrl+Shift+S).
        self.sync_controller: SyncController | None = None
        self.sync_bar: SyncStatusBar | None = None
        self._card_loading = False
        self._stale_card: int | None = None  # changed by a sync while a card was loading
        if sync is not None:
            self.sync_controller = SyncController(sync, self._pool, self)
            self.sync_bar = SyncStatusBar(self.sync_controller, self)
            self.statusBar().addPermanentWidget(self.sync_bar)
            self.addAction(self.sync_bar.sync_action)
            self.sync_controller.customer_changed.connect(self._on_customer_synced)
            self.sync_controller.refresh_status()
        self.search_bar.field.setFocus(Qt.FocusReason.OtherFocusReason)

    def _build_menu(self) -> None:
        """View ▸ Theme: light or dark, applied at once and remembered for the next launch."""
        view_menu = self.menuBar().addMenu(self.tr("&View"))
        theme_menu = view_menu.addMenu(self.tr("&Theme"))
        group = QActionGroup(self)
        group.setExclusive(True)
        self.theme_actions: dict[str, QAction] = {}
        app = QApplication.instance()
        shown = current_theme(app) if isinstance(app, QApplication) else "light"
        for name, text in (("light", self.tr("&Light")), ("dark", self.tr("&Dark"))):
            action = theme_menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(name == shown)
            action.setData(name)
            group.addAction(action)
            action.triggered.connect(lambda _checked=False, name=name: self.set_theme(name))
            self.theme_actions[name] = action

    def set_theme(self, name: str) -> None:
        """Switch the whole application to theme ``name`` now, and remember it."""
        app = QApplication.instance()
        if not isinstance(app, QApplication):
            return
        load_theme(app, name, app.font().pointSizeF())
        save_theme(name)
        self.theme_actions[name].setChecked(True)
        self.statusBar().showMessage(self.tr("Theme changed; it will be kept."), 3000)

    # -- what the application (and a second launch) asks for ---------------------------

    def show_customer(self, customer_id: int) -> bool:
        """Show this customer's card now; False (and a message) when there is none."""
        self.search.cancel()
        return self.cards.show_now(customer_id)

    def show_public_id(self, public_id: str) -> bool:
        card = self._cards.load_by_public_id(public_id)
        if card is None:
            self._on_card_missing(None, public_id)
            return False
        return self.show_customer(card.customer.id)

    def show_search(self, text: str) -> None:
        """Put ``text`` in the search field and list its results."""
        self.focus_search()
        self.search.search_now(text)

    def show_unknown_caller(self, value: str, key: str = "phone") -> None:
        """Nobody in the cache has this number (e-mail, card): say so, and leave the value in
        the search field, selected, so the advisor can search by name instead."""
        self.search.cancel()
        self.cards.clear()
        titles = {
            "phone": self.tr("Unknown caller"),
            "email": self.tr("Unknown e-mail address"),
            "card": self.tr("Unknown card"),
        }
        self.message.set_message(
            titles.get(key, self.tr("Unknown customer")),
            self.tr(
                "No customer in this cache has %1.\n"
                "Ask for their name, e-mail or loyalty card and search; Esc clears the field."
            ).replace("%1", value),
        )
        self.pages.setCurrentWidget(self.message)
        self.setWindowTitle(self._title(titles.get(key, "")))
        self.search_bar.set_text(value)
        self.focus_search()

    def handle_request(self, request: dict[str, Any]) -> None:
        """A hand-off from a second launch: {"customer_id"}, {"public_id"}, {"search"} (several
        match: a short list) or {"unknown", "key"} (nobody matches)."""
        self.bring_to_front()
        if isinstance(request.get("customer_id"), int):
            self.show_customer(request["customer_id"])
        elif isinstance(request.get("public_id"), str):
            self.show_public_id(request["public_id"])
        elif isinstance(request.get("search"), str):
            self.show_search(request["search"])
        elif isinstance(request.get("unknown"), str):
            self.show_unknown_caller(request["unknown"], str(request.get("key") or "phone"))

    # -- recently viewed -----------------------------------------------------------------

    def recent_customers(self) -> list[SearchHit]:
        """The customers shown in this session, latest first (kept in memory only)."""
        return list(self._recent)

    def show_recent(self) -> None:
        """Ctrl+R: the recent list under the search field; Enter goes back to the previous
        customer (the current one is listed first)."""
        self.search_bar.set_text("")
        self.search_bar.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        current = self.cards.card
        skip = (
            1
            if current is not None
            and self._recent
            and (
                self._recent[0].customer_id == current.customer.id
                and self.pages.currentWidget() is self.card_view
            )
            else 0
        )
        self.search.show_recent(self.recent_customers(), start_row=skip)

    def _card_on_screen(self) -> CustomerCard | None:
        """The card actions apply to: only the one the advisor is looking at."""
        return self.cards.card if self.pages.currentWidget() is self.card_view else None

    def set_app_title(self, title: str) -> None:
        """The application part of the window title (e.g. "Customer Card — demo data")."""
        self._app_title = title
        card = self.cards.card
        on_card = card is not None and self.pages.currentWidget() is self.card_view
        self.setWindowTitle(self._title(card.customer.display_name if on_card and card else ""))

    def _title(self, subject: str) -> str:
        return f"{subject} — {self._app_title}" if subject else self._app_title

    def _remember(self, card: CustomerCard) -> None:
        c = card.customer
        hit = SearchHit(
            customer_id=c.id,
            public_id=c.public_id,
            name=c.display_name,
            city=c.city,
            birth_year=c.birth_date.year if c.birth_date else None,
            loyalty_tier=c.loyalty_tier,
            vip=c.vip,
            last_contact_at=c.last_contact_at,
            sources=tuple(sorted({p.source for p in card.sources})),
            matched="recent",
            score=0.0,
        )
        self._recent = [hit, *(h for h in self._recent if h.customer_id != c.id)][:MAX_RECENT]

    def bring_to_front(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.setWindowState(
            (self.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive
        )
        self.raise_()
        self.activateWindow()

    def focus_search(self) -> None:
        self.search_bar.focus_field()

    # -- for tests and the composition root --------------------------------------------

    @property
    def search_results_model(self) -> SearchResultsModel:
        return self.search.model

    @property
    def timeline_model(self) -> TimelineModel:
        return self.cards.timeline_model

    @property
    def thread_pool(self) -> QThreadPool:
        return self._pool

    # -- reactions -----------------------------------------------------------------------

    def _on_card_shown(self, customer_id: int) -> None:
        card = self.cards.card
        name = card.customer.display_name if card else str(customer_id)
        if card is not None:
            self._remember(card)
        self.setWindowTitle(self._title(name))
        self.pages.setCurrentWidget(self.card_view)
        self.statusBar().clearMessage()
        if self.sync_controller is not None:
            self.sync_controller.watch(card)
        stale, self._stale_card = self._stale_card, None
        if stale == customer_id:
            self.cards.refresh(customer_id)
        # Lay the card out now rather than on a later turn of the event loop: once the card is
        # said to be shown, every row has its final place (and can be clicked).
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        self.card_shown.emit(customer_id)

    def _on_card_missing(self, customer_id: int | None, public_id: str = "") -> None:
        ident = public_id or f"#{customer_id}"
        self.message.set_message(
            self.tr("No such customer"),
            self.tr("Customer %1 is not in this cache (erased, or never synchronised).").replace(
                "%1", ident
            ),
        )
        self.pages.setCurrentWidget(self.message)
        self.setWindowTitle(self._title(""))

    def _on_action_saved(self, customer_id: int, message: str) -> None:
        self.statusBar().showMessage(message, 6000)
        self.action_saved.emit(customer_id, message)
        card = self.cards.card
        if card is not None and card.customer.id == customer_id:
            self.cards.refresh(customer_id)  # counts, contacts, the new item; same filter

    def _on_action_failed(self, message: str) -> None:
        self.statusBar().showMessage(self.tr("Nothing saved: %1").replace("%1", message), 10000)
        self.action_failed.emit(message)

    def _on_copied(self, value: str) -> None:
        self.statusBar().showMessage(self.tr("Copied “%1”").replace("%1", value), 2500)

    def _on_load_failed(self, message: str) -> None:
        self.statusBar().showMessage(self.tr("Could not load the card: %1").replace("%1", message))

    def _on_customer_synced(self, customer_id: int) -> None:
        """A sync changed the customer on screen: show the card as the cache has it now
        (unless the advisor is already opening another card)."""
        card = self._card_on_screen()
        if card is None or card.customer.id != customer_id:
            return
        if self._card_loading:
            self._stale_card = customer_id  # reloaded once the card loading now is shown
            return
        self.cards.refresh(customer_id)

    def _on_loading(self, loading: bool) -> None:
        self._card_loading = loading
        if loading:
            self.statusBar().showMessage(self.tr("Loading the card…"))
        else:
            self.statusBar().clearMessage()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.results_popup.isVisible():
            self.results_popup.place_under(self.search_bar.field)

    def closeEvent(self, event: QCloseEvent) -> None:
        # Stop a running sync between two batches, and let running searches/loads finish,
        # before the objects they answer to go away.
        if self.sync_controller is not None:
            self.sync_controller.shutdown()
        self.cards.shutdown()
        self._pool.waitForDone()
        super().closeEvent(event)
