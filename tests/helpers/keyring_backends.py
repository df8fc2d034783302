"""Keyring backends for tests, so that no test ever touches the real keychain.

``MemoryKeyring`` lives in the test process; ``FileKeyring`` keeps its secrets in the JSON file
named by ``CUSTOMER_CARD_TEST_KEYRING`` so subprocesses can share them, selected with
``PYTHON_KEYRING_BACKEND=tests.helpers.keyring_backends.FileKeyring``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

FILE_KEYRING_ENV = "CUSTOMER_CARD_TEST_KEYRING"


class MemoryKeyring(KeyringBackend):
    """Secrets in a dict of this process."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")


class FileKeyring(KeyringBackend):
    """Secrets in a JSON file shared with subprocesses; for tests only (it is plaintext)."""

    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805 (a classproperty, as keyring expects)
        # keyring calls this before instantiating: fail clearly when the file is not configured.
        if not os.environ.get(FILE_KEYRING_ENV):
            raise RuntimeError(f"{FILE_KEYRING_ENV} is not set")
        return 1

    @property
    def path(self) -> Path:
        return Path(os.environ[FILE_KEYRING_ENV])

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {str(key): str(value) for key, value in data.items()}

    def _save(self, data: dict[str, str]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)

    @staticmethod
    def _key(service: str, username: str) -> str:
        return f"{service}\n{username}"

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(self._key(service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[self._key(service, username)] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(self._key(service, username), None) is None:
            raise PasswordDeleteError("no such password")
        self._save(data)
