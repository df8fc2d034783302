"""``csv``: CSV and XLSX exports as people really send them.

``;`` or ``,`` (or tab, ``|``) delimiters found by themselves, UTF-8 with or without BOM,
UTF-16 with its BOM or Windows-1252, quoted newlines; French dates and decimal commas are the
mapping's business (``date = "%d/%m/%Y"``, ``decimal = ","``). A row with bytes that are not text
in the file's encoding, or with more or fewer cells than the header, is rejected to quarantine,
never dropped. What cannot be read as rows at all (a quote never closed, a header naming a column
the mapping reads twice, an empty or binary file) fails the stream with one line saying where.
In an XLSX sheet every cell of a merged range reads the value shown there (its top left cell's);
a row where the mapping reads a formula never calculated (a file written by a library stores no
value for it) goes to quarantine, saying to open and save the file in Excel or LibreOffice.

Incremental by file fingerprint: a file already read completely is not read again. With
``cursor = "column"`` (an updated-at column, with ``cursor_format``), a changed file is read
again but only rows whose cursor is not older than the last run's newest are yielded. A run
stopped half-way resumes at the row after its last checkpoint.

Source settings: ``directory`` (where relative ``file`` paths start; default: the sources file's
directory), ``encoding`` (``auto``, ``utf-8``, ``cp1252`` …), ``delimiter`` (``auto`` or a
character), ``checkpoint_every`` (rows, default 1000). Stream settings: ``file``, ``sheet``
(XLSX), ``cursor``, ``cursor_format``.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import html
import itertools
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sync.connector import (
    ConnectorError,
    ExtractComplete,
    Item,
    Rejected,
    SecretLookup,
    StreamSpec,
    map_row,
    ordered_streams,
    prefixed,
)
from sync.mapping import ConfigError, MappingError, lookup, raw_json, to_datetime
from sync.records import Checkpoint, RecordKind, SourceRecord

if TYPE_CHECKING:
    from sync.sources import SourceConfig

log = logging.getLogger(__name__)

SOURCE_KEYS = frozenset({"directory", "encoding", "delimiter", "checkpoint_every"})
STREAM_KEYS = frozenset({"file", "sheet", "cursor", "cursor_format"})
_DELIMITERS = ";,\t|"
_SAMPLE = 1 << 20

# Python's csv module refuses a field over 128 KiB by default, and a long note or an order's
# items can be larger: such a row would fail the whole file. The mapping and the cache cut long
# text where they must. The limit is global to the module, so it is raised once, here.
_FIELD_LIMIT = 64 << 20
if csv.field_size_limit() < _FIELD_LIMIT:
    csv.field_size_limit(_FIELD_LIMIT)

# Fed to the csv reader after the file's last line. Its lenient mode ends a quoted field at the
# end of the input without a word, so a quote never closed would turn every line after it into
# one value. After the last line this marker comes back as a row of its own, unless a quote is
# still open: then it ends that value, which tells us. (``strict=True`` would tell too, but it
# also refuses rows the lenient mode reads well enough, such as ``"Ana"s``.) It is made of
# Unicode noncharacters only: no exported text holds one, and no delimiter can be one.
_END_OF_FILE = "\ufdd0\ufdd1\ufdd2\ufdd3"
_LINE_BREAK = re.compile("\r\n|\r|\n")

# Files that are not text at all but are sometimes given a .csv name, by their first bytes.
_BINARY_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook? name it .xlsx to read it as one)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls workbook (save it as .xlsx or .csv)"),
    (b"%PDF-", "a PDF document"),
)

# A character as only UTF-8 writes it in two to four bytes (no overlong forms, no surrogates).
# Windows-1252 text almost never holds one: it would take an accented capital followed by a
# typographic sign, or text such as "Ã©", which is UTF-8 already read wrongly once.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]"
    rb"|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


def check(config: SourceConfig, key: str) -> None:
    encoding = config.settings.get("encoding", "auto")
    if encoding != "auto":
        try:
            codecs.lookup(str(encoding))
        except LookupError:
            raise ConfigError(f"unknown encoding {encoding!r}", f"{key}.encoding") from None
    delimiter = config.settings.get("delimiter", "auto")
    if delimiter != "auto" and (
        not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in _END_OF_FILE
    ):
        raise ConfigError('delimiter is "auto" or one character', f"{key}.delimiter")
    every = config.settings.get("checkpoint_every", 1000)
    if not isinstance(every, int) or every < 1:
        raise ConfigError(
            "checkpoint_every is a positive number of rows", f"{key}.checkpoint_every"
        )
    for stream in config.streams:
        where = f"{key}.streams.{stream.name}"
        if not isinstance(stream.options.get("file"), str):
            raise ConfigError('a csv stream needs file = "path/to/export.csv"', f"{where}.file")
        if "cursor_format" in stream.options and "cursor" not in stream.options:
            raise ConfigError("cursor_format needs cursor", f"{where}.cursor_format")


def create(config: SourceConfig, secrets: SecretLookup) -> CsvConnector:
    return CsvConnector(config)


def fingerprint(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=20)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def detect_encoding(sample: bytes) -> str:
    """The encoding of a file from its first bytes. UTF-8 when they hold at least twice as
    many characters written the UTF-8 way as bytes that are not UTF-8: the rows holding those
    go to quarantine, where reading the whole file as Windows-1252 would store every accented
    letter of it wrongly ("LÃ©a"), without a word. Windows-1252 otherwise."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text"; the codec reads the BOM's byte order
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start >= len(sample) - 3:
            return "utf-8"  # a multi-byte character cut by the end of the sample
        # Bytes that are not UTF-8 beside, perhaps, characters written the UTF-8 way: a few
        # stray bytes in a UTF-8 file, or Windows-1252 text where three bytes happen to read
        # as one UTF-8 character ("é\xa0»" is E9 A0 BB). The more frequent one wins.
        valid = len(_UTF8_MULTIBYTE.findall(sample))
        invalid = sample.decode("utf-8", errors="replace").count("\ufffd")
        return "utf-8" if valid >= 2 * invalid else "cp1252"
    return "utf-8"


def detect_delimiter(first_line: str) -> str:
    counts = {d: _count_outside_quotes(first_line, d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _count_outside_quotes(line: str, char: str) -> int:
    quoted = False
    n = 0
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            n += 1
    return n


class CsvConnector:
    def __init__(self, config: SourceConfig) -> None:
        self.name = config.name
        self.streams = config.streams
        self.settings = config.settings
        directory = config.settings.get("directory")
        self.directory = (
            config.base_dir / Path(directory).expanduser() if directory else config.base_dir
        )
        self.checkpoint_every = int(config.settings.get("checkpoint_every", 1000))
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def passes(self) -> tuple[str, ...]:
        return ordered_streams(self.streams)

    def stream(self, name: str) -> StreamSpec:
        return next(s for s in self.streams if s.name == name)

    def after_fork(self) -> None:
        """Nothing to leave to the parent: each read opens its own file."""

    def path_of(self, stream: StreamSpec) -> Path:
        return self.directory / Path(str(stream.options["file"])).expanduser()

    def read(self, name: str, state: Mapping[str, Any] | None) -> Iterator[Item]:
        stream = self.stream(name)
        path = self.path_of(stream)
        if not path.is_file():
            raise ConnectorError(f"{self.name}/{name}: no file {path}")
        state = dict(state or {})
        print_ = fingerprint(path)
        if state.get("fingerprint") == print_ and state.get("done"):
            log.info("%s/%s: %s unchanged since the last run", self.name, name, path.name)
            return
        resuming = state.get("fingerprint") == print_ and not state.get("done")
        offset = int(state.get("offset", 0)) if resuming else 0
        started = str(state["started_at"]) if resuming and "started_at" in state else None
        started_at = datetime.fromisoformat(started) if started else self.now()
        # The cursor of the last complete run: older rows were read then.
        since = _cursor_value(state.get("cursor"))
        newest = _cursor_value(state.get("newest")) if resuming else None
        newest = newest or since
        cursor_col = stream.options.get("cursor")
        cursor_formats = _formats(stream.options.get("cursor_format"))

        def snapshot(rows_done: int, done: bool) -> dict[str, Any]:
            out: dict[str, Any] = {
                "fingerprint": print_,
                "file": path.name,
                "offset": rows_done,
                "done": done,
                "started_at": started_at.isoformat(),
            }
            if cursor_col:
                final = newest if done else since
                out["cursor"] = final.isoformat() if final else None
                out["newest"] = newest.isoformat() if newest else None
            return out

        rows = 0
        # The ids of this read's customer records, with their updated_at. A second row with a
        # customer's id (two people under one id, a row pasted twice) would replace the first
        # in the cache without a word: it goes to quarantine and the first stays, unless its
        # updated_at says it is a newer version of the record (an export of changes). History
        # rows repeat as an order changes; the later one is the order as it is now.
        # Rows skipped (read before a stop, older than the cursor) count too: where the last
        # run stopped, or which rows changed, must not decide which of two rows is kept.
        # A skipped row keeps its updated_at cells, read only if its id comes again (nearly
        # never: reading every skipped row's date made an incremental run a third slower).
        ids: dict[int, float | tuple[Any, ...] | None] = {}
        customers = stream.kind == RecordKind.CUSTOMER
        stamp_rule = stream.mapping.updated_at

        def stamp_of(kept: float | tuple[Any, ...] | None) -> float | None:
            if type(kept) is not tuple:
                return kept  # type: ignore[return-value]
            assert stamp_rule is not None
            when = _updated_at(stream, dict(zip(stamp_rule.columns, kept, strict=True)))
            return when.timestamp() if when else None

        def admitted(source_id: str | None, updated_at: datetime | None) -> bool:
            """Whether a customer row with this id is the first (or newer by updated_at)."""
            if source_id is None:
                return True  # (a row without an id goes to quarantine for that)
            digest = hash(source_id)
            stamp = updated_at.timestamp() if updated_at else None
            if digest in ids:
                earlier = stamp_of(ids[digest])
                if stamp is None or earlier is None or stamp <= earlier:
                    return False
            ids[digest] = stamp
            return True

        def skipped(row: dict[str, Any] | Rejected) -> None:
            if not customers or isinstance(row, Rejected):
                return
            source_id = prefixed(stream, stream.mapping.source_id(row))
            if source_id is None:
                return
            digest = hash(source_id)
            if digest in ids:  # a repeated id: compared now, as a row read would be
                admitted(source_id, _updated_at(stream, row))
            elif stamp_rule is None:
                ids[digest] = None
            else:
                ids[digest] = tuple(row.get(c) for c in stamp_rule.columns)

        for index, row in enumerate(self._rows(stream, path)):
            rows = index + 1
            if index < offset:
                skipped(row)
                continue
            if isinstance(row, Rejected):
                yield row
            else:
                keep = True
                if cursor_col:
                    try:
                        value = to_datetime(lookup(row, cursor_col), cursor_formats)
                    except (ValueError, TypeError):
                        value = None  # unreadable cursor: the mapping decides (rejects or not)
                    if value is not None:
                        keep = since is None or value >= since
                        newest = value if newest is None or value > newest else newest
                if keep:
                    item = map_row(self.name, stream, row)
                    if (
                        customers
                        and isinstance(item, SourceRecord)
                        and not admitted(item.source_id, item.updated_at)
                    ):
                        newer = " and is not newer by updated_at" if item.updated_at else ""
                        item = self._faulty(
                            stream,
                            row,
                            "duplicate id",
                            f"id {item.source_id!r} is on an earlier row of {path.name} "
                            f"too (this is its data row {rows:,}{newer}): the earlier one "
                            "is kept",
                        )
                    if isinstance(item, Rejected) or stream.mapping.keeps(item):
                        yield item
                else:
                    skipped(row)
            if rows % self.checkpoint_every == 0:
                yield Checkpoint(self.name, name, snapshot(rows, False))
        final = snapshot(rows, True)
        if stream.full_extract:
            yield ExtractComplete(self.name, name, stream.kind, started_at, final, resuming)
        else:
            yield Checkpoint(self.name, name, final)

    def ids(self, name: str) -> Iterator[str]:
        stream = self.stream(name)
        for row in self._rows(stream, self.path_of(stream)):
            sid = (
                row.source_id
                if isinstance(row, Rejected)
                else prefixed(stream, stream.mapping.source_id(row))
            )
            if sid:
                yield sid

    def _rows(self, stream: StreamSpec, path: Path) -> Iterator[dict[str, Any] | Rejected]:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            yield from self._xlsx_rows(stream, path)
        else:
            yield from self._csv_rows(stream, path)

    def _csv_rows(self, stream: StreamSpec, path: Path) -> Iterator[dict[str, Any] | Rejected]:
        where = f"{self.name}/{stream.name}: {path.name}"
        with path.open("rb") as raw:
            sample = raw.read(_SAMPLE)
        if not sample.removeprefix(codecs.BOM_UTF8).strip():
            # An export that wrote nothing has failed: the stream fails rather than read no rows.
            raise ConnectorError(f"{where} is empty: no header line, no rows")
        for signature, what in _BINARY_SIGNATURES:
            if sample.startswith(signature):
                raise ConnectorError(
                    f"{where} does not look like a CSV text file: it starts like {what}"
                )
        encoding = str(self.settings.get("encoding", "auto"))
        if encoding == "auto":
            encoding = detect_encoding(sample)
        elif encoding.lower().replace("_", "-") in ("utf-8", "utf8") and sample.startswith(
            codecs.BOM_UTF8
        ):
            encoding = "utf-8-sig"
        with path.open(encoding=encoding, errors="surrogateescape", newline="") as handle:
            first = handle.readline()
            if "\x00" in first:
                raise ConnectorError(
                    f"{where} does not look like a CSV text file: its first line holds NUL "
                    f"bytes (binary data, or UTF-16 text without a BOM: set encoding)"
                )
            delimiter = str(self.settings.get("delimiter", "auto"))
            if delimiter == "auto":
                delimiter = detect_delimiter(first)
            records = _records(itertools.chain((first,), handle), delimiter, where)
            header = next(records, None)
            if header is None:
                return
            names = [h.strip() for h in header[1]]
            self._check_header(stream, path, names)
            read = _columns_read(stream)
            width = len(names)
            for number, cells in records:
                # One look at the whole line instead of one per cell (U+001F is whitespace).
                line = "\x1f".join(cells)
                if not line.strip():
                    continue  # blank line
                row: dict[str, Any] = dict(zip(names, cells, strict=False))
                # Cells past the header's are kept for the quarantine, unless all are empty:
                # a delimiter at the end of each line, as many exports write.
                if len(cells) > width and any(cell.strip() for cell in cells[width:]):
                    row["_extra"] = cells[width:]
                if _BAD_BYTES.search(line):
                    clean = {k: _visible(v) for k, v in row.items()}
                    yield self._faulty(
                        stream,
                        clean,
                        "encoding",
                        f"bad encoding: bytes that are not {encoding} text",
                    )
                    continue
                if "\x00" in line:
                    # No text export holds a NUL: binary data pasted in, or a file damaged.
                    # Stored, it would hide in a name or a note, shown as nothing.
                    yield self._faulty(
                        stream,
                        row,
                        "NUL",
                        f"line {number} holds NUL characters (binary data in a text export?)",
                    )
                    continue
                # A cell too many shifts values (an email under the family name); cells missing
                # where the mapping reads one are the rest of a row cut in two. Some exports
                # leave out the empty cells that end a row: those the mapping does not read
                # lose nothing.
                if len(cells) != width and (
                    "_extra" in row or any(n in read for n in names[len(cells) :])
                ):
                    yield self._faulty(
                        stream,
                        row,
                        "cells",
                        f"line {number} has {_cells(len(cells))}, the header has {width}",
                    )
                    continue
                yield row

    def _faulty(
        self, stream: StreamSpec, row: Mapping[str, Any], problem: str, reason: str
    ) -> Rejected:
        """A row kept aside for a fault of its own (its bytes, its cells, its id taken…), which
        no mapping fixes: ``problem`` tags its raw content so that a re-ingest leaves it."""
        return Rejected(
            self.name,
            stream.name,
            stream.kind,
            prefixed(stream, stream.mapping.source_id(row)),
            raw_json(stream.name, row, problem),
            reason,
        )

    def _check_header(self, stream: StreamSpec, path: Path, names: list[str]) -> None:
        """Every column the stream's mapping (or its cursor) reads is in the file's header: a
        misspelt or renamed column would otherwise leave its field empty in every record. Nor
        is any of them there twice: which of the two holds the value cannot be told."""
        if not any(names):
            raise ConnectorError(
                f"{self.name}/{stream.name}: {path.name}'s first line, where the column names "
                f"go, is blank"
            )
        read = _columns_read(stream)
        cursor = stream.options.get("cursor")
        first_at: dict[str, int] = {}
        for position, name in enumerate(names, 1):
            if name in read and name in first_at:
                raise ConnectorError(
                    f"{self.name}/{stream.name}: {path.name} has the column {name!r} twice "
                    f"(columns {first_at[name]} and {position}) and the mapping reads it: "
                    f"rename or remove one of them"
                )
            first_at.setdefault(name, position)
        present = set(names)
        missing = stream.mapping.missing_columns(present)
        if cursor and str(cursor) not in present:
            missing.append((str(cursor), "cursor"))
        if not missing:
            return
        column, target = missing[0]
        hint = difflib.get_close_matches(column, [n for n in names if n], n=1, cutoff=0.6)
        also = (
            f" (and {len(missing) - 1} more mapped column(s) missing)" if len(missing) > 1 else ""
        )
        raise ConnectorError(
            f"{self.name}/{stream.name}: {path.name} has no column {column!r} (mapped to "
            f"{target}){f'; did you mean {hint[0]!r}?' if hint else ''}{also}. Its columns: "
            f"{', '.join(repr(n) for n in names if n)}"
        )

    def _xlsx_rows(self, stream: StreamSpec, path: Path) -> Iterator[dict[str, Any] | Rejected]:
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as error:  # openpyxl raises many kinds for a bad file
            raise ConnectorError(
                f"{self.name}/{stream.name}: cannot open {path}: {error}"
            ) from None
        try:
            sheet_name = stream.options.get("sheet")
            if sheet_name is not None and sheet_name not in book.sheetnames:
                raise ConnectorError(
                    f"{self.name}/{stream.name}: no sheet {sheet_name!r} in {path.name} "
                    f"(sheets: {', '.join(book.sheetnames)})"
                )
            sheet = book[sheet_name] if sheet_name else book.worksheets[0]
            # The range a file says its sheet spans is written by whoever wrote the file, and
            # some exporters get it wrong: read as far as the rows go, not as far as it says
            # (rows past it were left out without a word).
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()
            # openpyxl's read-only sheets tell neither which empty cells hold a formula never
            # calculated nor which are merged: the sheet's XML does, opened as the reader opens
            # it (_get_source is private to openpyxl: the tests would fail if it went).
            with sheet._get_source() as xml:
                layout = _sheet_layout(xml)
            if layout.unplaced:
                raise ConnectorError(
                    f"{self.name}/{stream.name}: {path.name} holds formulas never calculated in "
                    "cells that do not say where they are: open and save the file in Excel or "
                    "LibreOffice so its values are stored"
                )
            rows = (tuple(_cell_value(cell) for cell in row) for row in sheet.iter_rows())
            header = next(rows, None)
            if header is None:
                return
            names = [str(h).strip() if h is not None else "" for h in header]
            self._check_header(stream, path, names)
            read = _columns_read(stream)
            mapped = {column for column, name in enumerate(names, 1) if name in read}
            merged = _MergedRanges(layout.merged)
            anchors: dict[tuple[int, int], Any] = {}
            # A record's id is its own: an id cell merged over an order's lines would give
            # them all one id, each line then replacing the one before. Those rows keep an
            # empty id (quarantine says so).
            own = {
                column for column, name in enumerate(names, 1) if name in stream.mapping.id.columns
            }
            for number, values in enumerate(rows, 2):
                uncalculated = _uncalculated(layout, number, mapped)
                if not uncalculated and all(
                    v is None or (isinstance(v, str) and not v.strip()) for v in values
                ):
                    continue  # blank (a merged range's value shown over it makes no row)
                if over := merged.over(number):
                    values = _merged_values(over, number, values, len(names), anchors, own)
                    uncalculated += _uncalculated_anchors(layout, over, number, mapped)
                row = {
                    name: value
                    for name, value in zip(names, values, strict=False)
                    if name and value is not None
                }
                if uncalculated:
                    yield self._faulty(
                        stream,
                        row,
                        "formula never calculated",
                        f"row {number} of {path.name}: {_formulas_said(uncalculated)}: open and "
                        "save the file in Excel or LibreOffice so its values are stored",
                    )
                    continue
                # A formula that failed shows its error (#N/A, #REF!…) where the value goes:
                # no value is known there. Taken as one, it became an id "#N/A" or a town.
                errors = [
                    f"{name!r} ({row[name]})"
                    for name in read
                    if isinstance(row.get(name), str) and row[name] in _EXCEL_ERRORS
                ]
                if errors:
                    yield self._faulty(
                        stream,
                        row,
                        "Excel error",
                        f"row {number} of {path.name} holds an Excel error where a value goes: "
                        + ", ".join(sorted(errors)),
                    )
                    continue
                yield row
        finally:
            book.close()


# A number format of zeros only ("00000"): a postcode or an id typed as a number and shown with
# its leading zeros (01000, 007). The number alone has lost them.
_ZERO_PADDED = re.compile(r"0+")


def _cell_value(cell: Any) -> Any:
    """A cell's value as the sheet shows it where it matters: a whole number formatted with
    leading zeros is that text ("01000", not 1000, which no other system writes that way)."""
    value = cell.value
    if type(value) is int or (type(value) is float and value.is_integer()):
        shown = getattr(cell, "number_format", "General")
        if len(shown) > 1 and _ZERO_PADDED.fullmatch(shown):
            return str(int(value)).zfill(len(shown))
    return value


@dataclass
class _SheetLayout:
    """What a sheet's XML says of its cells beside their values."""

    # Row -> column -> formula ("=B2&C2") of the cells holding a formula and no value: a file
    # written by a library (openpyxl…) stores none; Excel and LibreOffice store it on saving.
    uncalculated: dict[int, dict[int, str]] = field(default_factory=dict)
    # (top row, bottom row, left column, right column) of each merged range below the header
    # row, by top row: its cells show the value of its top left one, which alone holds it.
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    # Formulas never calculated in cells that do not say where they are (no r="D3").
    unplaced: int = 0


_XML_CHUNK = 1 << 20
# The prefix of the sheet's namespace, if its writer used one (<x:worksheet>, <x:c>…).
_SHEET_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?worksheet\b")
_ATTRIBUTE = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_COORDINATE = re.compile(r"\$?([A-Za-z]{1,3})\$?([1-9][0-9]*)")


def _sheet_layout(source: IO[bytes], chunk_size: int = _XML_CHUNK) -> _SheetLayout:
    """The formulas never calculated and the merged ranges of a sheet, from its XML. A search
    for their tags, not a parse: it takes a few hundredths of the time openpyxl takes to read
    the sheet, and the workbook is not read a second time."""
    chunks = iter(lambda: source.read(chunk_size), b"")
    head = b""
    for chunk in chunks:
        head += chunk
        if _SHEET_ROOT.search(head) or len(head) >= _XML_CHUNK:
            break
    root = _SHEET_ROOT.search(head)
    name_prefix = root[1] or b"" if root else b""
    prefix = re.escape(name_prefix)
    # Where a formula or a merged range starts. A formula is the first element in its cell.
    tags = re.compile(b"<" + prefix + rb"(?:(f)[\s/>]|mergeCell\b)")
    formula_cell = re.compile(
        b"<" + prefix + rb"c\b(?P<cell>[^>]*)>\s*<" + prefix + rb"f\b(?P<attributes>[^>]*?)"
        rb"(?:/>|>(?P<formula>[^<]*)</" + prefix + rb"f>)\s*(?:<" + prefix + rb"v\b[^>]*?"
        rb"(?:/>|>(?P<value>[^<]*)</" + prefix + rb"v>))?"
    )
    cell_start = b"<" + name_prefix + b"c"
    layout = _SheetLayout()
    shared: dict[str, tuple[str, str]] = {}  # the first cell of each shared formula
    for piece in _xml_pieces(itertools.chain((head,), chunks), cell_start):
        for tag in tags.finditer(piece):
            if tag[1] is None:
                merge = _attributes(piece[tag.end() : piece.find(b">", tag.end())])
                _add_merged(layout, merge.get("ref", ""))
                continue
            start = piece.rfind(cell_start, 0, tag.start())
            cell = formula_cell.match(piece, start) if start >= 0 else None
            if cell is None or cell.start("attributes") != tag.end(1):
                continue  # not a cell as the reader knows them: it reads it as it can
            _add_formula(layout, shared, cell)
    layout.merged.sort()
    return layout


def _xml_pieces(chunks: Iterable[bytes], cut_before: bytes) -> Iterator[bytes]:
    """The chunks' bytes in pieces, each cut just before the last ``cut_before`` it holds (where
    a cell starts): no cell is cut in two, nor any tag before it."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        cut = pending.rfind(cut_before)
        if cut > 0:
            yield pending[:cut]
            pending = pending[cut:]
    yield pending


def _add_formula(layout: _SheetLayout, shared: dict[str, tuple[str, str]], cell: Any) -> None:
    """Note a formula cell's formula if it holds no value (an empty text is a value)."""
    calculated = bool(cell["value"])
    sharing = cell["attributes"]
    if calculated and b"shared" not in sharing:
        return  # nearly every formula of a file Excel or LibreOffice saved
    text = (cell["formula"] or b"").decode("utf-8", "replace")
    text = html.unescape(text) if "&" in text else text
    cell_attributes = _attributes(cell["cell"])
    coordinate = cell_attributes.get("r", "")
    if b"shared" in sharing and "si" in (formula_attributes := _attributes(sharing)):
        # A formula filled over cells is stored once, in the first; the others refer to it.
        index = formula_attributes["si"]
        if text:
            shared[index] = (f"={text}", coordinate)
        elif index in shared and coordinate and not calculated:
            from openpyxl.formula.translate import Translator

            formula, origin = shared[index]
            try:
                text = Translator(formula, origin).translate_formula(coordinate)[1:]
            except Exception:  # a formula openpyxl cannot parse: said without it
                text = ""
    if calculated or cell_attributes.get("t") == "str":
        return
    place = _COORDINATE.fullmatch(coordinate)
    if place is None:
        layout.unplaced += 1
        return
    column = 0
    for letter in place[1].upper():
        column = column * 26 + ord(letter) - ord("A") + 1
    layout.uncalculated.setdefault(int(place[2]), {})[column] = f"={text}" if text else ""


def _attributes(tag: bytes) -> dict[str, str]:
    """The attributes written in a tag (``r="D3" t="str"``), by name."""
    return {
        match[1].decode("ascii", "replace"): (match[2] or match[3] or b"").decode(
            "utf-8", "replace"
        )
        for match in _ATTRIBUTE.finditer(tag)
    }


def _add_merged(layout: _SheetLayout, ref: str) -> None:
    """Note a merged range ("D2:D4") whose cells below the header row read its value."""
    from openpyxl.utils.cell import range_boundaries

    try:
        left, top, right, bottom = range_boundaries(ref)
    except (ValueError, TypeError):
        return
    # Whole rows or columns; a range from the header row, whose name is no value of the rows
    # below; a range of one cell.
    if None in (left, top, right, bottom) or top < 2 or (left, top) == (right, bottom):
        return
    layout.merged.append((top, bottom, left, right))


class _MergedRanges:
    """The merged ranges over each row, as the rows are read from the top."""

    def __init__(self, ranges: list[tuple[int, int, int, int]]) -> None:
        self._coming = sorted(ranges, reverse=True)
        self._over: list[tuple[int, int, int, int]] = []

    def over(self, number: int) -> list[tuple[int, int, int, int]]:
        if self._over:
            self._over = [merged for merged in self._over if merged[1] >= number]
        while self._coming and self._coming[-1][0] <= number:
            merged = self._coming.pop()
            if merged[1] >= number:
                self._over.append(merged)
        return self._over


def _merged_values(
    over: list[tuple[int, int, int, int]],
    number: int,
    values: tuple[Any, ...],
    width: int,
    anchors: dict[tuple[int, int], Any],
    own: set[int],
) -> tuple[Any, ...]:
    """A row's values (as far as the header's ``width``) with those of the merged ranges
    ``over`` it: ``anchors`` keeps the value of each range's top left cell from its row on.
    The columns in ``own`` (a record's id) are left as they are below a range's top row."""
    filled = list(values)
    for top, _, left, right in over:
        if top == number:
            anchors[top, left] = filled[left - 1] if left <= len(filled) else None
        value = anchors.get((top, left))
        right = min(right, width)
        if value is None or left > right:
            continue
        filled.extend([None] * (right - len(filled)))
        for column in range(left, right + 1):
            if top == number or column not in own:
                filled[column - 1] = value
    return tuple(filled)


def _uncalculated(layout: _SheetLayout, number: int, mapped: set[int]) -> list[tuple[str, str]]:
    """The cells of a row that the mapping reads and that hold a formula never calculated, with
    their formulas."""
    formulas = layout.uncalculated.get(number)
    if not formulas:
        return []
    from openpyxl.utils import get_column_letter

    return [
        (f"{get_column_letter(column)}{number}", formula)
        for column, formula in formulas.items()
        if column in mapped
    ]


def _uncalculated_anchors(
    layout: _SheetLayout, over: list[tuple[int, int, int, int]], number: int, mapped: set[int]
) -> list[tuple[str, str]]:
    """The top left cells holding a formula never calculated of the merged ranges ``over`` a
    row (below their top row), where the range covers a column the mapping reads."""
    from openpyxl.utils import get_column_letter

    return [
        (f"{get_column_letter(left)}{top}", layout.uncalculated[top][left])
        for top, _, left, right in over
        if top != number
        and left in layout.uncalculated.get(top, {})
        and any(column in mapped for column in range(left, right + 1))
    ]


def _formulas_said(cells: list[tuple[str, str]]) -> str:
    """'cell D3 holds a formula never calculated (=B3&C3)', in one line whatever the formulas."""
    shown = [
        (cell, formula if len(formula) <= 80 else formula[:79] + "…") for cell, formula in cells
    ]
    if len(shown) == 1:
        cell, formula = shown[0]
        return f"cell {cell} holds a formula never calculated" + (
            f" ({formula})" if formula else ""
        )
    listed = ", ".join(f"{cell} ({formula})" if formula else cell for cell, formula in shown)
    return f"cells {listed} hold formulas never calculated"


# What a spreadsheet cell shows when its formula failed.
_EXCEL_ERRORS = frozenset(
    {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!"}
)

# Bytes that are not text in the file's encoding, as the surrogateescape decoding keeps them.
_BAD_BYTES = re.compile("[\udc80-\udcff]")


def _records(lines: Iterable[str], delimiter: str, where: str) -> Iterator[tuple[int, list[str]]]:
    """The rows of a file's lines, each with the line it starts on; fails with one line saying
    where on a quote never closed and on what the csv module cannot read."""
    reader = csv.reader(itertools.chain(lines, (_END_OF_FILE,)), delimiter=delimiter)
    number = 1
    try:
        for cells in reader:
            if cells and cells[-1].endswith(_END_OF_FILE):
                if cells == [_END_OF_FILE]:
                    return
                raise ConnectorError(
                    f"{where} line {_quote_line(cells[-1], reader.line_num)}: a quote opened "
                    f"here is never closed; the rest of the file would read as one value"
                )
            yield number, cells
            number = reader.line_num + 1
    except csv.Error as error:
        raise ConnectorError(f"{where} line {reader.line_num}: {error}") from None


def _quote_line(value: str, lines_read: int) -> int:
    """The line where a quote never closed opened: its value runs from there to the end of the
    file (then the marker, a line of its own), so count back its line breaks."""
    value = value.removesuffix(_END_OF_FILE)
    opened = lines_read - 1 - len(_LINE_BREAK.findall(value))
    # A line break ending the file's last line starts no line of the value.
    return opened + 1 if value.endswith(("\n", "\r")) else opened


def _updated_at(stream: StreamSpec, row: Mapping[str, Any]) -> datetime | None:
    """A row's updated_at as its mapping reads it (None where it has none, or no good one)."""
    rule = stream.mapping.updated_at
    if rule is None:
        return None
    try:
        return rule.extract_datetime(row)
    except (MappingError, ValueError):
        return None


def _columns_read(stream: StreamSpec) -> set[str]:
    """The columns the stream's mapping (and its cursor) reads."""
    mapping = stream.mapping
    rules = (mapping.id, *mapping.fields, mapping.updated_at, mapping.deleted)
    read = {column for rule in rules if rule is not None for column in rule.columns}
    cursor = stream.options.get("cursor")
    if cursor:
        read.add(str(cursor))
    return read


def _cells(count: int) -> str:
    return "1 cell" if count == 1 else f"{count} cells"


def _visible(text: Any) -> Any:
    if isinstance(text, str):
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


def _formats(value: Any) -> list[str]:
    if value is None:
        return ["iso", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"]
    return [value] if isinstance(value, str) else list(value)


def _cursor_value(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value))


__all__ = ["CsvConnector", "MappingError", "SourceRecord", "detect_delimiter", "detect_encoding"]
