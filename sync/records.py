"""The unit of exchange between a company system and the cache."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class RecordKind(StrEnum):
    CUSTOMER = "customer"
    INTERACTION = "interaction"
    CONSENT = "consent"


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


# What json.dumps(..., sort_keys=True, ensure_ascii=False, default=_json_default) writes, with
# the encoder built once instead of at every call (a third of the time of a record's hash).
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=_json_default)


# JSONEncoder.encode still makes a new C encoder (and its circular-reference memo) at every
# call: 4% of reading an interaction. Where CPython's C encoder is there, one is made once,
# with the same settings (no circular check: fields are plain JSON values from a mapping).
_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_ENCODE = (
    _MAKE_ENCODER(
        None, _json_default, json.encoder.encode_basestring, None, ": ", ", ", True, False, True
    )
    if _MAKE_ENCODER is not None
    else None
)


def canonical_json(fields: Mapping[str, Any]) -> str:
    """Stable JSON text of a record's fields: same content, same text, same hash."""
    if _ENCODE is None:
        return _CANONICAL.encode(fields)
    return "".join(_ENCODE(fields, 0))


def content_digest(fields_json: bytes, deleted: bool) -> str:
    """A record's content hash from its fields' canonical JSON (UTF-8): the hash of the
    canonical JSON of ``{"deleted": deleted, "fields": fields}``, written around the fields'
    text instead of encoding them again."""
    digest = hashlib.blake2b(_HASHED_BEFORE_FIELDS[deleted], digest_size=16)
    digest.update(fields_json)
    digest.update(b"}")
    return digest.hexdigest()


_HASHED_BEFORE_FIELDS = {
    deleted: canonical_json({"deleted": deleted, "fields": {}}).removesuffix("{}}").encode()
    for deleted in (False, True)
}


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as a company system knows it, fields already mapped to canonical names.

    ``source`` names the system (``crm``, ``eshop`` …) and ``source_id`` is the record's id
    there; together they are unique. ``kind`` says what the record describes. Interaction and
    consent records name their customer with ``fields["customer_ref"]``: the customer's
    ``source_id`` in the same system.
    """

    source: str
    source_id: str
    kind: RecordKind
    fields: Mapping[str, Any]
    updated_at: datetime | None = None
    deleted: bool = False
    _hash: str = field(default="", init=False, repr=False, compare=False)

    @property
    def content_hash(self) -> str:
        if not self._hash:
            object.__setattr__(self, "_hash", content_digest(self.fields_json(), self.deleted))
        return self._hash

    def fields_json(self) -> bytes:
        """The fields as canonical JSON, UTF-8 (what the hash covers, with ``deleted``)."""
        return canonical_json(self.fields).encode()

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent between processes by the hundred thousand (a read-ahead process): plain values
        # and the hash already computed, a third cheaper to load than the generic slots state.
        return _record, (
            self.source,
            self.source_id,
            str(self.kind),
            self.fields,
            self.updated_at,
            self.deleted,
            self._hash,
        )


_KIND = {str(kind): kind for kind in RecordKind}  # a dict is 5x faster than RecordKind(text)


def _record(
    source: str,
    source_id: str,
    kind: str,
    fields: Mapping[str, Any],
    updated_at: datetime | None,
    deleted: bool,
    digest: str,
) -> SourceRecord:
    record = SourceRecord(source, source_id, _KIND[kind], fields, updated_at, deleted)
    if digest:
        object.__setattr__(record, "_hash", digest)
    return record


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A connector's resumable state after the records yielded before it.

    Ingest commits it in the same transaction as those records, so a sync stopped at any
    point resumes from the last committed checkpoint without loss or duplicates.
    """

    source: str
    stream: str
    state: Mapping[str, Any]
