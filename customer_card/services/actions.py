"""What an advisor records on the card: a note, the outcome of a call, a corrected contact point.

Each is stored at once in the local cache with its author and time (so the card and its timeline
show it immediately) and queued in the outbox for the company systems, in the same transaction.
Bad input raises :class:`ActionError` with one clear message and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import phonenumbers

from customer_card.domain.model import ContactKind, Interaction
from customer_card.matching import normalise
from customer_card.store.actions_store import ActionsStore
from customer_card.store.database import Database

MAX_NOTE_CHARS = 4000
MAX_AUTHOR_CHARS = 64
CALL_REASONS = (
    "order",
    "delivery",
    "return",
    "product",
    "loyalty",
    "account",
    "complaint",
    "other",
)
CALL_RESULTS = ("resolved", "follow_up", "escalated", "transferred", "no_answer")
CORRECTABLE = (ContactKind.PHONE, ContactKind.EMAIL)
_PHONE_CHARS = re.compile(r"\+?[\d\s().\-/]{3,30}")
#: The system that takes notes and call reports when the customer has a record there.
MASTER_SOURCE = "crm"


class ActionError(ValueError):
    """Input an action cannot accept; the message is meant for the advisor."""


@dataclass(frozen=True, slots=True)
class CallOutcome:
    reason: str
    result: str
    follow_up: date | None = None
    comment: str = ""
    direction: str = "inbound"


@dataclass(frozen=True, slots=True)
class ValidContact:
    kind: ContactKind
    value: str
    """As the advisor should see it (e-mail as normalised, phone in international format)."""
    normalised: str


def validate_contact(
    kind: ContactKind, raw: str, region: str = normalise.DEFAULT_REGION
) -> ValidContact:
    """Check a phone number (``phonenumbers``) or an e-mail address (``email-validator``, syntax
    only, no DNS look-up)."""
    text = raw.strip()
    if not text:
        raise ActionError("Type the new value.")
    if kind == ContactKind.PHONE:
        if not _PHONE_CHARS.fullmatch(text):
            raise ActionError(f"“{text}” is not a phone number: use digits, spaces, + ( ) . -")
        phone = normalise.phone(text, region)
        if not phone.valid:
            raise ActionError(
                f"“{text}” is not a valid phone number (check the number of digits, "
                "or add the country code, e.g. +32 …)."
            )
        shown = phonenumbers.format_number(
            phonenumbers.parse(phone.value, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        return ValidContact(kind, shown, phone.value)
    if kind == ContactKind.EMAIL:
        email = normalise.email(text)
        if not email.valid:
            raise ActionError(f"“{text}” is not a valid e-mail address.")
        return ValidContact(kind, email.value, email.value)
    raise ActionError(f"{kind.value} values cannot be corrected here.")


class ActionService:
    def __init__(
        self,
        database: Database,
        *,
        region: str = normalise.DEFAULT_REGION,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.region = region
        self._clock = clock

    def add_note(self, customer_id: int, text: str, author: str) -> Interaction:
        body = text.strip()
        if not body:
            raise ActionError("The note is empty.")
        if len(body) > MAX_NOTE_CHARS:
            raise ActionError(
                f"The note is too long ({len(body)} characters, at most {MAX_NOTE_CHARS})."
            )
        author = _author(author)
        first_line = body.splitlines()[0]
        summary = first_line if len(first_line) <= 120 else first_line[:119] + "…"
        now = self._clock()
        with self.database.write() as session:
            store = ActionsStore(session)
            customer = _customer(store, customer_id)
            item = store.add_interaction(
                customer_id=customer.id,
                channel="note",
                kind="note",
                direction=None,
                occurred_at=now,
                summary=summary,
                details=body,
                status=None,
                author=author,
            )
            payload = {"customer": customer.public_id, "text": body, "author": author}
            store.queue(
                _master(store, customer.id), "note", customer.id, _stamped(payload, now), now
            )
            return item

    def log_call(self, customer_id: int, outcome: CallOutcome, author: str) -> Interaction:
        if outcome.reason not in CALL_REASONS:
            raise ActionError(f"Unknown call reason “{outcome.reason}”.")
        if outcome.result not in CALL_RESULTS:
            raise ActionError(f"Unknown call result “{outcome.result}”.")
        if outcome.direction not in ("inbound", "outbound"):
            raise ActionError(f"A call is inbound or outbound, not “{outcome.direction}”.")
        now = self._clock()
        if outcome.follow_up is not None and outcome.follow_up < now.date():
            raise ActionError("The follow-up date is in the past.")
        if len(outcome.comment) > MAX_NOTE_CHARS:
            raise ActionError(f"The comment is too long (at most {MAX_NOTE_CHARS} characters).")
        author = _author(author)
        needs_follow_up = outcome.follow_up is not None or outcome.result == "follow_up"
        reason = outcome.reason.replace("_", " ")
        result = outcome.result.replace("_", " ")
        summary = f"Call about {reason}: {result}"
        lines = [f"Reason: {reason}", f"Result: {result}"]
        if outcome.follow_up is not None:
            summary += f", follow up by {outcome.follow_up.isoformat()}"
            lines.append(f"Follow up by: {outcome.follow_up.isoformat()}")
        if outcome.comment.strip():
            lines += ["", outcome.comment.strip()]
        with self.database.write() as session:
            store = ActionsStore(session)
            customer = _customer(store, customer_id)
            item = store.add_interaction(
                customer_id=customer.id,
                channel="phone",
                kind="call",
                direction=outcome.direction,
                occurred_at=now,
                summary=summary,
                details="\n".join(lines),
                status="open" if needs_follow_up else "closed",
                author=author,
            )
            payload = {
                "customer": customer.public_id,
                "reason": outcome.reason,
                "result": outcome.result,
                "direction": outcome.direction,
                "follow_up": outcome.follow_up.isoformat() if outcome.follow_up else None,
                "comment": outcome.comment.strip(),
                "author": author,
            }
            store.queue(
                _master(store, customer.id),
                "call_outcome",
                customer.id,
                _stamped(payload, now),
                now,
            )
            return item

    def correct_contact(
        self,
        customer_id: int,
        kind: ContactKind,
        old_value: str | None,
        new_value: str,
        author: str,
    ) -> ValidContact:
        """Replace ``old_value`` (None: add a value) by ``new_value`` after validating it."""
        if kind not in CORRECTABLE:
            raise ActionError(f"{kind.value} values cannot be corrected here.")
        valid = validate_contact(kind, new_value, self.region)
        old_normalised = None
        if old_value is not None:
            old_normalised = (
                normalise.phone(old_value, self.region).value
                if kind == ContactKind.PHONE
                else normalise.email(old_value).value
            )
            if old_normalised == valid.normalised:
                raise ActionError("The new value is the same as the old one.")
        author = _author(author)
        now = self._clock()
        with self.database.write() as session:
            store = ActionsStore(session)
            customer = _customer(store, customer_id)
            store.add_correction(
                customer_id=customer.id,
                kind=kind.value,
                old_value=old_value,
                old_normalised=old_normalised,
                new_value=valid.value,
                new_normalised=valid.normalised,
                author=author,
                at=now,
            )
            label = "phone number" if kind == ContactKind.PHONE else "e-mail address"
            summary = (
                f"Corrected {label}: {old_value} → {valid.value}"
                if old_value
                else f"Added {label}: {valid.value}"
            )
            store.add_interaction(
                customer_id=customer.id,
                channel="note",
                kind="correction",
                direction=None,
                occurred_at=now,
                summary=summary,
                details=summary,
                status=None,
                author=author,
            )
            targets: list[str | None] = []
            if old_normalised is not None:
                targets.extend(store.sources_holding(customer.id, kind.value, old_normalised))
            if not targets:
                targets.extend(store.customer_sources(customer.id))
            payload = {
                "customer": customer.public_id,
                "kind": kind.value,
                "old": old_value,
                "new": valid.value,
                "normalised": valid.normalised,
                "author": author,
            }
            store.queue(
                targets or [None], "contact_correction", customer.id, _stamped(payload, now), now
            )
        return valid


def _customer(store: ActionsStore, customer_id: int) -> Any:
    customer = store.active_customer(customer_id)
    if customer is None:
        raise ActionError(f"Customer #{customer_id} is no longer in the cache; nothing was saved.")
    return customer


def _master(store: ActionsStore, customer_id: int) -> list[str | None]:
    return [MASTER_SOURCE] if MASTER_SOURCE in store.customer_sources(customer_id) else [None]


def _author(author: str) -> str:
    name = author.strip()
    if not name:
        raise ActionError("No user is signed in: the action needs an author.")
    return name[:MAX_AUTHOR_CHARS]


def _stamped(payload: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {**payload, "at": at.isoformat()}
