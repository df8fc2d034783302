"""Sync benchmark: initial load and a 1 % incremental run, from CSV exports and from PostgreSQL.

    python tests/bench/bench_sync.py --customers 100000 --interactions 1000000

Prints one JSON line. The data are the demo generator's three main systems (``crm``, ``eshop``,
``loyalty``: the same persons in several systems, with the variations real data has, so that
inline linking has real work): about ``--customers`` customer records spread over the three and
``--interactions`` interactions referring to them (no single customer above 1 % of them).

- ``csv``: one export per system and stream, as the systems send them (``;`` and UTF-8 with BOM,
  ``,`` for the e-shop, French birth dates, decimal commas), read through the ``csv`` connector
  with ``cursor = "updated_at"``;
- ``postgres``: the same rows loaded with COPY into typed tables of a throwaway PostgreSQL server
  (Debian's binaries, loopback), read through the ``sql`` connector with ``cursor = "updated_at"``.

For each: ``initial`` (a new cache, everything read) then ``incremental`` (1 % of the rows of
every stream changed with a newer ``updated_at``, run again); each run is a fresh process, so
its figures are its own: records/s per kind (customer and interaction passes timed separately,
linking included), total seconds, peak RSS (and RSS at each tenth of the interactions read:
flat memory), and for the incremental run what the connectors
read (``SyncSummary`` counts) against the rows the sources hold.

Everything lives in ``.bench/sync-C-I/`` (removed at the end unless ``--keep``); the caches are
locked with the passphrase "benchmark", never the keychain. The full size takes about 40 minutes
on a shared 2-core machine (``--only csv`` about 12); ``--customers 20000 --interactions
200000`` about 3.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PASSPHRASE = "benchmark"
SOURCES = ("crm", "eshop", "loyalty")
GOAL = {"customer": 5000.0, "interaction": 20000.0}
# Newer than anything the generator writes (it stops before 2026-11-01 12:00+01:00).
CHANGED_AT = "2026-11-02T09:00:00+01:00"
CHANGE_EVERY = 100  # one row in a hundred changes for the incremental run
# Customer records per person in these three systems, interactions per customer record per
# unit of the generator's mean_interactions (measured on the generator, seed 42).
RECORDS_PER_PERSON = 1.87
INTERACTIONS_PER_MEAN = 0.465


def export_columns(kind: str) -> tuple[str, ...]:
    """The demo exports' own columns: the bench writes the files the csv connector reads."""
    from customer_card.services.demo_files import COLUMNS
    from sync.records import RecordKind

    return COLUMNS[RecordKind(kind)]


LIST_COLUMNS = frozenset({"email", "phone", "interests"})
# PostgreSQL types of the columns that are not text.
PG_TYPES = {
    "updated_at": "timestamptz NOT NULL",
    "birth_date": "date",
    "vip": "boolean",
    "followers": "integer",
    "customer_since": "date",
    "occurred_at": "timestamptz",
    "amount": "numeric(12, 2)",
}


@dataclass(frozen=True)
class Stream:
    source: str
    name: str  # customers, interactions
    kind: str  # customer, interaction

    @property
    def file(self) -> str:
        return f"{self.source}-{self.name}.csv"

    @property
    def columns(self) -> tuple[str, ...]:
        return export_columns(self.kind)

    @property
    def delimiter(self) -> str:
        return "," if self.source == "eshop" else ";"

    @property
    def encoding(self) -> str:
        return "utf-8" if self.source == "eshop" else "utf-8-sig"


STREAMS = tuple(
    Stream(source, name, kind)
    for source in SOURCES
    for name, kind in (("customers", "customer"), ("interactions", "interaction"))
)


# --- the data ----------------------------------------------------------------------------------


def generate(directory: Path, customers: int, interactions: int, seed: int) -> Counter[str]:
    """Write one CSV export per stream from the demo generator; returns rows per kind.

    Customer records are taken until ``customers``, interactions (of taken customers only, at
    most 1 % of the total per customer) until ``interactions``; the generator is sized so that
    both run out about together.
    """
    from customer_card.services.demo_files import export_row
    from sync.demo import DemoConfig, DemoGenerator
    from sync.records import RecordKind

    ratio = interactions / max(customers, 1)
    config = DemoConfig(
        customers=math.ceil(customers / RECORDS_PER_PERSON * 1.15) + 100,
        seed=seed,
        mean_interactions=max(1.0, ratio / INTERACTIONS_PER_MEAN * 1.25),
    )
    per_customer = max(100, interactions // 100)
    directory.mkdir(parents=True, exist_ok=True)
    handles: dict[Stream, Any] = {}
    writers: dict[tuple[str, str], Any] = {}
    for stream in STREAMS:
        handle = (directory / stream.file).open("w", encoding=stream.encoding, newline="")
        handles[stream] = handle
        writers[(stream.source, stream.kind)] = csv.writer(handle, delimiter=stream.delimiter)
        writers[(stream.source, stream.kind)].writerow(stream.columns)
    counts: Counter[str] = Counter()
    taken: set[tuple[str, str]] = set()
    history: Counter[tuple[str, str]] = Counter()
    history_after_cap = False
    try:
        for record in DemoGenerator(config).records():
            customers_done = counts["customer"] >= customers
            if record.kind == RecordKind.CUSTOMER:
                if customers_done:
                    if history_after_cap or counts["interaction"] >= interactions:
                        break  # the histories of every taken customer are written
                    continue
            elif customers_done:
                history_after_cap = True
            if record.source not in SOURCES:
                continue
            if record.kind == RecordKind.CUSTOMER:
                taken.add((record.source, record.source_id))
            elif record.kind == RecordKind.INTERACTION:
                if counts["interaction"] >= interactions:
                    continue
                owner = (record.source, str(record.fields.get("customer_ref")))
                if owner not in taken or history[owner] >= per_customer:
                    continue
                history[owner] += 1
            else:
                continue  # consents: not part of this benchmark
            writers[(record.source, str(record.kind))].writerow(export_row(record))
            counts[str(record.kind)] += 1
    finally:
        for handle in handles.values():
            handle.close()
    return counts


def read_rows(directory: Path, stream: Stream) -> Iterator[list[str]]:
    """The data rows of a stream's export (header skipped)."""
    with (directory / stream.file).open(encoding=stream.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=stream.delimiter)
        next(reader)
        yield from reader


def change(stream: Stream, row: list[str]) -> list[str]:
    """The row as its system writes it after a change: a newer updated_at and one field."""
    changed = list(row)
    columns = stream.columns
    changed[columns.index("updated_at")] = CHANGED_AT
    if stream.kind == "customer":
        i = columns.index("street")
        changed[i] = f"{changed[i]} bis".strip()
    else:
        i = columns.index("summary")
        changed[i] = f"{changed[i]} (mis à jour)".strip()
    return changed


def is_changed(index: int) -> bool:
    """Which data rows (by position in the export) change for the incremental run: 1 %."""
    return index % CHANGE_EVERY == CHANGE_EVERY // 2


def changed_ids(directory: Path) -> dict[Stream, list[str]]:
    """The ids of the rows :func:`is_changed` selects, per stream."""
    return {
        stream: [row[0] for i, row in enumerate(read_rows(directory, stream)) if is_changed(i)]
        for stream in STREAMS
    }


def change_csv(directory: Path) -> dict[Stream, list[str]]:
    """Rewrite every export with the selected rows changed; returns their ids."""
    changed: dict[Stream, list[str]] = {}
    for stream in STREAMS:
        ids: list[str] = []
        target = directory / (stream.file + ".new")
        with target.open("w", encoding=stream.encoding, newline="") as handle:
            writer = csv.writer(handle, delimiter=stream.delimiter)
            writer.writerow(stream.columns)
            for index, row in enumerate(read_rows(directory, stream)):
                if is_changed(index):
                    row = change(stream, row)
                    ids.append(row[0])
                writer.writerow(row)
        target.replace(directory / stream.file)
        changed[stream] = ids
    return changed


def sources_toml(url: str | None = None) -> str:
    """A sources file reading every stream incrementally by its updated_at column: the CSV
    exports beside it, or (with ``url``) the tables of that database."""
    lines: list[str] = []
    for source in SOURCES:
        lines += [f"[sources.{source}]"]
        lines += ['type = "sql"', f'url = "{url}"'] if url else ['type = "csv"']
        lines.append("")
        for stream in (s for s in STREAMS if s.source == source):
            key = f"sources.{source}.streams.{stream.name}"
            lines += [f"[{key}]", f'kind = "{stream.kind}"', 'id = "id"', 'cursor = "updated_at"']
            if url:
                lines += [f'schema = "{source}"', f'table = "{stream.name}"']
                lines += ['updated_at = "updated_at"']
            else:
                lines += [f'file = "{stream.file}"', 'cursor_format = "iso"']
                lines += ['updated_at = { column = "updated_at", datetime = "iso" }']
            lines += ["", f"[{key}.fields]"]
            for column in stream.columns[2:]:
                lines.append(f"{column} = {_rule(column, sql=url is not None)}")
            lines.append("")
    return "\n".join(lines)


def _rule(column: str, sql: bool) -> str:
    if column in LIST_COLUMNS:
        return f'{{ column = "{column}", split = "|" }}'
    if not sql and column == "birth_date":
        return '{ column = "birth_date", date = "%d/%m/%Y" }'
    if not sql and column == "amount":
        return '{ column = "amount", decimal = "," }'
    if not sql and column == "vip":
        return '{ column = "vip", type = "bool" }'
    if not sql and column == "followers":
        return '{ column = "followers", type = "int" }'
    return f'"{column}"'


# --- PostgreSQL --------------------------------------------------------------------------------


def load_postgres(conninfo: str, directory: Path) -> None:
    """The exports' rows into typed tables (COPY), indexed for the connector's order."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        for source in SOURCES:
            conn.execute(f"CREATE SCHEMA {source}")
        for stream in STREAMS:
            table = f"{stream.source}.{stream.name}"
            columns = ", ".join(f"{c} {PG_TYPES.get(c, 'text')}" for c in stream.columns)
            conn.execute(f"CREATE TABLE {table} ({columns}, PRIMARY KEY (id))")
            convert = _pg_converters(stream.columns)
            statement = f"COPY {table} ({', '.join(stream.columns)}) FROM STDIN"
            with conn.cursor() as cursor, cursor.copy(statement) as copy:
                for row in read_rows(directory, stream):
                    copy.write_row([f(v) for f, v in zip(convert, row, strict=True)])
            conn.execute(f"CREATE INDEX ON {table} (updated_at, id)")
            conn.execute(f"ANALYZE {table}")


def _pg_converters(columns: tuple[str, ...]) -> list[Callable[[str], str | None]]:
    def text(v: str) -> str | None:
        return v or None

    def french_date(v: str) -> str | None:
        return "-".join(reversed(v.split("/"))) if v else None

    def decimal_comma(v: str) -> str | None:
        return v.replace(",", ".") if v else None

    def boolean(v: str) -> str | None:
        return {"1": "t", "0": "f"}.get(v)

    special = {"birth_date": french_date, "amount": decimal_comma, "vip": boolean}
    return [special.get(c, text) for c in columns]


def change_postgres(conninfo: str, changed: dict[Stream, list[str]]) -> None:
    """The same changes as :func:`change` on the same rows, as the systems' own UPDATEs."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        for stream, ids in changed.items():
            column = "street" if stream.kind == "customer" else "summary"
            suffix = " bis" if stream.kind == "customer" else " (mis à jour)"
            conn.execute(
                f"UPDATE {stream.source}.{stream.name} SET updated_at = %s, "
                f"{column} = nullif(trim(coalesce({column}, '') || %s), '') "
                "WHERE id = ANY(%s)",
                (CHANGED_AT, suffix, ids),
            )


# --- one sync run, in its own process ------------------------------------------------------------


def _rss_mb() -> float | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _expected_interactions(sources_path: Path) -> int:
    """Rows of the interaction exports next to the sources file (0 when they are elsewhere)."""
    rows = 0
    for path in sources_path.parent.glob("*-interactions.csv"):
        with path.open("rb") as f:
            rows += sum(1 for _ in f) - 1
    return rows


def child(db_path: Path, sources_path: Path) -> int:
    """Run every source of ``sources_path`` into the cache; print the figures as JSON."""
    from sqlalchemy import func, select

    from customer_card.services.ingest import IngestService
    from customer_card.services.sync_runner import SyncProgress, SyncRunner
    from customer_card.store import models as m
    from customer_card.store.cache import Unlock, open_cache
    from sync.sources import load_sources

    def no_secrets(name: str) -> str:
        raise LookupError(f"the benchmark's sources need no secret ({name})")

    started = time.perf_counter()
    database = open_cache(db_path, None, Unlock(passphrase=PASSPHRASE), create=True).database
    open_seconds = time.perf_counter() - started
    rss_open = _rss_mb()
    rss_max = rss_open or 0.0

    sources = load_sources(sources_path)
    kinds = {(c.name, s.name): str(s.kind) for c in sources.sources.values() for s in c.streams}
    # RSS as the history grows (is memory flat?): a sample at each 10 % of the interactions.
    rss_by_read: list[tuple[int, float]] = []
    passes_done: dict[tuple[str, str], int] = {}
    step = _expected_interactions(sources_path) // 10 or 100_000

    def progress(p: SyncProgress) -> None:
        nonlocal rss_max
        rss = _rss_mb() or 0.0
        rss_max = max(rss_max, rss)
        if kinds.get((p.source, p.stream)) != "interaction":
            return
        passes_done[(p.source, p.stream)] = p.read
        done = sum(passes_done.values())
        if done >= (len(rss_by_read) + 1) * step:
            rss_by_read.append((done, round(rss, 1)))

    runner = SyncRunner(database, IngestService(database), no_secrets)
    matching = _time_matching()
    load_before = os.getloadavg()[0]
    cpu_started = time.process_time()
    summary = runner.run(sources.select(None), progress=progress)
    cpu_seconds = time.process_time() - cpu_started

    read: Counter[str] = Counter()
    seconds: dict[str, float] = {}
    outcomes: dict[str, Counter[str]] = {}
    for p in summary.passes:
        kind = kinds[(p.source, p.stream)]
        read[kind] += p.read
        seconds[kind] = seconds.get(kind, 0.0) + p.seconds
        per_kind = outcomes.setdefault(kind, Counter())
        for outcome in ("read", "inserted", "updated", "unchanged", "deleted", "quarantined"):
            per_kind[outcome] += getattr(p, outcome)
    with database.read() as session:
        cache = {
            "golden_customers": session.scalar(
                select(func.count()).select_from(m.Customer).where(m.Customer.merged_into.is_(None))
            ),
            "source_records": session.scalar(select(func.count()).select_from(m.SourceRecord)),
            "interactions": session.scalar(select(func.count()).select_from(m.Interaction)),
            "quarantined": session.scalar(
                select(func.count())
                .select_from(m.Quarantine)
                .where(m.Quarantine.resolved_at.is_(None))
            ),
            "suggestions": session.scalar(select(func.count()).select_from(m.MergeSuggestion)),
        }
    database.dispose()
    figures = {
        "ok": summary.ok,
        "errors": summary.errors,
        "seconds": round(summary.seconds, 2),
        "open_seconds": round(open_seconds, 2),
        "per_kind": {
            kind: {
                **outcomes[kind],
                "seconds": round(seconds[kind], 2),
                "per_second": round(read[kind] / seconds[kind]) if seconds[kind] else None,
            }
            for kind in sorted(outcomes)
        },
        # Inline matching of new customer records (MatchIndex.match_many, storing included).
        "matching_seconds": round(matching[0], 2),
        "matched_records": int(matching[1]),
        # CPU time of the process (both threads) against the wall time above; the load average
        # shows what else ran on the machine.
        "cpu_seconds": round(cpu_seconds, 2),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "rss_after_open_mb": round(rss_open, 1) if rss_open else None,
        "rss_max_during_sync_mb": round(rss_max, 1),
        "rss_mb_by_interactions_read": rss_by_read,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # The largest child process (the customer records' normaliser), counted apart.
        "peak_rss_children_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
        "cache": cache,
        "cache_mb": round(
            sum(f.stat().st_size for f in db_path.parent.glob(db_path.name + "*")) / 2**20, 1
        ),
    }
    print(json.dumps(figures))
    return 0 if summary.ok else 1


def _time_matching() -> list[float]:
    """Time spent in inline matching, measured around ``MatchIndex.match_many`` (which ingest
    calls for the new records of a batch, storing each as it is decided: the storing is
    inside): [seconds, records]."""
    from customer_card.services.matching import MatchIndex

    spent = [0.0, 0]
    match_many = MatchIndex.match_many

    def timed(self: MatchIndex, records: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return match_many(self, records, *args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started
            spent[1] += len(records)

    MatchIndex.match_many = timed  # type: ignore[method-assign]
    return spent


def run_child(db_path: Path, sources_path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(db_path), str(sources_path)],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    if not lines:
        raise SystemExit(f"bench_sync: the sync of {sources_path} printed nothing")
    figures: dict[str, Any] = json.loads(lines[-1])
    figures["process_seconds"] = round(time.perf_counter() - started, 2)
    if result.returncode != 0:
        print(
            f"bench_sync: the sync of {sources_path} failed: {figures['errors']}", file=sys.stderr
        )
    return figures


# --- the benchmark -------------------------------------------------------------------------------


def scenario(
    db_path: Path,
    sources_path: Path,
    apply_changes: Callable[[], dict[Stream, list[str]]],
    rows: Counter[str],
) -> dict[str, Any]:
    """Initial load into a new cache, then 1 % of the rows changed, then the incremental run."""
    initial = run_child(db_path, sources_path)
    started = time.perf_counter()
    changed_by_stream = apply_changes()
    change_seconds = time.perf_counter() - started
    incremental = run_child(db_path, sources_path)
    changed: Counter[str] = Counter()
    for stream, ids in changed_by_stream.items():
        changed[stream.kind] += len(ids)
    proof: dict[str, dict[str, Any]] = {}
    for kind, total in sorted(rows.items()):
        counts = incremental["per_kind"].get(kind, {})
        read = counts.get("read", 0)
        proof[kind] = {
            "rows_in_sources": total,
            "changed": changed[kind],
            "read": read,
            "updated": counts.get("updated", 0),
            # Rows at the last run's newest cursor value are read again (the cursor is
            # inclusive so that rows written later with that same value are not missed).
            "reread_unchanged": counts.get("unchanged", 0),
            "read_share": round(read / total, 4) if total else None,
        }
    incremental["changes_seconds"] = round(change_seconds, 2)
    incremental["read_vs_rows"] = proof
    incremental["only_changes_read"] = all(
        p["updated"] == p["changed"] and p["read"] == p["changed"] + p["reread_unchanged"]
        for p in proof.values()
    )
    return {"initial": initial, "incremental": incremental}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", choices=("csv", "postgres"), help="run one of the two")
    parser.add_argument("--keep", action="store_true", help="keep the work directory afterwards")
    parser.add_argument(
        "--workdir", type=Path, help="where the data and caches go (default .bench/sync-C-I/)"
    )
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    if args.customers < 1 or args.interactions < 0:
        parser.error("--customers must be at least 1 and --interactions at least 0")

    began = time.perf_counter()
    work = args.workdir or Path(".bench") / f"sync-{args.customers}-{args.interactions}"
    shutil.rmtree(work, ignore_errors=True)
    original, exports, sql_dir = work / "original", work / "csv", work / "pg"
    figures: dict[str, Any] = {"bench": "sync", "seed": args.seed, "goal_per_second": GOAL}
    try:
        rows = generate(original, args.customers, args.interactions, args.seed)
        figures["generate_seconds"] = round(time.perf_counter() - began, 1)
        figures["rows"] = dict(rows)
        if rows["interaction"] < args.interactions or rows["customer"] < args.customers:
            print(
                f"bench_sync: the generator gave {rows['customer']:,} customers and "
                f"{rows['interaction']:,} interactions",
                file=sys.stderr,
            )
        if args.only in (None, "csv"):
            shutil.copytree(original, exports)
            (exports / "sources.toml").write_text(sources_toml(), encoding="utf-8")
            figures["csv"] = scenario(
                exports / "cache.db", exports / "sources.toml", lambda: change_csv(exports), rows
            )
        if args.only in (None, "postgres"):
            from _pg import postgres

            changed = changed_ids(original)
            sql_dir.mkdir(parents=True)
            with postgres(sql_dir / "server") as server:
                started = time.perf_counter()
                load_postgres(server.conninfo(), original)
                figures["pg_load_seconds"] = round(time.perf_counter() - started, 1)
                (sql_dir / "sources.toml").write_text(sources_toml(server.url()), encoding="utf-8")

                def change_tables() -> dict[Stream, list[str]]:
                    change_postgres(server.conninfo(), changed)
                    return changed

                figures["postgres"] = scenario(
                    sql_dir / "cache.db", sql_dir / "sources.toml", change_tables, rows
                )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    figures["total_seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
