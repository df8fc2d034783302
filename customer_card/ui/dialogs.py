"""The three things an advisor records on a card: a note, a call's outcome, a corrected contact.

Each dialog only collects and checks input; ``ask(...)`` shows it modally and returns the
answer or ``None`` (tests replace ``ask``, or fill the dialog and call ``try_accept``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from customer_card.domain.model import ContactKind, ContactPoint
from customer_card.services.actions import (
    CALL_REASONS,
    CALL_RESULTS,
    MAX_NOTE_CHARS,
    ActionError,
    CallOutcome,
    ValidContact,
    validate_contact,
)
from customer_card.ui.labels import call_reason_label, call_result_label
from customer_card.ui.widgets import muted

_T = TypeVar("_T")


class _ActionDialog(QDialog):
    def __init__(self, title: str, subject: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setObjectName("ActionDialog")
        self.setWindowTitle(title)
        self.setModal(True)
        self.setMinimumWidth(460)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setSpacing(10)
        heading = QLabel(subject)
        heading.setObjectName("DialogSubject")
        self.layout_.addWidget(heading)
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.layout_.addLayout(self.form)
        self.error = QLabel("")
        self.error.setObjectName("DialogError")
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        shortcut = QShortcut(QKeySequence("Ctrl+Return"), self)
        shortcut.activated.connect(self.try_accept)

    def _finish_layout(self) -> None:
        self.layout_.addWidget(self.error)
        self.layout_.addWidget(self.buttons)

    @property
    def save_button(self) -> QWidget:
        return self.buttons.button(QDialogButtonBox.StandardButton.Save)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def check(self) -> str:
        """An error message, or "" when the input can be saved."""
        return ""

    def try_accept(self) -> bool:
        message = self.check()
        self.show_error(message)
        if message:
            return False
        self.accept()
        return True


class NoteDialog(_ActionDialog):
    def __init__(self, customer_name: str, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Add a note"), customer_name, parent)
        self.text = QPlainTextEdit()
        self.text.setObjectName("NoteText")
        self.text.setPlaceholderText(
            self.tr("What the customer said or asked, what you promised… (Ctrl+Enter saves)")
        )
        self.text.setTabChangesFocus(True)
        self.text.setMinimumHeight(140)
        self.layout_.addWidget(self.text)
        self.layout_.addWidget(
            muted(self.tr("Saved on this card with your name, and sent to the CRM."))
        )
        self._finish_layout()
        self.text.setFocus()

    def check(self) -> str:
        body = self.text.toPlainText().strip()
        if not body:
            return self.tr("The note is empty.")
        if len(body) > MAX_NOTE_CHARS:
            return self.tr("The note is too long (at most %1 characters).").replace(
                "%1", str(MAX_NOTE_CHARS)
            )
        return ""

    def value(self) -> str:
        return self.text.toPlainText().strip()

    @classmethod
    def ask(cls, parent: QWidget | None, customer_name: str) -> str | None:
        dialog = cls(customer_name, parent)
        return _run(dialog, dialog.value)


class CallDialog(_ActionDialog):
    def __init__(self, customer_name: str, today: date, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Log the call"), customer_name, parent)
        self._today = today
        self.direction = QComboBox()
        self.direction.addItem(self.tr("Inbound (the customer called)"), "inbound")
        self.direction.addItem(self.tr("Outbound (we called)"), "outbound")
        self.form.addRow(self.tr("Call"), self.direction)
        self.reason = QComboBox()
        for code in CALL_REASONS:
            self.reason.addItem(call_reason_label(code), code)
        self.form.addRow(self.tr("Reason"), self.reason)
        self.result_box = QComboBox()
        for code in CALL_RESULTS:
            self.result_box.addItem(call_result_label(code), code)
        self.form.addRow(self.tr("Result"), self.result_box)
        self.follow_up_check = QCheckBox(self.tr("Follow up by"))
        self.follow_up = QDateEdit()
        self.follow_up.setCalendarPopup(True)
        self.follow_up.setDisplayFormat("dd/MM/yyyy")
        self.follow_up.setMinimumDate(_qdate(today))
        self.follow_up.setDate(_qdate(today + timedelta(days=2)))
        self.follow_up.setEnabled(False)
        self.follow_up_check.toggled.connect(self.follow_up.setEnabled)
        self.result_box.currentIndexChanged.connect(self._on_result)
        self.form.addRow(self.follow_up_check, self.follow_up)
        self.comment = QPlainTextEdit()
        self.comment.setObjectName("CallComment")
        self.comment.setTabChangesFocus(True)
        self.comment.setPlaceholderText(self.tr("Comment (optional)"))
        self.comment.setMaximumHeight(90)
        self.form.addRow(self.tr("Comment"), self.comment)
        self._finish_layout()
        self.reason.setFocus()

    def _on_result(self) -> None:
        if self.result_box.currentData() == "follow_up":
            self.follow_up_check.setChecked(True)

    def check(self) -> str:
        if len(self.comment.toPlainText()) > MAX_NOTE_CHARS:
            return self.tr("The comment is too long.")
        chosen = self.follow_up.date().toPython()
        assert isinstance(chosen, date)
        if self.follow_up_check.isChecked() and chosen < self._today:
            return self.tr("The follow-up date is in the past.")
        return ""

    def value(self) -> CallOutcome:
        follow_up = self.follow_up.date().toPython() if self.follow_up_check.isChecked() else None
        assert follow_up is None or isinstance(follow_up, date)
        return CallOutcome(
            reason=str(self.reason.currentData()),
            result=str(self.result_box.currentData()),
            follow_up=follow_up,
            comment=self.comment.toPlainText().strip(),
            direction=str(self.direction.currentData()),
        )

    @classmethod
    def ask(cls, parent: QWidget | None, customer_name: str, today: date) -> CallOutcome | None:
        dialog = cls(customer_name, today, parent)
        return _run(dialog, dialog.value)


@dataclass(frozen=True, slots=True)
class Correction:
    kind: ContactKind
    old_value: str | None
    new_value: str


class CorrectContactDialog(_ActionDialog):
    """Replace a phone number or an e-mail address; the new value is checked as it is typed."""

    def __init__(
        self,
        customer_name: str,
        point: ContactPoint,
        region: str = "FR",
        parent: QWidget | None = None,
    ) -> None:
        title = (
            self.tr("Correct the phone number")
            if point.kind == ContactKind.PHONE
            else self.tr("Correct the e-mail address")
        )
        super().__init__(title, customer_name, parent)
        self._point = point
        self._region = region
        self.old = QLabel(point.value)
        self.old.setObjectName("OldValue")
        self.form.addRow(self.tr("Now"), self.old)
        self.new = QLineEdit()
        self.new.setObjectName("NewValue")
        self.new.setText(point.value)
        self.new.selectAll()
        self.new.textEdited.connect(self._on_edited)
        self.form.addRow(self.tr("Correct value"), self.new)
        self.hint = muted("")
        self.hint.setObjectName("ValidationHint")
        self.form.addRow("", self.hint)
        self.layout_.addWidget(
            muted(
                self.tr(
                    "The correction shows on the card at once and is sent to every system "
                    "that holds the old value."
                )
            )
        )
        self._finish_layout()
        self.new.setFocus()
        self._valid: ValidContact | None = None
        self._on_edited(self.new.text())

    def _on_edited(self, text: str) -> None:
        try:
            self._valid = validate_contact(self._point.kind, text, self._region)
        except ActionError as error:
            self._valid = None
            self.hint.setText(str(error) if text.strip() else "")
            self.hint.setProperty("tone", "danger")
        else:
            same = self._valid.normalised == self._point.normalised
            self.hint.setText(
                self.tr("Same as the current value") if same else "✓ " + self._valid.value
            )
            self.hint.setProperty("tone", "neutral" if same else "success")
        self.hint.style().unpolish(self.hint)
        self.hint.style().polish(self.hint)
        self.show_error("")

    def check(self) -> str:
        try:
            valid = validate_contact(self._point.kind, self.new.text(), self._region)
        except ActionError as error:
            return str(error)
        if valid.normalised == self._point.normalised:
            return self.tr("The new value is the same as the current one.")
        return ""

    def value(self) -> Correction:
        return Correction(self._point.kind, self._point.value, self.new.text().strip())

    @classmethod
    def ask(
        cls, parent: QWidget | None, customer_name: str, point: ContactPoint
    ) -> Correction | None:
        dialog = cls(customer_name, point, parent=parent)
        return _run(dialog, dialog.value)


def _run(dialog: QDialog, value: Callable[[], _T]) -> _T | None:
    """Show modally; the answer when accepted. The dialog is freed either way."""
    try:
        return value() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


def _qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)
