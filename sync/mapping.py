"""Declarative field mapping: a system's columns → canonical fields, with small named transforms.

A stream's mapping is configuration (a TOML table), not code, so a supervisor can connect a new
export without a developer::

    id = "Code client"                       # the record's id in the system (or a list)
    updated_at = { column = "Modifié le", datetime = "%d/%m/%Y %H:%M", timezone = "Europe/Paris" }
    deleted = { column = "Supprimé", type = "bool" }

    [fields]
    given_name = "Prénom"                    # a column, as it is (trimmed)
    family_name = { column = "NOM", case = "title" }
    birth_date = { column = "Né(e) le", date = "%d/%m/%Y" }
    phone = { column = "Tél", phone_region = "FR" }
    amount = { column = "Montant", decimal = "," }
    channel = { value = "store" }            # a constant
    full_name = { column = "Client", split_name = "family_given" }
    status = { column = "Opt-in", map = { O = "granted", N = "denied" } }

Named transforms of a field rule, applied in this order: ``column`` / ``columns`` (+ ``join``)
/ ``value`` → trim (``strip = false`` keeps spaces) → ``default`` when empty → ``map`` →
``split`` (a list) → one of ``date``, ``datetime`` (+ ``timezone``), ``decimal``, ``type``
(``int``, ``float``, ``bool``, ``str``), ``phone_region`` → ``case`` (``lower``, ``upper``,
``title``) → ``split_name`` (``given_family`` or ``family_given``: fills ``given_name`` and
``family_name``). ``required = true`` rejects a row whose value is empty.

A column name may be a dotted path into nested JSON (``customer.email``). A row that cannot be
mapped raises :class:`MappingError`; the connector turns it into a quarantined rejection.

Canonical fields are the names ingest reads (README, "Sources"): customers' identity and
contact fields, interactions' ``customer_ref``, ``occurred_at``, ``channel``, ``kind``,
``direction``, ``summary``, ``details``, ``status``, ``amount``, ``currency`` and ``items``
(an order's lines: a list of ``{sku, name, quantity, unit_price, category?, currency?}``, or that
list as JSON text from a CSV column; passed through as read and checked by ingest), consents'
``purpose``, ``status``, ``channel`` and ``collected_at``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from sync.records import RecordKind, SourceRecord

_RULE_KEYS = frozenset(
    {
        "column",
        "columns",
        "join",
        "value",
        "strip",
        "default",
        "map",
        "split",
        "date",
        "datetime",
        "timezone",
        "decimal",
        "type",
        "phone_region",
        "case",
        "split_name",
        "required",
    }
)
_CONVERSIONS = ("date", "datetime", "decimal", "type", "phone_region")
_TYPES = ("int", "float", "bool", "str")
_TRUE = frozenset({"1", "true", "yes", "y", "oui", "o", "vrai", "x", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "non", "faux", "f", ""})
_MAPPING_KEYS = frozenset({"id", "updated_at", "deleted", "fields", "filter"})
# Types of a database's values that a rule naming one column makes plain without its other
# steps (none of which changes them): see StreamMapping.apply.
_SCALARS = frozenset({datetime, date, Decimal, int, bool})
# Canonical fields that hold one value: a JSON source that sends a list or an object there (an
# API's ``"first": ["Anne"]``, ``"id": {"value": 7}``) has its row kept in quarantine rather than
# its text (``['Anne']``) taken for a name. A one-value list is that value. The others
# (``email``, ``phone``, ``interests``, ``items`` …) may hold lists.
ONE_VALUE = frozenset(
    {"given_name", "family_name", "full_name", "birth_date", "street", "postcode", "city",
     "country", "loyalty_card", "loyalty_tier", "vip", "language", "twitter", "instagram",
     "facebook", "tiktok", "linkedin", "followers", "customer_since", "customer_ref",
     "occurred_at", "channel", "kind", "direction", "summary", "status", "amount", "currency",
     "purpose", "preferred_channel", "preferred_store"}
)  # fmt: skip
# Every field the cache reads (the others are kept with the record, read by nothing).
CANONICAL = ONE_VALUE | {
    "email",
    "phone",
    "interests",
    "items",
    "details",
    "crm_id",
    "collected_at",
}
_ABSENT = object()  # a column a row does not have (``row.get``'s default)


class ConfigError(ValueError):
    """A sources-file setting that cannot work; ``key`` is its dotted path."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class MappingError(ValueError):
    """A row that cannot be mapped; the message is the quarantine reason."""

    def __init__(self, message: str, source_id: str | None = None) -> None:
        super().__init__(message)
        self.source_id = source_id


def raw_json(stream: str, row: Mapping[str, Any], problem: str | None = None) -> str:
    """The raw row as kept in quarantine (re-mappable later with a fixed mapping). ``problem``:
    what is wrong with the row itself (its cells, its bytes, its id taken), which no mapping
    fixes: mapped again, such a row stays where it is."""
    kept: dict[str, Any] = {"stream": stream, "row": dict(row)}
    if problem:
        kept["problem"] = problem
    return json.dumps(kept, ensure_ascii=False, sort_keys=True, default=str)


def lookup(row: Mapping[str, Any], column: str) -> Any:
    """A column's value; a dotted path walks into nested objects when no column has that name."""
    if column in row:
        return row[column]
    if "." not in column:
        return None
    value: Any = row
    for part in column.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


@dataclass(frozen=True)
class FieldRule:
    target: str
    columns: tuple[str, ...] = ()
    join: str = " "
    value: Any = None
    has_value: bool = False
    strip: bool = True
    default: Any = None
    value_map: Mapping[str, Any] | None = None
    split: str | None = None
    date_formats: tuple[str, ...] = ()
    datetime_formats: tuple[str, ...] = ()
    timezone: Any = UTC
    decimal: str | None = None
    type: str | None = None
    phone_region: str | None = None
    case: str | None = None
    split_name: str | None = None
    required: bool = False
    _plain_column: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Most rules name one column and transform nothing: they take a short way per row.
        plain_column = (
            len(self.columns) == 1
            and not self.has_value
            and self.strip
            and self.default is None
            and self.value_map is None
            and self.split is None
            and not self.date_formats
            and not self.datetime_formats
            and self.decimal is None
            and self.type is None
            and self.phone_region is None
            and self.case is None
            and self.split_name is None
            and not self.required
        )
        object.__setattr__(self, "_plain_column", self.columns[0] if plain_column else None)

    @classmethod
    def parse(cls, target: str, spec: Any, key: str) -> FieldRule:
        if isinstance(spec, str):
            return cls(target=target, columns=(spec,))
        if not isinstance(spec, Mapping):
            raise ConfigError('a field is a column name or a table such as { column = "…" }', key)
        unknown = sorted(set(spec) - _RULE_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(_RULE_KEYS))})",
                f"{key}.{unknown[0]}",
            )
        sources = [k for k in ("column", "columns", "value") if k in spec]
        if len(sources) != 1:
            raise ConfigError("give exactly one of column, columns or value", key)
        columns: tuple[str, ...] = ()
        if "column" in spec:
            columns = (_string(spec["column"], f"{key}.column"),)
        if "columns" in spec:
            items = spec["columns"]
            if not isinstance(items, list) or not items:
                raise ConfigError("columns is a non-empty list of column names", f"{key}.columns")
            columns = tuple(_string(c, f"{key}.columns") for c in items)
        conversions = [k for k in _CONVERSIONS if k in spec]
        if len(conversions) > 1:
            raise ConfigError(
                f"choose one of {', '.join(conversions)} (a value is converted once)", key
            )
        value_map = spec.get("map")
        if value_map is not None and not isinstance(value_map, Mapping):
            raise ConfigError("map is a table of value = replacement", f"{key}.map")
        kind = spec.get("type")
        if kind is not None and kind not in _TYPES:
            raise ConfigError(f"type is one of {', '.join(_TYPES)}", f"{key}.type")
        case = spec.get("case")
        if case is not None and case not in ("lower", "upper", "title"):
            raise ConfigError("case is lower, upper or title", f"{key}.case")
        split_name = spec.get("split_name")
        if split_name is not None and split_name not in ("given_family", "family_given"):
            raise ConfigError("split_name is given_family or family_given", f"{key}.split_name")
        decimal = spec.get("decimal")
        if decimal is not None and decimal not in (",", "."):
            raise ConfigError('decimal is "," or "."', f"{key}.decimal")
        region = spec.get("phone_region")
        if region is not None:
            region = _string(region, f"{key}.phone_region").upper()
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise ConfigError(f"unknown phone region {region!r}", f"{key}.phone_region")
        timezone: Any = UTC
        if "timezone" in spec:
            try:
                timezone = ZoneInfo(_string(spec["timezone"], f"{key}.timezone"))
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(
                    f"unknown time zone {spec['timezone']!r}", f"{key}.timezone"
                ) from None
        return cls(
            target=target,
            columns=columns,
            join=_string(spec.get("join", " "), f"{key}.join"),
            value=spec.get("value"),
            has_value="value" in spec,
            strip=flag(spec, "strip", True, key),
            default=spec.get("default"),
            value_map={str(k): v for k, v in value_map.items()} if value_map else None,
            split=_string(spec["split"], f"{key}.split") if "split" in spec else None,
            date_formats=_formats(spec.get("date"), f"{key}.date"),
            datetime_formats=_formats(spec.get("datetime"), f"{key}.datetime"),
            timezone=timezone,
            decimal=decimal,
            type=kind,
            phone_region=region,
            case=case,
            split_name=split_name,
            required=flag(spec, "required", False, key),
        )

    def extract(self, row: Mapping[str, Any]) -> Any:
        """The rule's output for a row (``None`` when empty); raises MappingError."""
        column = self._plain_column
        if column is not None:
            value = row[column] if column in row else lookup(row, column)
            if value is None:
                return None
            if isinstance(value, str):
                return value.strip() or None
            # Other values (a database's dates, numbers …) take the general way below.
        if self.has_value:
            value = self.value
        elif len(self.columns) == 1:
            value = lookup(row, self.columns[0])
        else:
            parts = [lookup(row, c) for c in self.columns]
            value = self.join.join(str(p).strip() for p in parts if not _empty(p)) or None
        if isinstance(value, str) and self.strip:
            value = value.strip()
        if _empty(value):
            value = self.default
        if _empty(value):
            if self.required:
                raise MappingError(f"{self.target}: {self.missing(row)}")
            return None
        if self.value_map is not None:
            value = self.value_map.get(str(value), value)
        if self.split is not None and isinstance(value, str):
            items = [p.strip() for p in value.split(self.split)]
            return [self._convert(p) for p in items if p] or None
        return self._convert(value)

    def extract_datetime(self, row: Mapping[str, Any]) -> datetime | None:
        """The rule's output for a row as an aware datetime (``updated_at``): the ISO text
        :meth:`extract` gives, read back; a column's datetime is taken as it is instead (a
        naive one in ``timezone``): the same time, with the same ISO text."""
        column = self._plain_column
        if column is not None and type(value := row.get(column)) is datetime:
            return value if value.tzinfo else value.replace(tzinfo=self.timezone)
        stamp = self.extract(row)
        return None if stamp is None else datetime.fromisoformat(str(stamp))

    def _where(self) -> str:
        return f"column {self.columns[0]!r}" if len(self.columns) == 1 else "value"

    def missing(self, row: Mapping[str, Any]) -> str:
        """Why the rule found nothing in a row: an empty value, or columns the row lacks (a
        mistyped column name: the row's own columns are named, to fix the mapping)."""
        absent = [c for c in self.columns if not _present(row, c)]
        if not absent:
            return f"empty {self._where()}"
        names = [str(k) for k in row]
        shown = ", ".join(repr(n) for n in names[:12]) + (", …" if len(names) > 12 else "")
        columns = "columns" if len(absent) > 1 else "column"
        listed = ", ".join(repr(c) for c in absent)
        return f"no {columns} {listed} in the row (it has {shown or 'no columns'})"

    def _convert(self, value: Any) -> Any:
        try:
            if self.date_formats:
                value = _to_date(value, self.date_formats).isoformat()
            elif self.datetime_formats:
                value = to_datetime(value, self.datetime_formats, self.timezone).isoformat()
            elif self.decimal is not None:
                value = _to_decimal(value, self.decimal)
            elif self.type is not None:
                value = _to_type(value, self.type)
            elif self.phone_region is not None:
                value = _to_phone(value, self.phone_region)
            else:
                value = plain(value, self.timezone)
        except (ValueError, TypeError, ArithmeticError) as error:
            raise MappingError(f"{self.target}: {error}") from None
        if self.case and isinstance(value, str):
            value = {"lower": str.lower, "upper": str.upper, "title": str.title}[self.case](value)
        return value


@dataclass(frozen=True)
class RowFilter:
    """Keep only rows whose mapped field is one of the values (e.g. one store's customers)."""

    field: str
    values: frozenset[str]

    def keeps(self, fields: Mapping[str, Any]) -> bool:
        value = fields.get(self.field)
        if isinstance(value, list):
            return any(str(v) in self.values for v in value)
        return value is not None and str(value) in self.values


@dataclass(frozen=True)
class StreamMapping:
    id: FieldRule
    fields: tuple[FieldRule, ...]
    updated_at: FieldRule | None = None
    deleted: FieldRule | None = None
    filters: tuple[RowFilter, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, spec: Mapping[str, Any], key: str) -> StreamMapping:
        """Build from a stream table (``id``, ``updated_at``, ``deleted``, ``fields``, ``filter``;
        other keys belong to the connector and are ignored here)."""
        if "id" not in spec:
            raise ConfigError('a stream needs id = "column" (the record\'s id there)', key)
        id_spec = spec["id"]
        if isinstance(id_spec, list):
            id_spec = {"columns": id_spec, "join": ":"}
        id_rule = FieldRule.parse("id", id_spec, f"{key}.id")
        fields_spec = spec.get("fields")
        if not isinstance(fields_spec, Mapping) or not fields_spec:
            raise ConfigError("a stream needs a [fields] table mapping columns", f"{key}.fields")
        rules = tuple(
            FieldRule.parse(str(name), rule, f"{key}.fields.{name}")
            for name, rule in fields_spec.items()
        )
        updated = spec.get("updated_at")
        deleted = spec.get("deleted")
        if isinstance(deleted, str):
            deleted = {"column": deleted, "type": "bool"}
        return cls(
            id=id_rule,
            fields=rules,
            updated_at=(
                FieldRule.parse("updated_at", updated, f"{key}.updated_at") if updated else None
            ),
            deleted=FieldRule.parse("deleted", deleted, f"{key}.deleted") if deleted else None,
            filters=_filters(spec.get("filter"), f"{key}.filter"),
        )

    def missing_columns(self, present: Collection[str]) -> list[tuple[str, str]]:
        """The columns the mapping reads that a header without them would leave empty in every
        row, each with its rule's target: a rule's column, or the first of a rule joining
        several when none of them is there (one may be absent: an address complement); not
        those of a rule with a ``default`` (it stands in for a missing value)."""
        out: list[tuple[str, str]] = []
        for rule in (self.id, *self.fields, self.updated_at, self.deleted):
            if rule is None or not rule.columns or rule.default is not None:
                continue
            if not any(column in present for column in rule.columns):
                out.append((rule.columns[0], rule.target))
        return out

    def source_id(self, row: Mapping[str, Any]) -> str | None:
        column = self.id._plain_column
        if column is not None and type(value := row.get(column)) is str:
            return value.strip() or None  # (``extract``'s short way, without its call)
        try:
            value = one_value(self.id, self.id.extract(row))
        except MappingError:
            return None
        return None if value is None else str(value)

    def apply(self, source: str, kind: RecordKind, row: Mapping[str, Any]) -> SourceRecord:
        source_id = self.source_id(row)
        if not source_id:
            try:
                one_value(self.id, self.id.extract(row))
            except MappingError as error:  # a list or an object where the id should be
                raise MappingError(f"no id ({error})") from None
            raise MappingError(f"no id ({self.id.missing(row)})")
        fields: dict[str, Any] = {}
        try:
            for rule in self.fields:
                column = rule._plain_column
                if column is not None:
                    # ``extract``'s short ways, without its calls: most fields of most rows.
                    value = row.get(column, _ABSENT)
                    if type(value) is str:
                        if value := value.strip():
                            fields[rule.target] = value
                        continue
                    if value is None:
                        continue
                    if type(value) in _SCALARS:  # a database's dates, numbers …
                        fields[rule.target] = plain(value, rule.timezone)
                        continue
                value = rule.extract(row)
                if value is None:
                    continue
                if type(value) is list or type(value) is dict:
                    value = one_value(rule, value)
                    if value is None:
                        continue
                if rule.split_name:
                    given, family = split_full_name(str(value), rule.split_name)
                    if given:
                        fields["given_name"] = given
                    if family:
                        fields["family_name"] = family
                else:
                    fields[rule.target] = value
            updated_at = None
            if self.updated_at is not None:
                updated_at = self.updated_at.extract_datetime(row)
            deleted = False
            if self.deleted is not None:
                deleted = bool(self.deleted.extract(row))
        except MappingError as error:
            raise MappingError(str(error), source_id) from None
        except ValueError as error:
            raise MappingError(f"updated_at: {error}", source_id) from None
        return SourceRecord(source, source_id, kind, fields, updated_at=updated_at, deleted=deleted)

    def keeps(self, record: SourceRecord) -> bool:
        return not self.filters or all(f.keeps(record.fields) for f in self.filters)


def canonical_meant(name: str) -> str | None:
    """The canonical field a mapped field's name looks like a typo of (``givn_name``:
    ``given_name``), or None. A field of one's own may be mapped (it is kept with the record,
    read by nothing), so this refuses nothing: the quarantine says it where the typo shows, a
    record left without a name. Names that extend a canonical one (``street2``,
    ``email_work``) are one's own."""
    if name in CANONICAL or any(
        name.startswith(canonical) and not name[len(canonical)].isalpha()
        for canonical in CANONICAL
        if len(name) > len(canonical)
    ):
        return None
    close = difflib.get_close_matches(name, sorted(CANONICAL), n=1, cutoff=0.8)
    return close[0] if close else None


def one_value(rule: FieldRule, value: Any) -> Any:
    """``value`` where the rule's field holds one value: a one-value list is that value; an
    object, or a list of several, raises MappingError (the row goes to quarantine). Other
    fields' values pass as they are."""
    if rule.split is not None or (rule.target != "id" and rule.target not in ONE_VALUE):
        return value
    if isinstance(value, list) and len(value) <= 1:
        value = value[0] if value else None
    if isinstance(value, Mapping):
        keys = ", ".join(repr(str(k)) for k in list(value)[:4]) or "none"
        where = f"; map one of its keys ({rule.columns[0]}.key)" if rule.columns else ""
        raise MappingError(f"{rule.target}: an object (keys {keys}) where one value goes{where}")
    if isinstance(value, list):
        raise MappingError(f"{rule.target}: a list of {len(value)} values where one value goes")
    return value


# Particles that open a family name ('Anne de la Tour', 'Le Goff Anne', 'Van der Berg'); the
# matching's name normaliser splits names by the same list. Not those that are also given
# names ('Ben', 'Al', 'El'): 'Ben Smith' is Ben, Smith.
FAMILY_PARTICLES = frozenset(
    {"de", "du", "des", "la", "le", "les", "d", "l", "van", "von", "der", "den", "da", "di",
     "dos", "das", "do", "del", "della", "ter", "ten", "st", "saint", "sainte"}
)  # fmt: skip


def _particle(word: str) -> bool:
    """A word opening a family name ('de', 'Le', "L'", 'St.'); one letter and a full stop is
    an initial ('L. Boucher': the given name abbreviated)."""
    bare = word.casefold().rstrip(".'’")
    return bare in FAMILY_PARTICLES and not (len(bare) == 1 and word.endswith("."))


def split_full_name(text: str, order: str) -> tuple[str, str]:
    """``"MICHU Jocelyne"`` → (given, family). An all-capitals word is the family name whatever
    the order (French habit); otherwise ``order`` decides where the family name is. Particles
    stay with the family name they open: 'Anne de la Tour' → ('Anne', 'de la Tour')."""
    words = text.split()
    if len(words) < 2:
        return ("", words[0]) if words else ("", "")
    # (An initial, 'L.', is not a name in capitals.)
    capitals = [i for i, w in enumerate(words) if len(w.rstrip(".")) > 1 and w.isupper()]
    if capitals and len(capitals) < len(words):
        start = capitals[0]
        while start > 0 and _particle(words[start - 1]) and start - 1 not in capitals:
            start -= 1  # 'Anne de la TOUR': the particles before the capitals are the family's
        family_at = set(capitals) | set(range(start, capitals[0]))
        family = " ".join(w for i, w in enumerate(words) if i in family_at)
        given = " ".join(w for i, w in enumerate(words) if i not in family_at)
        return given, family
    if order == "family_given":
        end = 0
        while end < len(words) - 1 and _particle(words[end]):
            end += 1  # 'de la Tour Anne': the family name opens with its particles
        return " ".join(words[end + 1 :]), " ".join(words[: end + 1])
    start = len(words) - 1
    while start > 0 and _particle(words[start - 1]):
        start -= 1
    return " ".join(words[:start]), " ".join(words[start:])


def plain(value: Any, timezone: Any = UTC) -> Any:
    """A JSON-safe value: dates as ISO text, decimals as text, naive datetimes in ``timezone``."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("bytes that are not UTF-8 text") from None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v, timezone) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [plain(v, timezone) for v in value]
    return str(value)


def _to_date(value: Any, formats: tuple[str, ...]) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"unparseable date {text!r} (expected {' or '.join(formats)})")


def to_datetime(value: Any, formats: Sequence[str], timezone: Any = UTC) -> datetime:
    """An aware datetime from a value or text in one of ``formats`` (``iso`` for ISO 8601);
    naive results are taken in ``timezone``."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and "epoch" in formats:
        return datetime.fromtimestamp(value, UTC)
    else:
        text = str(value).strip()
        parsed_or_none: datetime | None = None
        for fmt in formats:
            try:
                if fmt == "iso":
                    parsed_or_none = datetime.fromisoformat(text.replace("Z", "+00:00"))
                elif fmt == "epoch":
                    parsed_or_none = datetime.fromtimestamp(float(text), UTC)
                else:
                    parsed_or_none = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if parsed_or_none is None:
            raise ValueError(f"unparseable date-time {text!r} (expected {' or '.join(formats)})")
        parsed = parsed_or_none
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone)


_DECIMAL_JUNK = re.compile(r"[\s\u00a0\u202f€$£]")
# The other separator may only group thousands: "1.234,50", "1,234.50", "-12.345.678".
_GROUPED = {
    ",": re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d*)?"),
    # (and the Indian way: lakhs and crores, "1,23,456.78")
    ".": re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d{1,2}(?:,\d{2})*,\d{3})(?:\.\d*)?"),
}


def _to_decimal(value: Any, separator: str) -> str:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(Decimal(str(value)))
    text = _DECIMAL_JUNK.sub("", str(value))
    other = "." if separator == "," else ","
    if other in text:
        # "12.50" where the decimal separator is "," is not 1250: a value in the other
        # convention (or a typo) goes to quarantine rather than in the cache a hundred times
        # too big. Only groups of three digits are thousands.
        if not _GROUPED[separator].fullmatch(text):
            raise ValueError(
                f"unparseable number {value!r} (the decimal separator is {separator!r}; "
                f"{other!r} only groups thousands)"
            )
        text = text.replace(other, "")
    text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"unparseable number {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"unparseable number {value!r}")
    return str(amount)


def _to_type(value: Any, kind: str) -> Any:
    if kind == "str":
        return str(plain(value))
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"not a yes/no value: {value!r}")
    if kind == "int":
        if isinstance(value, bool):
            return int(value)
        text = _DECIMAL_JUNK.sub("", str(value))
        try:
            number = Decimal(text.replace(",", "."))
        except InvalidOperation:
            raise ValueError(f"not a whole number: {value!r}") from None
        # '1e1000000' parses instantly but int() of it takes minutes: no count is that big.
        if not number.is_finite() or number.adjusted() > 18:
            raise ValueError(f"not a plausible whole number: {value!r}")
        if number != number.to_integral_value():  # '1,5' is no count ('1.234' no thousand)
            raise ValueError(f"not a whole number: {value!r}")
        return int(number)
    try:
        return float(str(value).replace(",", "."))
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None


def _to_phone(value: Any, region: str) -> str:
    text = str(value).strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return text  # kept as given: ingest marks it invalid rather than losing it
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _present(row: Mapping[str, Any], column: str) -> bool:
    """Whether a row has a column (or a dotted path to a value, even an empty one)."""
    if column in row:
        return True
    if "." not in column:
        return False
    value: Any = row
    for part in column.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False
    return True


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def flag(spec: Mapping[str, Any], name: str, default: bool, key: str) -> bool:
    """A yes/no setting: a TOML true or false. Text is refused: ``"false"`` is not false."""
    value = spec.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{name} is true or false (without quotes)", f"{key}.{name}")
    return value


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError("expected text", key)
    return value


def _formats(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError('a format such as "%d/%m/%Y", or a list of them', key)


def _filters(spec: Any, key: str) -> tuple[RowFilter, ...]:
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        raise ConfigError('filter is a table such as { preferred_store = ["Lyon"] }', key)
    filters = []
    for name, values in spec.items():
        items = values if isinstance(values, list) else [values]
        filters.append(RowFilter(str(name), frozenset(str(v) for v in items)))
    return tuple(filters)


__all__ = [
    "ConfigError",
    "FieldRule",
    "MappingError",
    "RowFilter",
    "StreamMapping",
    "flag",
    "lookup",
    "plain",
    "raw_json",
    "split_full_name",
    "to_datetime",
]
