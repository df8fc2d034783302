"""Where Customer Card keeps its files: the one place that knows (through platformdirs).

``CUSTOMER_CARD_HOME`` puts everything under one directory instead (portable installs, tests).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "customer-card"
HOME_ENV = "CUSTOMER_CARD_HOME"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    home = _home()
    return (
        home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    )


def runtime_dir() -> Path:
    """Lock files and the single-instance socket name live here."""
    home = _home()
    if home:
        return home / "run"
    return Path(platformdirs.user_runtime_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    home = _home()
    return home / "log" if home else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def default_cache() -> Path:
    return data_dir() / "cache.db"


def demo_cache() -> Path:
    return data_dir() / "demo.db"


def resources_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "resources"
