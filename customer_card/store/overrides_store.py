"""Golden fields pinned by a supervisor (manual survivorship overrides) and their audit trail.

Takes the session of the caller's transaction; returns plain values, never ORM rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from customer_card.store import models as m

_IN_CHUNK = 500
_T = cast(Table, m.GoldenOverride.__table__)
_CUSTOMER = cast(Table, m.Customer.__table__)
_AUDIT = cast(Table, m.AuditLog.__table__)


@dataclass(frozen=True, slots=True)
class PinnedField:
    field: str
    value: str
    set_by: str
    set_at: datetime

    def as_dict(self) -> dict[str, str]:
        return {
            "field": self.field,
            "value": self.value,
            "set_by": self.set_by,
            "set_at": self.set_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> PinnedField:
        return cls(
            data["field"], data["value"], data["set_by"], datetime.fromisoformat(data["set_at"])
        )


@dataclass(frozen=True, slots=True)
class CustomerRef:
    id: int
    public_id: str
    status: str
    merged_into: int | None


class OverrideStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def customer(self, ident: str) -> CustomerRef | None:
        """A customer by public id or internal number, whatever its status."""
        c = _CUSTOMER.c
        text = ident.strip()
        condition = c.id == int(text) if text.isdigit() else c.public_id == text.upper()
        row = self.session.execute(
            select(c.id, c.public_id, c.status, c.merged_into).where(condition)
        ).first()
        return None if row is None else CustomerRef(int(row[0]), row[1], row[2], row[3])

    def customer_by_id(self, customer_id: int) -> CustomerRef | None:
        return self.customer(str(customer_id))

    def pinned(self, customer_id: int) -> list[PinnedField]:
        rows = self.session.execute(
            select(_T.c.field, _T.c.value, _T.c.set_by, _T.c.set_at)
            .where(_T.c.customer_id == customer_id)
            .order_by(_T.c.field)
        )
        return [PinnedField(str(f), str(v), str(b), a) for f, v, b, a in rows]

    def values_of(self, customer_ids: Collection[int]) -> dict[int, dict[str, str]]:
        """Pinned values by customer (only customers that have some)."""
        out: dict[int, dict[str, str]] = {}
        ids = sorted(customer_ids)
        for start in range(0, len(ids), _IN_CHUNK):
            rows = self.session.execute(
                select(_T.c.customer_id, _T.c.field, _T.c.value).where(
                    _T.c.customer_id.in_(ids[start : start + _IN_CHUNK])
                )
            )
            for cid, field, value in rows:
                out.setdefault(int(cid), {})[str(field)] = str(value)
        return out

    def pin(self, customer_id: int, pinned: PinnedField) -> None:
        """Pin a field (replacing the customer's earlier value for it)."""
        self.unpin(customer_id, [pinned.field])
        self.session.execute(
            insert(_T).values(
                customer_id=customer_id,
                field=pinned.field,
                value=pinned.value,
                set_by=pinned.set_by,
                set_at=pinned.set_at,
            )
        )

    def pin_all(self, customer_id: int, pinned: Iterable[PinnedField]) -> None:
        for p in pinned:
            self.pin(customer_id, p)

    def unpin(self, customer_id: int, fields: Collection[str]) -> None:
        if fields:
            self.session.execute(
                delete(_T).where(_T.c.customer_id == customer_id, _T.c.field.in_(sorted(fields)))
            )

    def audit(
        self, actor: str, action: str, customer_id: int, details: Mapping[str, Any], now: datetime
    ) -> None:
        self.session.execute(
            insert(_AUDIT).values(
                at=now, actor=actor, action=action, customer_id=customer_id, details=dict(details)
            )
        )

    def audit_trail(self, customer_id: int) -> list[dict[str, Any]]:
        """The customer's audit entries, oldest first."""
        rows = self.session.execute(
            select(_AUDIT.c.at, _AUDIT.c.actor, _AUDIT.c.action, _AUDIT.c.details)
            .where(_AUDIT.c.customer_id == customer_id)
            .order_by(_AUDIT.c.at, _AUDIT.c.id)
        )
        return [
            {"at": at, "actor": actor, "action": action, "details": details}
            for at, actor, action, details in rows
        ]
