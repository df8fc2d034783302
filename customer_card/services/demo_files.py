"""The demo systems as export files: one CSV per system and stream, and a sources file that
loads them through the ``csv`` connector (``customer-card demo-export --output DIR``).

The files look like real exports: ``;`` and UTF-8 with BOM for most systems, ``,`` without BOM
for the e-shop, French dates (``31/12/1980``) and decimal commas (``12,50``); lists (several
e-mails, interests) are ``|``-separated; an order's lines are one JSON column, ``items``.
Loading them gives the same cache as ingesting the generator directly.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import IO, Any

from sync.demo import SOURCES, DemoConfig, DemoGenerator
from sync.records import RecordKind, SourceRecord

COLUMNS: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.CUSTOMER: (
        "id",
        "updated_at",
        "given_name",
        "family_name",
        "full_name",
        "email",
        "phone",
        "birth_date",
        "street",
        "postcode",
        "city",
        "country",
        "loyalty_card",
        "loyalty_tier",
        "vip",
        "language",
        "preferred_channel",
        "preferred_store",
        "interests",
        "twitter",
        "instagram",
        "followers",
        "customer_since",
    ),
    RecordKind.INTERACTION: (
        "id",
        "updated_at",
        "customer_ref",
        "occurred_at",
        "channel",
        "kind",
        "direction",
        "summary",
        "details",
        "status",
        "amount",
        "currency",
        "items",
    ),
    RecordKind.CONSENT: (
        "id",
        "updated_at",
        "customer_ref",
        "purpose",
        "status",
        "channel",
        "collected_at",
    ),
}
STREAMS = {
    RecordKind.CUSTOMER: "customers",
    RecordKind.INTERACTION: "interactions",
    RecordKind.CONSENT: "consents",
}
_LIST_FIELDS = ("email", "phone", "interests")


def export_demo(
    directory: Path,
    *,
    customers: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write the demo systems' exports and ``sources.toml`` under ``directory``; returns the
    number of rows written per file name."""
    directory.mkdir(parents=True, exist_ok=True)
    handles: dict[tuple[str, RecordKind], tuple[IO[str], Any]] = {}
    counts: dict[str, int] = {}
    written = 0
    try:
        for record in DemoGenerator(DemoConfig(customers=customers, seed=seed)).records():
            key = (record.source, record.kind)
            if key not in handles:
                name = file_name(record.source, record.kind)
                eshop = record.source == "eshop"
                handle = (directory / name).open(
                    "w", encoding="utf-8" if eshop else "utf-8-sig", newline=""
                )
                writer = csv.writer(handle, delimiter="," if eshop else ";")
                writer.writerow(COLUMNS[record.kind])
                handles[key] = (handle, writer)
                counts[name] = 0
            handles[key][1].writerow(export_row(record))
            counts[file_name(*key)] += 1
            written += 1
            if progress is not None and written % 10_000 == 0:
                progress(written)
    finally:
        for opened, _ in handles.values():
            opened.close()
    (directory / "sources.toml").write_text(sources_toml(sorted(handles)), encoding="utf-8")
    return counts


def file_name(source: str, kind: RecordKind) -> str:
    return f"{source}-{STREAMS[kind]}.csv"


def export_row(record: SourceRecord) -> list[str]:
    """One record as a row of its demo export file (the CSV dialect the sources file reads)."""
    fields = record.fields
    unknown = set(fields) - set(COLUMNS[record.kind])
    if unknown:
        raise ValueError(f"demo field(s) with no export column: {', '.join(sorted(unknown))}")
    out: list[str] = []
    for column in COLUMNS[record.kind]:
        if column == "id":
            value: Any = record.source_id
        elif column == "updated_at":
            value = record.updated_at.isoformat() if record.updated_at else ""
        else:
            value = fields.get(column)
        if value is None:
            out.append("")
        elif column == "items":
            out.append(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
        elif isinstance(value, list):
            out.append("|".join(str(v) for v in value))
        elif isinstance(value, bool):
            out.append("1" if value else "0")
        elif column == "birth_date":
            out.append(date.fromisoformat(str(value)).strftime("%d/%m/%Y"))
        elif column == "amount":
            out.append(str(value).replace(".", ","))
        else:
            out.append(str(value))
    return out


def sources_toml(streams: list[tuple[str, RecordKind]]) -> str:
    """A sources file for the exported streams (relative paths: keep it beside the files)."""
    lines = [
        "# The demo systems' exports, loaded through the csv connector.",
        "# Generated by `customer-card demo-export`; paths are relative to this file.",
        "",
    ]
    for source in SOURCES:
        kinds = [kind for s, kind in streams if s == source]
        if not kinds:
            continue
        lines += [f"[sources.{source}]", 'type = "csv"', 'schedule = "1h"', ""]
        for kind in sorted(kinds, key=lambda k: list(STREAMS).index(k)):
            lines += [
                f"[sources.{source}.streams.{STREAMS[kind]}]",
                f'kind = "{kind.value}"',
                f'file = "{file_name(source, kind)}"',
                'id = "id"',
                'updated_at = { column = "updated_at", datetime = "iso" }',
                "",
                f"[sources.{source}.streams.{STREAMS[kind]}.fields]",
            ]
            for column in COLUMNS[kind][2:]:
                lines.append(f"{column} = {_rule(column)}")
            lines.append("")
    return "\n".join(lines)


def _rule(column: str) -> str:
    if column in _LIST_FIELDS:
        return f'{{ column = "{column}", split = "|" }}'
    if column == "birth_date":
        return '{ column = "birth_date", date = "%d/%m/%Y" }'
    if column == "amount":
        return '{ column = "amount", decimal = "," }'
    if column == "vip":
        return '{ column = "vip", type = "bool" }'
    if column == "followers":
        return '{ column = "followers", type = "int" }'
    return f'"{column}"'
