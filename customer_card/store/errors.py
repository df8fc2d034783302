"""Errors the store raises. Each carries one sentence a user can act on."""

from __future__ import annotations


class CacheError(Exception):
    """Base of every store error; ``str(error)`` is the message shown to the user."""


class MissingKeyError(CacheError):
    """No key slot could be opened: no keychain entry, no passphrase, no recovery code."""


class WrongKeyError(CacheError):
    """A passphrase or recovery code was given and it does not open any key slot."""


class CorruptCacheError(CacheError):
    """The key is right (its check value matches) but SQLCipher cannot read the file."""


class NotACacheError(CacheError):
    """The file exists but is not a Customer Card cache (no key slots beside it)."""


class KeychainUnavailableError(CacheError):
    """The OS keychain cannot really store secrets here (no backend, or a plaintext one)."""


class CacheBusyError(CacheError):
    """Another process (usually the open window) holds the write lock for too long."""


class CacheNewerError(CacheError):
    """The cache was written by a newer version of Customer Card."""


class CacheFullError(CacheError):
    """The cache could not grow: its disk is full (SQLite's ``SQLITE_FULL``). SQLite rolled the
    transaction back, so the cache is as it was before it."""


class CacheDiskError(CacheError):
    """The disk failed a read or a write of the cache (SQLite's ``SQLITE_IOERR``: a removed
    drive, a network share that dropped); the transaction was not committed."""
