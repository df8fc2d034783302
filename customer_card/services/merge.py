"""Merge and unmerge golden customers.

A merge moves everything of the merged customer (source records, contact points,
identifiers, consents, interactions, notes, suggestions) to the survivor, keeps the merged
id as a redirect, rebuilds the survivor's golden fields by survivorship, and records a
``merge_event`` with what unmerge needs to put both customers back exactly — including
whatever arrived since for either of them. Consents merge conservatively: a purpose
withdrawn or denied in either customer stays withdrawn after the merge. Fields a supervisor
pinned (manual overrides) follow the records: the survivor keeps its own, takes the merged
customer's other pins, and wins a conflict; the event records both sides' pins, so unmerge
gives each customer its own back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from customer_card.matching.config import MatchConfig
from customer_card.matching.decide import Matcher
from customer_card.matching.profile import profile_of
from customer_card.services.ingest import IngestService
from customer_card.services.matching import default_config
from customer_card.store.database import Database
from customer_card.store.ingest_store import IngestStore
from customer_card.store.match_store import MatchStore
from customer_card.store.overrides_store import OverrideStore, PinnedField

_NEGATIVE = ("withdrawn", "denied")


class MergeError(ValueError):
    """A merge or unmerge that cannot be done; the message says why."""


class MergeService:
    def __init__(
        self,
        database: Database,
        *,
        config: MatchConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self._config = config
        self.clock = clock

    @property
    def config(self) -> MatchConfig:
        if self._config is None:
            self._config = default_config()
        return self._config

    def customer_id(self, ident: str) -> int | None:
        """A customer's internal number from its public id or number."""
        with self.database.read() as session:
            return MatchStore(session).customer_id(ident.strip())

    # --- merge ------------------------------------------------------------------------------

    def merge(
        self,
        survivor: int,
        merged: int,
        *,
        actor: str,
        reason: str = "merged by a supervisor",
        evidence: Mapping[str, Any] | None = None,
    ) -> int:
        with self.database.write() as session:
            return self.merge_in(
                session, survivor, merged, actor=actor, reason=reason,
                evidence=evidence or {}, now=self.clock(),
            )  # fmt: skip

    def merge_in(
        self,
        session: Any,
        survivor: int,
        merged: int,
        *,
        actor: str,
        reason: str,
        evidence: Mapping[str, Any],
        now: datetime,
    ) -> int:
        """Merge inside the caller's transaction; returns the merge event id."""
        store = MatchStore(session)
        if survivor == merged:
            raise MergeError("a customer cannot be merged with itself")
        rows = {cid: store.customer_row(cid) for cid in (survivor, merged)}
        for cid, row in rows.items():
            if row is None:
                raise MergeError(f"no customer {cid}")
            # A customer deleted at its sources can still be merged: a source that merged two
            # accounts deletes one, and its history belongs with the other.
            if row["status"] not in ("active", "deleted"):
                raise MergeError(f"customer {row['public_id']} is {row['status']}, not active")
        survivor_row, merged_row = rows[survivor], rows[merged]
        assert survivor_row is not None
        assert merged_row is not None

        snapshot: dict[str, Any] = {
            "survivor": _jsonable(survivor_row),
            "merged": _jsonable(merged_row),
            "survivor_rows": store.rows_of(survivor),
            "merged_rows": store.rows_of(merged),
            "evidence": dict(evidence),
        }
        withdrawals = self._conservative_consents(store, survivor, merged, now)
        store.move_all(merged, survivor)
        store.set_merged(merged, survivor, now)
        snapshot["redirects"] = store.redirect(merged, survivor)
        suggestions, moved = store.repoint_suggestions(merged, survivor)
        snapshot["suggestions"] = [_jsonable(s) for s in suggestions]
        snapshot["moved_suggestions"] = moved
        snapshot["consents_added"] = [store.add_consent(row) for row in withdrawals]
        snapshot["overrides"] = _merge_overrides(OverrideStore(session), survivor, merged)
        self._rebuild(session, {survivor}, now)
        return store.add_event(survivor, merged, actor, reason, snapshot, now)

    @staticmethod
    def _conservative_consents(
        store: MatchStore, survivor: int, merged: int, now: datetime
    ) -> list[dict[str, Any]]:
        """A withdrawal row for each purpose that either customer withdrew but that the
        merged card would show as granted (a later grant elsewhere would otherwise win)."""
        own = {cid: _effective(store.consents(cid)) for cid in (survivor, merged)}
        together = _effective(store.consents(survivor) + store.consents(merged))
        records = store.records_of(survivor)
        if not records:
            return []
        rows = []
        for purpose, row in together.items():
            refused = [
                own[cid][purpose]
                for cid in own
                if purpose in own[cid] and own[cid][purpose]["status"] in _NEGATIVE
            ]
            if row["status"] in _NEGATIVE or not refused:
                continue
            # Stamped no earlier than the grant it overrides (a tie goes to the withdrawal).
            stamp = max(now, row["collected_at"] or row["source_updated_at"] or now)
            rows.append(
                {
                    "customer_id": survivor,
                    "source_record_id": records[0],
                    "source": "merge",
                    "source_id": f"merge-{survivor}-{merged}-{purpose}-{now.timestamp():.0f}",
                    "purpose": purpose,
                    "status": "withdrawn",
                    "channel": refused[0]["channel"],
                    "collected_at": stamp,
                    "source_updated_at": stamp,
                    "content_hash": "merge",
                    "deleted": False,
                }
            )
        return rows

    def _rebuild(self, session: Any, customer_ids: set[int], now: datetime) -> None:
        """Golden fields, activity figures and search index of customers whose records moved,
        through the code ingest uses."""
        IngestService(self.database, clock=lambda: now).rebuild(IngestStore(session), customer_ids)

    # --- unmerge ------------------------------------------------------------------------------

    def unmerge(self, event_id: int, *, actor: str) -> tuple[int, int]:
        """Undo a merge; returns (survivor, restored customer)."""
        now = self.clock()
        with self.database.write() as session:
            store = MatchStore(session)
            event = store.event(event_id)
            if event is None:
                raise MergeError(f"no merge event {event_id}")
            if event["undone_at"] is not None:
                raise MergeError(f"merge event {event_id} was already undone")
            survivor, merged = int(event["survivor_id"]), int(event["merged_id"])
            later = store.later_events(event_id, (survivor, merged))
            if later:
                raise MergeError(f"undo the later merge events first: {', '.join(map(str, later))}")
            snap = event["snapshot"]
            store.delete_consents(snap["consents_added"])

            merged_records = set(snap["merged_rows"]["source_record"])
            survivor_records = set(snap["survivor_rows"]["source_record"])
            current = set(store.records_of(survivor))
            arrived = sorted(current - merged_records - survivor_records)
            merged_records |= self._side_of_new_records(store, arrived, merged_records, current)
            merged_records &= current

            store.move_rows("source_record", merged_records, merged)
            details = store.record_rows(merged_records)
            for table, ids in details.items():
                store.move_rows(table, ids, merged)
            # Rows that belong to the customer itself, not to a record (notes, history
            # without a record): back by id. A record's rows went with it above, or stay
            # where the record went since (a correction moved it to another customer).
            for table in ("note", "interaction"):
                store.move_own_rows(table, snap["merged_rows"].get(table, []), survivor, merged)
                store.move_rows(table, details.get(table, []), merged)

            store.restore_suggestions(
                [_restored(row) for row in snap["suggestions"]], snap["moved_suggestions"]
            )
            store.restore_customer_row(_restored(snap["merged"]))
            _unmerge_overrides(OverrideStore(session), survivor, merged, snap.get("overrides"))
            store.point_redirects(snap["redirects"], merged)
            store.mark_undone(event_id, now)
            store.decide_suggestion(survivor, merged, "rejected", actor, now, "merge undone")

            self._rebuild(session, {survivor, merged}, now)
            # A side that received nothing since the merge gets its exact former row back.
            for cid, key in ((survivor, "survivor"), (merged, "merged")):
                if store.rows_of(cid) == snap[f"{key}_rows"]:
                    store.restore_customer_row(_restored(snap[key]))
            return survivor, merged

    def _side_of_new_records(
        self, store: MatchStore, arrived: list[int], merged_side: set[int], all_records: set[int]
    ) -> set[int]:
        """Records that joined the merged customer after the merge go to the side they match
        best (ties stay with the survivor)."""
        if not arrived:
            return set()
        fields = store.record_fields(all_records)
        matcher = Matcher(self.config)
        profiles = {rid: profile_of(f) for rid, (_, _, f) in fields.items()}
        to_merged: set[int] = set()
        for rid in arrived:
            best = {True: 0.0, False: 0.0}
            for other, p in profiles.items():
                if other in arrived:
                    continue
                side = other in merged_side
                best[side] = max(
                    best[side], matcher.pair(profiles[rid], p, len(profiles)).probability
                )
            if best[True] > best[False]:
                to_merged.add(rid)
        return to_merged


def _merge_overrides(store: OverrideStore, survivor: int, merged: int) -> dict[str, Any]:
    """Move the merged customer's pinned fields to the survivor, except those the survivor
    pinned too (the survivor's value wins); returns both sides' pins as they were, for the
    merge event, with the fields moved and the conflicts."""
    own = store.pinned(survivor)
    theirs = store.pinned(merged)
    own_values = {p.field: p.value for p in own}
    moved = [p for p in theirs if p.field not in own_values]
    store.unpin(merged, [p.field for p in theirs])
    store.pin_all(survivor, moved)
    return {
        "survivor": [p.as_dict() for p in own],
        "merged": [p.as_dict() for p in theirs],
        "moved": [p.field for p in moved],
        "conflicts": [
            {"field": p.field, "kept": own_values[p.field], "dropped": p.value}
            for p in theirs
            if p.field in own_values
        ],
    }


def _unmerge_overrides(
    store: OverrideStore, survivor: int, merged: int, recorded: Mapping[str, Any] | None
) -> None:
    """Give the merged customer its pins back and take from the survivor those it received
    by the merge (unless a supervisor changed them since: then they stay)."""
    if not recorded:
        return  # a merge recorded before overrides existed
    theirs = [PinnedField.from_dict(p) for p in recorded["merged"]]
    current = {p.field: p for p in store.pinned(survivor)}
    store.unpin(survivor, [p.field for p in theirs if current.get(p.field) == p])
    store.unpin(merged, [p.field for p in store.pinned(merged)])
    store.pin_all(merged, theirs)


def _effective(consents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The consent a card shows per purpose: the latest; on the same date a refusal."""
    latest: dict[str, dict[str, Any]] = {}

    def key(c: Mapping[str, Any]) -> tuple[str, int]:
        stamp = c["collected_at"] or c["source_updated_at"]
        return (stamp.isoformat() if stamp else "", 1 if c["status"] in _NEGATIVE else 0)

    for c in consents:
        current = latest.get(c["purpose"])
        if current is None or key(c) > key(current):
            latest[c["purpose"]] = c
    return latest


_DATETIME_COLUMNS = (
    "created_at",
    "updated_at",
    "last_purchase_at",
    "last_contact_at",
    "decided_at",
)
_DATE_COLUMNS = ("birth_date", "customer_since")


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in row.items()}


def _restored(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in _DATETIME_COLUMNS:
        if isinstance(out.get(name), str):
            out[name] = datetime.fromisoformat(out[name])
    for name in _DATE_COLUMNS:
        if isinstance(out.get(name), str):
            out[name] = date.fromisoformat(out[name])
    return out
