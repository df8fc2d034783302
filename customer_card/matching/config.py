"""The matching configuration: thresholds, Fellegi-Sunter weights, blocking windows and
survivorship priorities, read from a TOML file (``resources/matching.toml``), never from code."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

# Compared fields, in the order of a comparison vector.
FIELDS: tuple[str, ...] = (
    "given_name",
    "family_name",
    "birth_date",
    "email",
    "phone",
    "card",
    "social",
    "handle_name",
    "address",
)


class ConfigError(ValueError):
    """A matching configuration that cannot be used; the message says what and where."""


@dataclass(frozen=True, slots=True)
class FieldWeights:
    """Agreement levels of one field with their m and u probabilities (level 0, the value
    missing on one side, is implicit and weighs nothing)."""

    name: str
    levels: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]

    def weight(self, level: int) -> float:
        """log2(m/u) of a level (1-based); 0 for a missing value."""
        if level == 0:
            return 0.0
        return math.log2(self.m[level - 1] / self.u[level - 1])

    def level_name(self, level: int) -> str:
        return "missing" if level == 0 else self.levels[level - 1]


@dataclass(frozen=True, slots=True)
class MatchConfig:
    link_threshold: float
    suggest_threshold: float
    matches_per_record: float
    min_population: int
    window: int
    strong_window: int
    max_phone_records: int
    fields: tuple[FieldWeights, ...]
    tf_min_count: int = 2
    # Absolute discount of name counts (Good-Turing style): a name seen once in the cache is
    # usually rarer than one in the cache's size.
    tf_discount: float = 0.0
    priority_default: tuple[str, ...] = ()
    priority_by_field: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def with_weights(self, fields: tuple[FieldWeights, ...]) -> MatchConfig:
        return replace(self, fields=fields)

    def with_thresholds(self, link: float, suggest: float) -> MatchConfig:
        return replace(self, link_threshold=link, suggest_threshold=suggest)

    def prior(self, earlier_records: int) -> float:
        """P(a record is the same person as one given earlier record)."""
        return min(0.5, self.matches_per_record / max(earlier_records, self.min_population))

    def as_toml_weights(self) -> str:
        """The ``[fields.*]`` tables of this configuration, as TOML text."""
        lines: list[str] = []
        for f in self.fields:
            lines.append(f"[fields.{f.name}]")
            lines.append("levels = [" + ", ".join(f'"{level}"' for level in f.levels) + "]")
            lines.append("m = [" + ", ".join(f"{v:.6g}" for v in f.m) + "]")
            lines.append("u = [" + ", ".join(f"{v:.6g}" for v in f.u) + "]")
            lines.append("")
        return "\n".join(lines)


def load_config(path: Path) -> MatchConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read the matching configuration {path}: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from error
    try:
        return config_from_dict(data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error


def config_from_dict(data: Mapping[str, Any]) -> MatchConfig:
    thresholds = _table(data, "thresholds")
    blocking = _table(data, "blocking")
    link = _probability(thresholds, "link")
    suggest = _probability(thresholds, "suggest")
    if suggest > link:
        raise ConfigError("thresholds.suggest must not be above thresholds.link")
    fields_table = _table(data, "fields")
    weights = []
    for name in FIELDS:
        spec = _table(fields_table, name, prefix="fields.")
        weights.append(_upgraded(_field(name, spec)))
    survivorship = data.get("survivorship", {})
    if not isinstance(survivorship, Mapping):
        raise ConfigError("[survivorship] must be a table")
    default = tuple(str(s) for s in survivorship.get("default", ()))
    by_field = {
        str(k): tuple(str(s) for s in v)
        for k, v in survivorship.items()
        if k != "default" and isinstance(v, list)
    }
    return MatchConfig(
        link_threshold=link,
        suggest_threshold=suggest,
        matches_per_record=_positive_number(thresholds, "matches_per_record"),
        min_population=_positive_int(thresholds, "min_population", "thresholds"),
        window=_positive_int(blocking, "window"),
        strong_window=_positive_int(blocking, "strong_window"),
        max_phone_records=_positive_int(blocking, "max_phone_records"),
        fields=tuple(weights),
        tf_min_count=_positive_int(thresholds, "tf_min_count", "thresholds")
        if "tf_min_count" in thresholds
        else 2,
        tf_discount=_discount(thresholds),
        priority_default=default,
        priority_by_field=by_field,
    )


def _table(data: Mapping[str, Any], key: str, prefix: str = "") -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise ConfigError(f"missing table [{prefix}{key}]")
    return value


def _probability(table: Mapping[str, Any], key: str) -> float:
    value = table.get(key)
    if not isinstance(value, int | float) or not 0.0 < float(value) < 1.0:
        raise ConfigError(f"{key} must be a number between 0 and 1 (exclusive), not {value!r}")
    return float(value)


def _positive_int(table: Mapping[str, Any], key: str, where: str = "blocking") -> int:
    value = table.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where}.{key} must be a whole number >= 1, not {value!r}")
    return value


def _discount(table: Mapping[str, Any]) -> float:
    value = table.get("tf_discount", 0.0)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1:
        raise ConfigError(f"thresholds.tf_discount must be a number from 0 to 1, not {value!r}")
    return float(value)


def _positive_number(table: Mapping[str, Any], key: str) -> float:
    value = table.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"thresholds.{key} must be a positive number, not {value!r}")
    return float(value)


# Levels that later versions added to a field, with their m and u: a configuration written
# before (a user's copy, a 'match estimate' output) gets them, the other levels' m and u
# scaled to make room. (field, level, the level it comes before, m, u)
_ADDED_LEVELS = (
    ("birth_date", "typo", "year", 0.02, 0.0012),
    ("email", "letters", "different", 0.06, 0.06),
    ("phone", "national", "different", 0.01, 0.000001),
)


def _upgraded(weights: FieldWeights) -> FieldWeights:
    for name, level, before, m_new, u_new in _ADDED_LEVELS:
        if weights.name != name or level in weights.levels or before not in weights.levels:
            continue
        at = weights.levels.index(before)
        m = [x * (1.0 - m_new) for x in weights.m]
        u = [x * (1.0 - u_new) for x in weights.u]
        weights = FieldWeights(
            name,
            (*weights.levels[:at], level, *weights.levels[at:]),
            (*m[:at], m_new, *m[at:]),
            (*u[:at], u_new, *u[at:]),
        )
    return weights


def _field(name: str, spec: Mapping[str, Any]) -> FieldWeights:
    levels = spec.get("levels")
    m, u = spec.get("m"), spec.get("u")
    if not (isinstance(levels, list) and isinstance(m, list) and isinstance(u, list)):
        raise ConfigError(f"fields.{name} needs lists levels, m and u")
    if not len(levels) == len(m) == len(u) or not levels:
        raise ConfigError(f"fields.{name}: levels, m and u must have the same length")
    for values, label in ((m, "m"), (u, "u")):
        if not all(isinstance(v, int | float) and 0.0 < float(v) < 1.0 for v in values):
            raise ConfigError(f"fields.{name}.{label}: every value must be between 0 and 1")
        if abs(sum(values) - 1.0) > 0.01:
            raise ConfigError(
                f"fields.{name}.{label} must add up to 1 (it adds up to {sum(values)})"
            )
    return FieldWeights(
        name, tuple(str(x) for x in levels), tuple(map(float, m)), tuple(map(float, u))
    )
