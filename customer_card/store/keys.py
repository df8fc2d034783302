"""Envelope encryption of the cache key.

A random 256-bit data key opens the SQLCipher cache (as a raw key). It never reaches the disk
in clear: ``<cache>.keys`` holds it wrapped with AES-256-GCM in key slots, each under a
key-encryption key (KEK) from the OS keychain, a passphrase or the recovery code.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import keyring
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from customer_card.store.errors import (
    CacheError,
    CacheNewerError,
    KeychainUnavailableError,
    MissingKeyError,
    NotACacheError,
    WrongKeyError,
)

log = logging.getLogger(__name__)

KEYCHAIN_SERVICE = "customer-card"
PASSPHRASE_ENV = "CUSTOMER_CARD_PASSPHRASE"
SLOT_KEYCHAIN, SLOT_PASSPHRASE, SLOT_RECOVERY = "keychain", "passphrase", "recovery"

_FORMAT, _VERSION = "customer-card-keyslots", 1
_CHECK_LABEL = b"customer-card key check v1"
_RECOVERY_INFO = b"customer-card recovery kek v1"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_ALIASES = str.maketrans("OIL", "011", " \t\r\n-\u2010\u2011\u2013\u2014")
_RECOVERY_CHARS = 24  # 24 x 5 bits = 120 bits
_KEY_BYTES, _NONCE_BYTES, _TAG_BYTES = 32, 12, 16


class CorruptKeySlotsError(CacheError):
    """The key slots file exists but cannot be read or understood."""


@dataclass(frozen=True)
class KdfCost:
    """Cost of the passphrase KDF for new slots; each slot records its own parameters."""

    argon2_iterations: int = 3  # RFC 9106, second recommended option (~0.15 s)
    argon2_memory_kib: int = 64 * 1024
    argon2_lanes: int = 4
    scrypt_log2_n: int = 15
    scrypt_r: int = 8
    scrypt_p: int = 1

    @classmethod
    def minimal(cls) -> KdfCost:
        """Fast and weak: for tests only."""
        return cls(1, 8, 1, 4, 8, 1)


@dataclass(frozen=True)
class CreatedKey:
    """A new cache key; show ``recovery_code`` to the user once, then forget it."""

    data_key: bytes = field(repr=False)  # keep secrets out of logs and tracebacks
    recovery_code: str = field(repr=False)
    slots: tuple[str, ...]


# --- the OS keychain -------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def _refusal(backend: KeyringBackend) -> str | None:
    """Why ``backend`` cannot keep the cache key, or None if it can."""
    if isinstance(backend, fail.Keyring):
        return "no keychain is available on this computer"
    if isinstance(backend, null.Keyring):
        return "the keychain is disabled (null keyring backend)"
    if type(backend).__module__.startswith("keyrings.alt"):
        return f"the keyring backend {type(backend).__name__} keeps secrets in a file"
    return None


class Keychain:
    """The OS keychain through ``keyring``, refusing backends that do not really keep secrets."""

    def __init__(self, backend: KeyringBackend | None, *, service: str = KEYCHAIN_SERVICE) -> None:
        self.service = service
        self.problem = ""  # why the keychain is not usable, for messages
        self.last_error = ""  # the last failed read, for messages
        self._backend: KeyringBackend | None = None
        candidates = [backend] if backend is not None else []
        if isinstance(backend, chainer.ChainerBackend):
            # The chainer writes to its first inner backend, which may be a plaintext one: talk
            # directly to the first acceptable backend instead.
            try:
                candidates = list(backend.backends)
            except Exception as exc:
                candidates = []
                log.warning("Cannot list the keychain backends: %s", _one_line(exc))
        refusals = [_refusal(candidate) for candidate in candidates]
        accepted = [c for c, refusal in zip(candidates, refusals, strict=True) if refusal is None]
        if accepted:
            self._backend = accepted[0]
        else:
            self.problem = next(filter(None, refusals), "no keychain is available on this computer")

    @classmethod
    def from_environment(cls) -> Keychain:
        """The keychain ``keyring`` selects (honours PYTHON_KEYRING_BACKEND)."""
        try:
            backend = keyring.get_keyring()
        except Exception as exc:  # a bad PYTHON_KEYRING_BACKEND or keyringrc.cfg
            keychain = cls(None)
            keychain.problem = f"the keychain cannot be loaded ({_one_line(exc)})"
            return keychain
        return cls(backend)

    @property
    def usable(self) -> bool:
        return self._backend is not None

    def _require(self) -> KeyringBackend:
        if self._backend is None:
            raise KeychainUnavailableError(f"Cannot use the keychain: {self.problem}.")
        return self._backend

    def store(self, account: str, secret: str) -> None:
        """Store ``secret`` and read it back: some backends accept secrets and drop them."""
        backend = self._require()
        try:
            backend.set_password(self.service, account, secret)
            stored = backend.get_password(self.service, account)
        except Exception as exc:  # D-Bus backends raise more than KeyringError
            raise KeychainUnavailableError(
                f"The keychain refused to store the cache key ({_one_line(exc)})."
            ) from exc
        if stored != secret:
            raise KeychainUnavailableError(
                "The keychain accepted the cache key but did not give it back; it cannot be used."
            )

    def load(self, account: str) -> str | None:
        """The secret stored for ``account``, or None if absent or the keychain fails."""
        if self._backend is None:
            return None
        try:
            return self._backend.get_password(self.service, account)
        except Exception as exc:
            self.last_error = f"the keychain cannot be read ({_one_line(exc)})"
            log.warning("Keychain read failed: %s", _one_line(exc))
            return None

    def delete(self, account: str) -> None:
        """Remove the secret of ``account``; absent is fine."""
        backend = self._require()
        try:
            if backend.get_password(self.service, account) is not None:
                backend.delete_password(self.service, account)
        except Exception as exc:
            raise KeychainUnavailableError(
                f"The keychain cannot delete the cache key ({_one_line(exc)})."
            ) from exc


# --- slot crypto -----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str, size: int | None = None) -> bytes:
    try:
        data = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not isinstance(text, str) or not data or (size is not None and len(data) != size):
        raise CorruptKeySlotsError(f"The key file is damaged: bad {what}.")
    return data


def _int(kdf: Mapping[str, object], name: str, high: int) -> int:
    value = kdf.get(name)
    # Bounded so a tampered file cannot make us allocate gigabytes or spin for minutes.
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
        raise CorruptKeySlotsError(f"The key file is damaged: bad KDF parameter {name}.")
    return value


def _key_check(data_key: bytes) -> str:
    return hmac.new(data_key, _CHECK_LABEL, hashlib.sha256).digest()[:16].hex()


def _passphrase_secret(passphrase: str) -> bytes:
    # NFC so the same passphrase typed through different input methods gives the same bytes.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _require_passphrase(passphrase: str) -> None:
    if not passphrase.strip():
        raise CacheError("The passphrase cannot be empty.")


@functools.cache
def _argon2_available() -> bool:
    """Argon2id needs cryptography >= 44 built on OpenSSL >= 3.2; new slots use scrypt without."""
    try:
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

        Argon2id(salt=bytes(16), length=32, iterations=1, lanes=1, memory_cost=8).derive(b"probe")
    except Exception:  # ImportError, UnsupportedAlgorithm
        return False
    return True


def _new_kdf(slot_type: str, cost: KdfCost) -> dict[str, object]:
    salt = _b64(os.urandom(16))
    if slot_type == SLOT_RECOVERY:  # 120 random bits need no stretching
        return {"name": "hkdf-sha256", "salt": salt}
    if _argon2_available():
        return {
            "name": "argon2id",
            "salt": salt,
            "iterations": cost.argon2_iterations,
            "memory_kib": cost.argon2_memory_kib,
            "lanes": cost.argon2_lanes,
        }
    n, r, p = 2**cost.scrypt_log2_n, cost.scrypt_r, cost.scrypt_p
    return {"name": "scrypt", "salt": salt, "n": n, "r": r, "p": p}


def _derive(kdf: Mapping[str, object], secret: bytes) -> bytes:
    name, salt = kdf.get("name"), _unb64(kdf.get("salt"), "salt")
    try:
        if name == "hkdf-sha256":
            return HKDF(hashes.SHA256(), _KEY_BYTES, salt, _RECOVERY_INFO).derive(secret)
        if name == "scrypt":
            n, r, p = _int(kdf, "n", 2**22), _int(kdf, "r", 64), _int(kdf, "p", 16)
            return Scrypt(salt=salt, length=_KEY_BYTES, n=n, r=r, p=p).derive(secret)
        if name == "argon2id":
            if not _argon2_available():
                raise CacheError("This cache's passphrase needs Argon2id; update cryptography.")
            from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

            return Argon2id(
                salt=salt,
                length=_KEY_BYTES,
                iterations=_int(kdf, "iterations", 100),
                memory_cost=_int(kdf, "memory_kib", 4 * 1024 * 1024),
                lanes=_int(kdf, "lanes", 64),
            ).derive(secret)
    except (ValueError, MemoryError) as exc:
        raise CorruptKeySlotsError(f"The key file is damaged: {_one_line(exc)}.") from exc
    raise CorruptKeySlotsError(f"The key file uses an unknown key derivation {name!r}.")


@dataclass(frozen=True)
class _Slot:
    type: str
    nonce: bytes
    wrapped_key: bytes
    kdf: Mapping[str, object]  # empty for keychain slots
    created_at: str

    @staticmethod
    def seal(
        slot_type: str, kek: bytes, data_key: bytes, cache_uuid: str, kdf: Mapping[str, object]
    ) -> _Slot:
        nonce = os.urandom(_NONCE_BYTES)
        wrapped = AESGCM(kek).encrypt(nonce, data_key, _aad(cache_uuid, slot_type))
        return _Slot(slot_type, nonce, wrapped, dict(kdf), _now())

    def open(self, kek: bytes, cache_uuid: str) -> bytes | None:
        try:
            return AESGCM(kek).decrypt(self.nonce, self.wrapped_key, _aad(cache_uuid, self.type))
        except InvalidTag:
            return None


def _aad(cache_uuid: str, slot_type: str) -> bytes:
    # Binds a slot to its cache and type: it cannot be pasted into another file or role.
    return f"customer-card keyslot v1|{cache_uuid}|{slot_type}".encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class _Doc:
    cache_uuid: str
    created_at: str
    key_check: str
    slots: tuple[_Slot, ...]

    def slot(self, slot_type: str) -> _Slot | None:
        return next((s for s in self.slots if s.type == slot_type), None)

    def with_slot(self, slot: _Slot) -> _Doc:
        return replace(self, slots=(*(s for s in self.slots if s.type != slot.type), slot))

    def types(self) -> tuple[str, ...]:
        return tuple(s.type for s in self.slots)

    def to_json(self) -> str:
        slots = [
            {
                "type": s.type,
                "created_at": s.created_at,
                **({"kdf": dict(s.kdf)} if s.kdf else {}),
                "nonce": _b64(s.nonce),
                "wrapped_key": _b64(s.wrapped_key),
            }
            for s in self.slots
        ]
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "cache_uuid": self.cache_uuid,
            "created_at": self.created_at,
            "key_check": self.key_check,
            "slots": slots,
        }
        return json.dumps(document, indent=2) + "\n"

    @staticmethod
    def from_json(text: str) -> _Doc:
        def damaged(what: str) -> CorruptKeySlotsError:
            return CorruptKeySlotsError(f"The key file is damaged: {what}.")

        def text_field(obj: Mapping[str, object], name: str) -> str:
            value = obj.get(name)
            if not isinstance(value, str) or not value:
                raise damaged(f"missing {name}")
            return value

        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise damaged("not JSON") from exc
        if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
            raise damaged("not a Customer Card key file")
        version = raw.get("version")
        if not isinstance(version, int):
            raise damaged("missing version")
        if version > _VERSION:
            raise CacheNewerError("The key file was written by a newer Customer Card; update it.")
        if not isinstance(raw.get("slots"), list):
            raise damaged("missing slots")
        slots = []
        for item in raw["slots"]:
            if not isinstance(item, dict) or not isinstance(item.get("kdf", {}), dict):
                raise damaged("bad slot")
            slot_type = text_field(item, "type")
            if slot_type != SLOT_KEYCHAIN and not item.get("kdf"):
                raise damaged(f"{slot_type} slot without key derivation")
            nonce = _unb64(item.get("nonce"), "nonce", _NONCE_BYTES)
            wrapped = _unb64(item.get("wrapped_key"), "wrapped key", _KEY_BYTES + _TAG_BYTES)
            created_at = text_field(item, "created_at")
            slots.append(_Slot(slot_type, nonce, wrapped, item.get("kdf", {}), created_at))
        return _Doc(
            text_field(raw, "cache_uuid"),
            text_field(raw, "created_at"),
            text_field(raw, "key_check"),
            tuple(slots),
        )


# --- recovery codes --------------------------------------------------------------------------


def _group(compact: str) -> str:
    return "-".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _new_recovery_code() -> str:
    return _group("".join(secrets.choice(_CROCKFORD) for _ in range(_RECOVERY_CHARS)))


def parse_recovery_code(text: str) -> str:
    """Normalise a typed recovery code to ``XXXX-XXXX-…``; tolerant of case, spacing, O/0, I/L/1."""
    compact = text.upper().translate(_CROCKFORD_ALIASES)
    if len(compact) != _RECOVERY_CHARS or any(c not in _CROCKFORD for c in compact):
        raise WrongKeyError(
            "A recovery code has 24 letters and digits in groups of four "
            "(like ABCD-EFGH-…); check what you typed."
        )
    return _group(compact)


def _recovery_secret(code: str) -> bytes:
    return code.replace("-", "").encode("ascii")


# --- the key slots file ----------------------------------------------------------------------


class KeySlots:
    """The key slots of one cache, kept in ``<cache path>.keys``."""

    def __init__(
        self, slots_path: Path, keychain: Keychain | None, *, kdf_cost: KdfCost | None = None
    ) -> None:
        self.path = slots_path
        self._keychain = keychain
        self._kdf_cost = kdf_cost or KdfCost()

    @classmethod
    def for_cache(
        cls, cache_path: Path, keychain: Keychain | None, *, kdf_cost: KdfCost | None = None
    ) -> KeySlots:
        return cls(cache_path.with_name(cache_path.name + ".keys"), keychain, kdf_cost=kdf_cost)

    def exists(self) -> bool:
        return self.path.exists()

    def slot_types(self) -> tuple[str, ...]:
        return self._read().types()

    def check(self, data_key: bytes) -> bool:
        """Whether ``data_key`` is this cache's key (tells a wrong key from a damaged cache)."""
        return hmac.compare_digest(_key_check(data_key), self._read().key_check)

    def create(self, passphrase: str | None = None) -> CreatedKey:
        """A new data key in a keychain and/or passphrase slot, plus a recovery slot."""
        if self.exists():
            raise CacheError(f"{self.path} already exists; refusing to replace a cache's keys.")
        if passphrase is not None:
            _require_passphrase(passphrase)
        data_key, cache_uuid = os.urandom(_KEY_BYTES), str(uuid.uuid4())
        slots: list[_Slot] = []
        keychain_problem = "Cannot use the keychain: it is turned off."
        if self._keychain is not None:
            try:
                slots.append(self._keychain_slot(self._keychain, data_key, cache_uuid))
            except KeychainUnavailableError as exc:
                keychain_problem = str(exc)
                if self._keychain.usable and passphrase is not None:
                    log.warning("Not keeping the cache key in the keychain: %s", exc)
        if passphrase is not None:
            slots.append(self._secret_slot(SLOT_PASSPHRASE, data_key, cache_uuid, passphrase))
        if not slots:
            raise KeychainUnavailableError(
                f"{keychain_problem} Set a passphrase for the cache ({PASSPHRASE_ENV}) instead."
            )
        code = _new_recovery_code()
        slots.append(self._secret_slot(SLOT_RECOVERY, data_key, cache_uuid, code))
        doc = _Doc(cache_uuid, _now(), _key_check(data_key), tuple(slots))
        try:
            self._write(doc, new=True)
        except BaseException:
            if self._keychain is not None and doc.slot(SLOT_KEYCHAIN):
                with contextlib.suppress(CacheError):
                    self._keychain.delete(cache_uuid)
            raise
        return CreatedKey(data_key, code, doc.types())

    def unlock(self, passphrase: str | None = None, recovery_code: str | None = None) -> bytes:
        """The data key, from the recovery code, the passphrase, then the keychain."""
        doc = self._read()
        if recovery_code is not None:
            secret = _recovery_secret(parse_recovery_code(recovery_code))
            if key := self._open_secret(doc, SLOT_RECOVERY, secret):
                return key
        # No slot has an empty passphrase, so an empty one is not even tried.
        if passphrase and (
            key := self._open_secret(doc, SLOT_PASSPHRASE, _passphrase_secret(passphrase))
        ):
            return key
        key, keychain_problem = self._open_keychain(doc)
        given = passphrase is not None or recovery_code is not None
        if key is not None:
            if given:
                log.info("The passphrase or recovery code given did not open the cache")
            return key
        if given:
            raise WrongKeyError(_wrong_message(doc, passphrase, recovery_code))
        raise MissingKeyError(_missing_message(doc, keychain_problem))

    def add_passphrase(self, data_key: bytes, passphrase: str) -> None:
        """Lock the cache with ``passphrase`` too, replacing any previous passphrase."""
        _require_passphrase(passphrase)
        doc = self._read_verified(data_key)
        self._write(
            doc.with_slot(self._secret_slot(SLOT_PASSPHRASE, data_key, doc.cache_uuid, passphrase))
        )

    def remove_passphrase(self, data_key: bytes) -> None:
        """Drop the passphrase slot; only if this computer's keychain opens the cache."""
        doc = self._read_verified(data_key)
        if doc.slot(SLOT_PASSPHRASE) is None:
            return
        if self._open_keychain(doc)[0] is None:
            raise CacheError(
                "Removing the passphrase would leave only the recovery code; "
                "keep the key in this computer's keychain first."
            )
        self._write(replace(doc, slots=tuple(s for s in doc.slots if s.type != SLOT_PASSPHRASE)))

    def add_keychain(self, data_key: bytes) -> None:
        """Keep the key in this computer's keychain, replacing any previous keychain slot."""
        doc = self._read_verified(data_key)
        if self._keychain is None:
            raise KeychainUnavailableError("Cannot use the keychain: it is turned off.")
        self._write(doc.with_slot(self._keychain_slot(self._keychain, data_key, doc.cache_uuid)))

    def new_recovery_code(self, data_key: bytes) -> str:
        """Replace the recovery slot; the old code stops working. Show the new one once."""
        doc = self._read_verified(data_key)
        code = _new_recovery_code()
        self._write(doc.with_slot(self._secret_slot(SLOT_RECOVERY, data_key, doc.cache_uuid, code)))
        return code

    # --- slots ---

    def _keychain_slot(self, keychain: Keychain, data_key: bytes, cache_uuid: str) -> _Slot:
        # Reuse a KEK already stored for this cache (a copy of it, or a previous slot) so that
        # replacing the slot never breaks another file that relies on the same entry.
        kek = _decode_kek(keychain.load(cache_uuid))
        if kek is None:
            kek = os.urandom(_KEY_BYTES)
            keychain.store(cache_uuid, _b64(kek))
        return _Slot.seal(SLOT_KEYCHAIN, kek, data_key, cache_uuid, {})

    def _secret_slot(self, slot_type: str, data_key: bytes, cache_uuid: str, secret: str) -> _Slot:
        kdf = _new_kdf(slot_type, self._kdf_cost)
        raw = _recovery_secret(secret) if slot_type == SLOT_RECOVERY else _passphrase_secret(secret)
        return _Slot.seal(slot_type, _derive(kdf, raw), data_key, cache_uuid, kdf)

    def _open_secret(self, doc: _Doc, slot_type: str, secret: bytes) -> bytes | None:
        slot = doc.slot(slot_type)
        if slot is None:
            return None
        return _verified(doc, slot.open(_derive(slot.kdf, secret), doc.cache_uuid))

    def _open_keychain(self, doc: _Doc) -> tuple[bytes | None, str]:
        """The data key from the keychain slot, or None and why not."""
        slot = doc.slot(SLOT_KEYCHAIN)
        if slot is None:
            return None, ""
        if self._keychain is None or not self._keychain.usable:
            problem = self._keychain.problem if self._keychain else "the keychain is not used"
            return None, problem
        kek = _decode_kek(self._keychain.load(doc.cache_uuid))
        if kek is None:
            return None, self._keychain.last_error or "its key is not in this computer's keychain"
        key = _verified(doc, slot.open(kek, doc.cache_uuid))
        return key, "" if key else "the key in this computer's keychain does not open it"

    # --- file ---

    def _read(self) -> _Doc:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise NotACacheError(
                f"{self.path} is missing: this is not a Customer Card cache,"
                " or its key file was lost."
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise CorruptKeySlotsError(f"Cannot read the key file {self.path}: {exc}.") from exc
        return _Doc.from_json(text)

    def _read_verified(self, data_key: bytes) -> _Doc:
        doc = self._read()
        if not hmac.compare_digest(_key_check(data_key), doc.key_check):
            raise WrongKeyError("This key does not belong to this cache.")
        return doc

    def _write(self, doc: _Doc, *, new: bool = False) -> None:
        """Atomically replace (or, if ``new``, create) the slots file, mode 0600."""
        tmp: Path | None = None
        try:
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            tmp = Path(name)
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                if hasattr(os, "fchmod"):  # mkstemp already uses 0600; say so explicitly
                    os.fchmod(file.fileno(), 0o600)
                file.write(doc.to_json())
                file.flush()
                os.fsync(file.fileno())
            if new:
                _publish_new(tmp, self.path)
            else:
                os.replace(tmp, self.path)
            _fsync_directory(self.path.parent)
        except FileExistsError as exc:
            raise CacheError(
                f"{self.path} already exists; refusing to replace a cache's keys."
            ) from exc
        except OSError as exc:
            raise CacheError(
                f"Cannot write the key file {self.path}: {exc.strerror or exc}."
            ) from exc
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)


def _decode_kek(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        kek = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return kek if len(kek) == _KEY_BYTES else None


def _verified(doc: _Doc, data_key: bytes | None) -> bytes | None:
    if data_key is not None and not hmac.compare_digest(_key_check(data_key), doc.key_check):
        # The slot decrypted (GCM tag fine) yet the check value differs: the file is inconsistent.
        raise CorruptKeySlotsError("The key file is damaged: its check value does not match.")
    return data_key


def _publish_new(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to ``path`` unless ``path`` exists, even if another process races us."""
    try:
        os.link(tmp, path)  # atomic and fails if path exists
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp, path)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open directories.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _missing_message(doc: _Doc, keychain_problem: str) -> str:
    types = doc.types()
    if SLOT_PASSPHRASE in types:
        remedy = f"this cache is locked with a passphrase: set {PASSPHRASE_ENV} or enter it"
    elif SLOT_RECOVERY in types:
        remedy = "unlock it with its recovery code"
    else:
        remedy = "it has no other key slot"
    reason = f"{keychain_problem}; " if SLOT_KEYCHAIN in types and keychain_problem else ""
    return f"Cannot open the cache: {reason}{remedy}."


def _wrong_message(doc: _Doc, passphrase: str | None, recovery_code: str | None) -> str:
    if recovery_code is not None and passphrase is not None:
        return "Neither the passphrase nor the recovery code opens this cache."
    if recovery_code is not None:
        return "Wrong recovery code for this cache."
    if doc.slot(SLOT_PASSPHRASE) is None:
        return "This cache has no passphrase; open it with the keychain or its recovery code."
    return "Wrong passphrase for this cache."
