"""Type-ahead: search off the GUI thread on every keystroke, with at most one search in flight.

No debounce timer: the first keystroke after a pause searches at once (the answer comes in the
time of one search), and while a search runs, further keystrokes only mark the text as changed;
when the answer arrives for text the user has since extended, it is dropped and the current
text is searched straight away. A fast typist therefore costs one search per answer, not one
per key, and the last keystroke is answered within at most two search times.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThreadPool, Signal

from customer_card.domain.model import SearchHit
from customer_card.ui.ports import SearchPort
from customer_card.ui.search_bar import ResultsPopup, SearchBar
from customer_card.ui.search_model import SearchResultsModel
from customer_card.ui.tasks import LatestOnlyRunner

RESULT_LIMIT = 30


class SearchController(QObject):
    customer_chosen = Signal(int)  # customer id
    results_shown = Signal(str, int)  # query, number of hits
    recent_wanted = Signal()  # ↓ in the empty field

    def __init__(
        self,
        search: SearchPort,
        bar: SearchBar,
        popup: ResultsPopup,
        pool: QThreadPool,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._search = search
        self._bar = bar
        self._popup = popup
        self.model = SearchResultsModel(self)
        popup.list.setModel(self.model)
        self._runner = LatestOnlyRunner(pool, self)
        self._runner.finished.connect(self._on_results)
        self._runner.failed.connect(self._on_failed)
        self._open_when_ready = False
        self._in_flight: str | None = None  # the text being searched, if any

        bar.text_changed.connect(self._on_text_changed)
        bar.move_requested.connect(self._on_move)
        bar.accept_requested.connect(self._on_accept)
        bar.escape_requested.connect(self._on_escape)
        bar.focus_lost.connect(popup.hide)
        popup.activated.connect(self._choose_row)

    @property
    def busy(self) -> bool:
        return self._in_flight is not None

    def search_now(self, text: str) -> None:
        """Put ``text`` in the field and search at once (no debounce)."""
        self._bar.set_text(text)
        self._start_search()

    def hide_results(self) -> None:
        self._popup.hide()

    def cancel(self) -> None:
        """Drop the search in flight and its pending "open the first hit": another card was
        asked for (a screen pop), and a late answer must not replace it."""
        self._cancel()
        self._open_when_ready = False
        self._popup.hide()

    def show_recent(self, hits: list[SearchHit], start_row: int = 0) -> None:
        """List recently viewed customers under the empty field; Enter opens the current row."""
        self._cancel()
        self._open_when_ready = False
        self.model.set_results("", hits)
        self._popup.place_under(self._bar.field)
        message = (
            self.tr("Recently viewed · ↑ ↓ Enter")
            if hits
            else self.tr("No customer viewed yet in this session.")
        )
        self._popup.show_rows(len(hits), message)
        if hits:
            self._popup.set_current_row(min(start_row, len(hits) - 1))
        self._bar.status.setText("")

    def _on_text_changed(self, text: str) -> None:
        self._open_when_ready = False
        if not text.strip():
            self._cancel()
            self.model.clear()
            self._popup.hide()
            self._bar.status.setText("")
            return
        if self._in_flight is None:
            self._start_search()
        # else: the answer to the search in flight will start the next one

    def _cancel(self) -> None:
        self._runner.cancel()
        self._in_flight = None

    def _start_search(self) -> None:
        text = self._bar.text().strip()
        if not text:
            return
        self._bar.status.setText(self.tr("Searching…"))
        search = self._search
        self._in_flight = text
        self._runner.submit(lambda: (text, search.search(text, limit=RESULT_LIMIT)))

    def _on_results(self, answer: tuple[str, list[SearchHit]]) -> None:
        text, hits = answer
        self._in_flight = None
        if text != self._bar.text().strip():
            self._start_search()  # typed further meanwhile: search what is there now
            return
        self.model.set_results(text, hits)
        self._bar.status.setText(self.tr("%n result(s)", "", len(hits)))
        self._popup.place_under(self._bar.field)
        message = "" if hits else self.tr("No customer matches “%1”.").replace("%1", text)
        self._popup.show_rows(len(hits), message)
        if hits:
            self._popup.set_current_row(0)
        self.results_shown.emit(text, len(hits))
        if self._open_when_ready:
            self._open_when_ready = False
            if hits:
                self._choose_row(0)

    def _on_failed(self, message: str) -> None:
        self._in_flight = None
        self._open_when_ready = False
        self._bar.status.setText(self.tr("Search failed: %1").replace("%1", message))

    def _on_move(self, delta: int) -> None:
        if not self._popup.isVisible() and not self._bar.text().strip():
            if delta > 0:
                self.recent_wanted.emit()
            return
        if not self._popup.isVisible():
            if self.model.rowCount() and self.model.query == self._bar.text().strip():
                self._popup.place_under(self._bar.field)
                self._popup.show_rows(self.model.rowCount())
            return
        self._popup.set_current_row(max(self._popup.current_row(), 0) + delta)

    def _on_accept(self) -> None:
        fresh = self.model.query == self._bar.text().strip() and not self.busy
        if fresh and self.model.rowCount():
            self._choose_row(max(self._popup.current_row(), 0))
        elif self._bar.text().strip():
            # Enter before the answer (a fast typist, a card scanner): open the best hit.
            self._open_when_ready = True
            if self._in_flight is None:
                self._start_search()

    def _on_escape(self) -> None:
        if self._bar.text():
            self._bar.set_text("")
            self._on_text_changed("")
        else:
            self._popup.hide()

    def _choose_row(self, row: int) -> None:
        hit = self.model.hit(row)
        if hit is None:
            return
        self._popup.hide()
        self.customer_chosen.emit(hit.customer_id)
