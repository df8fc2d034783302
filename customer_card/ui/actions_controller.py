"""Acting on the card: ask (dialog), save off the GUI thread, then say what happened."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtWidgets import QWidget

from customer_card.domain.model import ContactPoint, CustomerCard
from customer_card.services.actions import ActionError
from customer_card.ui.dialogs import CallDialog, CorrectContactDialog, NoteDialog
from customer_card.ui.ports import ActionPort
from customer_card.ui.tasks import TaskRunner


class ActionsController(QObject):
    saved = Signal(int, str)  # customer id, what to tell the advisor
    failed = Signal(str)  # nothing was saved; why

    def __init__(
        self,
        actions: ActionPort | None,
        user: str,
        current_card: Callable[[], CustomerCard | None],
        dialog_parent: QWidget,
        pool: QThreadPool,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._actions = actions
        self._user = user
        self._current = current_card
        self._dialog_parent = dialog_parent
        self._runner = TaskRunner(pool, self)
        self._runner.finished.connect(self._on_finished)
        self._runner.failed.connect(self.failed)

    @property
    def enabled(self) -> bool:
        return self._actions is not None

    @property
    def busy(self) -> bool:
        return self._runner.busy

    def add_note(self) -> None:
        card = self._ready()
        if card is None:
            return
        text = NoteDialog.ask(self._dialog_parent, card.customer.display_name)
        if text is None:
            return
        actions, user, customer_id = self._actions, self._user, card.customer.id
        assert actions is not None
        self._submit(
            customer_id,
            lambda: actions.add_note(customer_id, text, user),
            self.tr("Note saved; queued for the company systems."),
        )

    def log_call(self) -> None:
        card = self._ready()
        if card is None:
            return
        outcome = CallDialog.ask(self._dialog_parent, card.customer.display_name, date.today())
        if outcome is None:
            return
        actions, user, customer_id = self._actions, self._user, card.customer.id
        assert actions is not None
        self._submit(
            customer_id,
            lambda: actions.log_call(customer_id, outcome, user),
            self.tr("Call logged; queued for the company systems."),
        )

    def correct_contact(self, point: ContactPoint) -> None:
        card = self._ready()
        if card is None:
            return
        correction = CorrectContactDialog.ask(
            self._dialog_parent, card.customer.display_name, point
        )
        if correction is None:
            return
        actions, user, customer_id = self._actions, self._user, card.customer.id
        assert actions is not None
        self._submit(
            customer_id,
            lambda: actions.correct_contact(
                customer_id, correction.kind, correction.old_value, correction.new_value, user
            ),
            self.tr("Correction saved; sent to the systems that hold the old value."),
        )

    def _ready(self) -> CustomerCard | None:
        card = self._current()
        if card is None:
            return None
        if self._actions is None:
            self.failed.emit(self.tr("This window is read-only: nothing can be recorded here."))
            return None
        return card

    def _submit(self, customer_id: int, job: Callable[[], object], message: str) -> None:
        def run() -> tuple[int, str, str]:
            try:
                job()
            except ActionError as error:  # the advisor's input: say it, save nothing
                return customer_id, "", str(error)
            return customer_id, message, ""

        self._runner.submit(run)

    def _on_finished(self, answer: tuple[int, str, str]) -> None:
        customer_id, message, error = answer
        if error:
            self.failed.emit(error)
        else:
            self.saved.emit(customer_id, message)
