"""The sources file: a TOML file listing the company systems to sync, their streams and mappings.

It lives in the user's config directory (``sources.toml``); every command takes ``--sources
FILE`` instead. Secrets are never in it: a setting ending in ``_secret`` (or ``secret`` in an
``auth`` table) names an entry of the keychain, stored with ``customer-card sources set-secret
NAME``. Every error names the file, the line and the key at fault.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from sync.connector import (
    Connector,
    ConnectorError,
    MissingSecretError,
    SecretLookup,
    StreamSpec,
)
from sync.mapping import ConfigError, StreamMapping, flag
from sync.records import RecordKind

FILE_NAME = "sources.toml"
KEYRING_SERVICE = "customer-card-sources"

_SOURCE_COMMON = frozenset({"type", "streams", "schedule", "enabled", "description"})
_STREAM_COMMON = frozenset(
    {"kind", "full_extract", "id", "updated_at", "deleted", "fields", "filter"}
)
# Words that must not appear as setting names: the value would be a secret in clear.
_SECRET_WORDS = re.compile(r"(^|_)(password|passwd|token|api_key|apikey|secret_value)$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SCHEDULE = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# Connector modules by source type, imported on first use: a window with no REST source never
# pays for httpx, nor one without a SQL source for the dialects.
CONNECTORS: dict[str, str] = {
    "csv": "sync.csv_source",
    "sql": "sync.sql_source",
    "rest": "sync.rest_source",
    "singer": "sync.singer_source",
}


def connector_module(kind: str) -> ModuleType:
    return importlib.import_module(CONNECTORS[kind])


class SourcesError(Exception):
    """The sources file cannot be used: one line naming the file, line and key."""


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    settings: Mapping[str, Any]
    streams: tuple[StreamSpec, ...]
    schedule_seconds: int | None = None
    enabled: bool = True
    base_dir: Path = field(default_factory=Path)

    def connector(self, secrets: SecretLookup) -> Connector:
        module = connector_module(self.type)
        connector: Connector = module.create(self, secrets)
        return connector


@dataclass(frozen=True)
class SourcesFile:
    path: Path
    sources: Mapping[str, SourceConfig]

    def select(self, name: str | None) -> list[SourceConfig]:
        if name is None:
            return [s for s in self.sources.values() if s.enabled]
        if name not in self.sources:
            known = ", ".join(self.sources) or "none"
            raise SourcesError(f"{self.path}: no source named {name!r} (configured: {known})")
        return [self.sources[name]]


def load_sources(path: Path) -> SourcesFile:
    """Read and check a sources file; raises :class:`SourcesError` with file, line and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourcesError(
            f"{path}: no sources file (create it, or give another with --sources FILE)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SourcesError(f"{path}: cannot read the sources file ({error})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        at = re.search(r"\(at line (\d+)", str(error))
        where = f"{path}:{at.group(1)}" if at else str(path)
        raise SourcesError(f"{where}: not valid TOML: {error}") from None
    try:
        return SourcesFile(path, _parse(data, path.parent))
    except ConfigError as error:
        line = locate(text, error.key)
        where = f"{path}:{line}" if line else str(path)
        key = f" [{error.key}]" if error.key else ""
        raise SourcesError(f"{where}:{key} {error}") from None


def _parse(data: Mapping[str, Any], base_dir: Path) -> dict[str, SourceConfig]:
    unknown = sorted(set(data) - {"sources"})
    if unknown:
        raise ConfigError("the file holds [sources.NAME] tables only", unknown[0])
    sources = data.get("sources", {})
    if not isinstance(sources, Mapping):
        raise ConfigError("sources is a table of [sources.NAME] tables", "sources")
    out: dict[str, SourceConfig] = {}
    for name, spec in sources.items():
        out[name] = _source(name, spec, base_dir)
    return out


def _source(name: str, spec: Any, base_dir: Path) -> SourceConfig:
    key = f"sources.{name}"
    if not _NAME.match(name):
        raise ConfigError("a source name is lower-case letters, digits, - and _", key)
    if not isinstance(spec, Mapping):
        raise ConfigError("a source is a table", key)
    kind = spec.get("type")
    if kind not in CONNECTORS:
        raise ConfigError(f"type is one of {', '.join(CONNECTORS)} (got {kind!r})", f"{key}.type")
    module = connector_module(kind)
    _refuse_secrets(spec, key)
    allowed = _SOURCE_COMMON | module.SOURCE_KEYS
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r} for a {kind} source "
            f"(known: {', '.join(sorted(allowed - {'streams'}))})",
            f"{key}.{unknown[0]}",
        )
    streams_spec = spec.get("streams")
    if not isinstance(streams_spec, Mapping) or not streams_spec:
        raise ConfigError("a source needs at least one [sources.NAME.streams.STREAM]", key)
    streams = tuple(
        _stream(module, kind, stream, stream_spec, f"{key}.streams.{stream}")
        for stream, stream_spec in streams_spec.items()
    )
    streams = _disambiguate(streams, key)
    settings = {k: v for k, v in spec.items() if k not in _SOURCE_COMMON}
    config = SourceConfig(
        name=name,
        type=kind,
        settings=settings,
        streams=streams,
        schedule_seconds=_schedule(spec.get("schedule"), f"{key}.schedule"),
        enabled=flag(spec, "enabled", True, key),
        base_dir=base_dir,
    )
    module.check(config, key)
    return config


def _disambiguate(streams: tuple[StreamSpec, ...], key: str) -> tuple[StreamSpec, ...]:
    """Ids are unique per source and kind: streams sharing a kind get ``<stream>:`` before
    their ids. Customers cannot: history names them by their plain id (``customer_ref``)."""
    by_kind: dict[RecordKind, list[str]] = {}
    for stream in streams:
        by_kind.setdefault(stream.kind, []).append(stream.name)
    customers = by_kind.get(RecordKind.CUSTOMER, [])
    if len(customers) > 1:
        raise ConfigError(
            f"streams {', '.join(customers)} both hold customers: a source has one customer "
            "stream (make the others separate sources)",
            f"{key}.streams",
        )
    return tuple(
        replace(stream, id_prefix=f"{stream.name}:") if len(by_kind[stream.kind]) > 1 else stream
        for stream in streams
    )


def _stream(module: ModuleType, kind: str, name: str, spec: Any, key: str) -> StreamSpec:
    if not _NAME.match(name):
        raise ConfigError("a stream name is lower-case letters, digits, - and _", key)
    if not isinstance(spec, Mapping):
        raise ConfigError("a stream is a table", key)
    _refuse_secrets(spec, key)
    allowed = _STREAM_COMMON | module.STREAM_KEYS
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r} for a {kind} stream "
            f"(known: {', '.join(sorted(allowed))})",
            f"{key}.{unknown[0]}",
        )
    record_kind = spec.get("kind")
    kinds = [k.value for k in RecordKind]
    if record_kind not in kinds:
        raise ConfigError(f"kind is one of {', '.join(kinds)}", f"{key}.kind")
    mapping = StreamMapping.parse(spec, key)
    if record_kind != "customer" and not any(r.target == "customer_ref" for r in mapping.fields):
        raise ConfigError(
            f"a {record_kind} stream maps customer_ref (the customer's id in this system)",
            f"{key}.fields",
        )
    full_extract = flag(spec, "full_extract", False, key)
    if full_extract and "cursor" in spec:
        # A cursor reads only what changed since the last run: the sweep after a full extract
        # would mark every other record deleted.
        raise ConfigError(
            "full_extract reads everything; it cannot be combined with a cursor",
            f"{key}.full_extract",
        )
    return StreamSpec(
        name=name,
        kind=RecordKind(record_kind),
        mapping=mapping,
        options={k: v for k, v in spec.items() if k in module.STREAM_KEYS},
        full_extract=full_extract,
    )


def _refuse_secrets(spec: Mapping[str, Any], key: str) -> None:
    for name in spec:
        if _SECRET_WORDS.search(str(name)):
            raise ConfigError(
                "secrets never go in the sources file: name a keychain entry with "
                f'{name}_secret = "NAME" and store it with '
                "`customer-card sources set-secret NAME`",
                f"{key}.{name}",
            )


def _schedule(value: Any, key: str) -> int | None:
    if value is None or value == "manual":
        return None
    match = _SCHEDULE.match(str(value).strip()) if isinstance(value, str) else None
    if not match or int(match.group(1)) == 0:
        raise ConfigError('schedule is "manual" or an interval such as "15m", "2h", "1d"', key)
    return int(match.group(1)) * _SECONDS[match.group(2)]


def locate(text: str, key: str) -> int | None:
    """The line that sets ``key`` (dotted path), or the line of its closest table header."""
    if not key:
        return None
    parts = key.split(".")
    best: int | None = None
    table: list[str] = []
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    assign = re.compile(r'^\s*("?)([^"=\s]+(?:\.[^"=\s]+)*)\1\s*=')
    for number, line in enumerate(text.splitlines(), start=1):
        found = header.match(line)
        if found:
            table = [p.strip().strip('"') for p in found.group(1).split(".")]
            if parts[: len(table)] == table:
                best = number
            continue
        found = assign.match(line)
        if found:
            path = table + [p.strip('"') for p in found.group(2).split(".")]
            if parts[: len(path)] == path:
                best = number
                if path == parts:
                    return number
    return best


def default_path(config_dir: Path) -> Path:
    return config_dir / FILE_NAME


# --- the keychain ----------------------------------------------------------------------------


class UnreadableSecretError(ConnectorError):
    """The keychain cannot be read (there is none, it is locked, it fails): the message names
    the secret the source needs and what to do, as :class:`MissingSecretError` does."""

    def __init__(self, name: str, error: Exception) -> None:
        from keyring.errors import KeyringLocked, NoKeyringError

        detail = str(error).strip().partition("\n")[0] or type(error).__name__
        store = f"`customer-card sources set-secret {name}`"
        if isinstance(error, NoKeyringError):
            # keyring's own text is about Python packages, which the user did not choose.
            problem = (
                "no keychain is available on this machine (keyring finds no backend such as "
                "GNOME Keyring, KWallet, or the macOS or Windows keychain)"
            )
            remedy = f"start or install one, then store the secret with {store}"
        elif isinstance(error, KeyringLocked):
            problem, remedy = f"the keychain is locked ({detail})", "unlock it and sync again"
        else:
            problem = f"the keychain failed ({type(error).__name__}: {detail})"
            remedy = "check that it works and sync again"
        super().__init__(f"secret {name!r} cannot be read: {problem}; {remedy}")
        self.name = name


def keyring_secrets(service: str = KEYRING_SERVICE) -> SecretLookup:
    """Secrets looked up in the OS keychain (tests install a test backend)."""
    import keyring
    from keyring.errors import KeyringError

    def lookup(name: str) -> str:
        try:
            value = keyring.get_password(service, name)
        except KeyringError as error:  # no backend, a locked or a failing one
            raise UnreadableSecretError(name, error) from None
        if value is None:
            raise MissingSecretError(name)
        return str(value)

    return lookup


def store_secret(name: str, value: str, service: str = KEYRING_SERVICE) -> None:
    import keyring

    if not _NAME.match(name):
        raise SourcesError(f"secret name {name!r}: use lower-case letters, digits, - and _")
    keyring.set_password(service, name, value)


def secret_names(spec: Mapping[str, Any]) -> list[str]:
    """Every keychain name a source's settings refer to."""
    names: list[str] = []

    def walk(value: Any, key: str) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, str) and (key.endswith("_secret") or key == "secret"):
            names.append(value)

    walk(spec, "")
    return names


Factory = Callable[[SourceConfig, SecretLookup], Connector]
