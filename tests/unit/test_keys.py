"""Key slots: the cache key wrapped for the keychain, a passphrase and a recovery code."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from customer_card.store import keys
from customer_card.store.errors import (
    CacheError,
    CacheNewerError,
    KeychainUnavailableError,
    MissingKeyError,
    NotACacheError,
    WrongKeyError,
)
from customer_card.store.keys import (
    CorruptKeySlotsError,
    KdfCost,
    Keychain,
    KeySlots,
    parse_recovery_code,
)
from tests.helpers.keyring_backends import FILE_KEYRING_ENV, FileKeyring, MemoryKeyring

FAST = KdfCost.minimal()


class PlaintextKeyring(MemoryKeyring):
    """Stands for keyrings.alt's file backends."""


PlaintextKeyring.__module__ = "keyrings.alt.file"


class DroppingKeyring(MemoryKeyring):
    """Accepts secrets and forgets them, like some misconfigured backends."""

    def set_password(self, service: str, username: str, password: str) -> None:
        pass


class BrokenKeyring(MemoryKeyring):
    """Fails like a D-Bus backend whose service has gone away."""

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown\nlong D-Bus trace")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    # Read the private slot rather than keyring.get_keyring(), which would probe the real keychain.
    previous = keyring.core._keyring_backend
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.core._keyring_backend = previous


@pytest.fixture
def keychain(memory_keyring: MemoryKeyring) -> Keychain:
    return Keychain.from_environment()


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "cache.db"


def make(backend_class: type[KeyringBackend]) -> KeyringBackend:
    return backend_class()  # via type[...]: keyring's own constructors are untyped


def slots_for(cache_path: Path, keychain: Keychain | None) -> KeySlots:
    return KeySlots.for_cache(cache_path, keychain, kdf_cost=FAST)


def read_json(cache_path: Path) -> dict[str, object]:
    data = json.loads(Path(f"{cache_path}.keys").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def write_json(cache_path: Path, data: object) -> None:
    Path(f"{cache_path}.keys").write_text(json.dumps(data), encoding="utf-8")


def flip_wrapped_key(cache_path: Path, slot_type: str) -> None:
    data = read_json(cache_path)
    assert isinstance(data["slots"], list)
    for slot in data["slots"]:
        if slot["type"] == slot_type:
            wrapped = bytearray(base64.b64decode(slot["wrapped_key"]))
            wrapped[3] ^= 0x01
            slot["wrapped_key"] = base64.b64encode(wrapped).decode()
    write_json(cache_path, data)


# --- unlocking -------------------------------------------------------------------------------


def test_keychain_create_and_unlock(cache_path: Path, keychain: Keychain) -> None:
    created = slots_for(cache_path, keychain).create()

    assert created.slots == ("keychain", "recovery")
    assert len(created.data_key) == 32
    reopened = slots_for(cache_path, Keychain.from_environment())
    assert reopened.slot_types() == ("keychain", "recovery")
    assert reopened.unlock() == created.data_key
    assert Path(f"{cache_path}.keys").exists()


def test_passphrase_create_and_unlock_without_keychain(cache_path: Path) -> None:
    created = slots_for(cache_path, Keychain(make(fail.Keyring))).create("correct horse")

    assert created.slots == ("passphrase", "recovery")
    assert slots_for(cache_path, None).unlock(passphrase="correct horse") == created.data_key


def test_passphrase_is_unicode_normalised(cache_path: Path) -> None:
    created = slots_for(cache_path, None).create("cafe\u0301")  # decomposed é

    assert slots_for(cache_path, None).unlock(passphrase="caf\u00e9") == created.data_key


def test_recovery_code_with_sloppy_typing_unlocks(cache_path: Path, keychain: Keychain) -> None:
    created = slots_for(cache_path, keychain).create()
    code = created.recovery_code
    sloppy = " ".join(code.split("-")).lower().replace("0", "o").replace("1", "l")

    assert slots_for(cache_path, None).unlock(recovery_code=sloppy) == created.data_key


def test_recovery_code_format(cache_path: Path, keychain: Keychain) -> None:
    code = slots_for(cache_path, keychain).create().recovery_code

    groups = code.split("-")
    assert [len(group) for group in groups] == [4] * 6
    assert set(code.replace("-", "")) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ABCD-EFGH-JKMN-PQRS-TVWX-YZ01", "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01"),
        ("abcdefghjkmnpqrstvwxyz01", "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01"),
        (" abcd efgh jkmn pqrs tvwx yzoi ", "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01"),
        ("ABCD–EFGH–JKMN–PQRS–TVWX–YZOL", "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01"),  # en dashes
    ],
)
def test_parse_recovery_code_normalises(typed: str, expected: str) -> None:
    assert parse_recovery_code(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "ABCD-EFGH",
        "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2",
        "ABCD-EFGH-JKMN-PQRS-TVWX-YZ0U",
        "ÀBCD" * 6,
    ],
)
def test_parse_recovery_code_rejects_malformed(typed: str) -> None:
    with pytest.raises(WrongKeyError, match="24 letters and digits"):
        parse_recovery_code(typed)


def test_wrong_passphrase(cache_path: Path) -> None:
    slots_for(cache_path, None).create("correct horse")

    with pytest.raises(WrongKeyError, match="Wrong passphrase"):
        slots_for(cache_path, None).unlock(passphrase="wrong horse")


def test_wrong_recovery_code(cache_path: Path) -> None:
    slots_for(cache_path, None).create("correct horse")

    with pytest.raises(WrongKeyError, match="recovery code"):
        slots_for(cache_path, None).unlock(recovery_code="0000-0000-0000-0000-0000-0000")


def test_passphrase_given_for_cache_without_one(cache_path: Path, keychain: Keychain) -> None:
    slots_for(cache_path, keychain).create()

    with pytest.raises(WrongKeyError, match="no passphrase"):
        slots_for(cache_path, None).unlock(passphrase="anything")
    # With the keychain at hand, a stale passphrase does not stand in the way.
    assert slots_for(cache_path, keychain).unlock(passphrase="anything")


def test_missing_keychain_entry_asks_for_passphrase(
    cache_path: Path, keychain: Keychain, memory_keyring: MemoryKeyring
) -> None:
    slots_for(cache_path, keychain).create("correct horse")
    memory_keyring.secrets.clear()

    with pytest.raises(MissingKeyError, match="passphrase") as raised:
        slots_for(cache_path, keychain).unlock()
    assert keys.PASSPHRASE_ENV in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_keychain_entry_without_passphrase_asks_for_recovery_code(
    cache_path: Path, keychain: Keychain, memory_keyring: MemoryKeyring
) -> None:
    slots_for(cache_path, keychain).create()
    memory_keyring.secrets.clear()

    with pytest.raises(MissingKeyError, match="recovery code"):
        slots_for(cache_path, keychain).unlock()


def test_unlock_without_slots_file(cache_path: Path, keychain: Keychain) -> None:
    with pytest.raises(NotACacheError):
        slots_for(cache_path, keychain).unlock()
    assert not slots_for(cache_path, keychain).exists()


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("not json {", CorruptKeySlotsError),
        ("[]", CorruptKeySlotsError),
        ('{"format": "customer-card-keyslots", "version": 1}', CorruptKeySlotsError),
        ('{"format": "customer-card-keyslots", "version": 99, "slots": []}', CacheNewerError),
    ],
)
def test_unreadable_slots_file(cache_path: Path, content: str, error: type[CacheError]) -> None:
    Path(f"{cache_path}.keys").write_text(content, encoding="utf-8")

    with pytest.raises(error):
        slots_for(cache_path, None).unlock(passphrase="x")


@pytest.mark.parametrize("field", ["cache_uuid", "key_check", "slots"])
def test_slots_file_missing_field(cache_path: Path, field: str) -> None:
    slots_for(cache_path, None).create("correct horse")
    data = read_json(cache_path)
    del data[field]
    write_json(cache_path, data)

    with pytest.raises(CorruptKeySlotsError, match="damaged"):
        slots_for(cache_path, None).unlock(passphrase="correct horse")


# --- tampering and secrecy -------------------------------------------------------------------


def test_tampered_keychain_slot_does_not_unlock(cache_path: Path, keychain: Keychain) -> None:
    slots_for(cache_path, keychain).create("correct horse")
    flip_wrapped_key(cache_path, "keychain")

    with pytest.raises(MissingKeyError, match="does not open"):
        slots_for(cache_path, keychain).unlock()


def test_tampered_passphrase_slot_does_not_unlock(cache_path: Path) -> None:
    slots_for(cache_path, None).create("correct horse")
    flip_wrapped_key(cache_path, "passphrase")

    with pytest.raises(WrongKeyError):
        slots_for(cache_path, None).unlock(passphrase="correct horse")


def test_slot_moved_to_another_cache_does_not_unlock(tmp_path: Path) -> None:
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    slots_for(first, None).create("same passphrase")
    slots_for(second, None).create("same passphrase")
    data = read_json(second)
    data["slots"] = read_json(first)["slots"]
    write_json(second, data)

    with pytest.raises(WrongKeyError):
        slots_for(second, None).unlock(passphrase="same passphrase")


def test_slots_file_holds_no_key_in_clear(
    cache_path: Path, keychain: Keychain, memory_keyring: MemoryKeyring
) -> None:
    created = slots_for(cache_path, keychain).create("correct horse")
    text = Path(f"{cache_path}.keys").read_text(encoding="utf-8")
    (stored_kek,) = memory_keyring.secrets.values()
    kek = base64.b64decode(stored_kek)

    for secret in (created.data_key, kek):
        for encoded in (
            secret.hex(),
            secret.hex().upper(),
            base64.b64encode(secret).decode(),
            base64.urlsafe_b64encode(secret).decode(),
            base64.b32encode(secret).decode(),
        ):
            assert encoded not in text
    for typed in ("correct horse", created.recovery_code, created.recovery_code.replace("-", "")):
        assert typed not in text
    assert created.data_key.hex() not in repr(created)
    assert created.recovery_code not in repr(created)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_slots_file_mode_is_0600(cache_path: Path, keychain: Keychain) -> None:
    slots = slots_for(cache_path, keychain)
    created = slots.create()
    assert os.stat(slots.path).st_mode & 0o777 == 0o600

    slots.add_passphrase(created.data_key, "correct horse")
    assert os.stat(slots.path).st_mode & 0o777 == 0o600
    assert [p.name for p in cache_path.parent.iterdir()] == ["cache.db.keys"]  # no temp left


def test_create_refuses_to_overwrite(cache_path: Path, keychain: Keychain) -> None:
    slots = slots_for(cache_path, keychain)
    created = slots.create()

    with pytest.raises(CacheError, match="already exists"):
        slots.create("correct horse")
    assert slots.unlock() == created.data_key


def test_create_refuses_empty_passphrase(cache_path: Path, keychain: Keychain) -> None:
    with pytest.raises(CacheError, match="empty"):
        slots_for(cache_path, keychain).create("")
    with pytest.raises(CacheError, match="empty"):
        slots_for(cache_path, keychain).create("   ")
    assert not slots_for(cache_path, keychain).exists()


def test_check(cache_path: Path, keychain: Keychain) -> None:
    slots = slots_for(cache_path, keychain)
    created = slots.create()

    assert slots.check(created.data_key)
    assert not slots.check(bytes(32))
    assert not slots.check(created.data_key[:-1] + bytes([created.data_key[-1] ^ 1]))


# --- changing slots --------------------------------------------------------------------------


def test_add_passphrase_after_keychain_unlock(
    cache_path: Path, keychain: Keychain, memory_keyring: MemoryKeyring
) -> None:
    slots = slots_for(cache_path, keychain)
    slots.create()
    data_key = slots.unlock()

    slots.add_passphrase(data_key, "correct horse")
    memory_keyring.secrets.clear()

    assert slots.slot_types() == ("keychain", "recovery", "passphrase")
    assert slots.unlock(passphrase="correct horse") == data_key


def test_add_passphrase_replaces_the_old_one(cache_path: Path) -> None:
    slots = slots_for(cache_path, None)
    data_key = slots.create("old passphrase").data_key

    slots.add_passphrase(data_key, "new passphrase")

    assert slots.unlock(passphrase="new passphrase") == data_key
    with pytest.raises(WrongKeyError):
        slots.unlock(passphrase="old passphrase")
    with pytest.raises(CacheError, match="empty"):
        slots.add_passphrase(data_key, "")


def test_changes_need_the_right_key(cache_path: Path) -> None:
    slots = slots_for(cache_path, None)
    slots.create("correct horse")

    with pytest.raises(WrongKeyError):
        slots.add_passphrase(bytes(32), "another")
    with pytest.raises(WrongKeyError):
        slots.new_recovery_code(bytes(32))


def test_remove_passphrase(cache_path: Path, keychain: Keychain) -> None:
    slots = slots_for(cache_path, keychain)
    data_key = slots.create("correct horse").data_key

    slots.remove_passphrase(data_key)

    assert slots.slot_types() == ("keychain", "recovery")
    assert slots.unlock() == data_key


def test_remove_passphrase_refuses_to_leave_only_recovery(cache_path: Path) -> None:
    slots = slots_for(cache_path, None)
    data_key = slots.create("correct horse").data_key

    with pytest.raises(CacheError, match="only the recovery code"):
        slots.remove_passphrase(data_key)
    assert slots.unlock(passphrase="correct horse") == data_key


def test_add_keychain_after_passphrase_unlock(cache_path: Path, keychain: Keychain) -> None:
    slots_for(cache_path, None).create("correct horse")
    slots = slots_for(cache_path, keychain)
    data_key = slots.unlock(passphrase="correct horse")

    slots.add_keychain(data_key)

    assert slots.unlock() == data_key
    assert slots.slot_types() == ("passphrase", "recovery", "keychain")


def test_add_keychain_keeps_an_existing_entry(
    cache_path: Path, keychain: Keychain, memory_keyring: MemoryKeyring
) -> None:
    slots = slots_for(cache_path, keychain)
    data_key = slots.create().data_key
    entry = dict(memory_keyring.secrets)

    slots.add_keychain(data_key)

    assert memory_keyring.secrets == entry
    assert slots.unlock() == data_key


def test_new_recovery_code_replaces_the_old_one(cache_path: Path, keychain: Keychain) -> None:
    slots = slots_for(cache_path, keychain)
    created = slots.create()

    code = slots.new_recovery_code(created.data_key)

    assert code != created.recovery_code
    assert slots_for(cache_path, None).unlock(recovery_code=code) == created.data_key
    with pytest.raises(WrongKeyError):
        slots_for(cache_path, None).unlock(recovery_code=created.recovery_code)


def test_passphrase_slot_records_its_kdf(cache_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slots_for(cache_path, None).create("correct horse")
    assert read_json(cache_path)["slots"][0]["kdf"]["name"] == "argon2id"  # type: ignore[index]

    other = cache_path.with_name("other.db")
    monkeypatch.setattr(keys, "_argon2_available", lambda: False)
    data_key = slots_for(other, None).create("correct horse").data_key
    kdf = read_json(other)["slots"][0]["kdf"]  # type: ignore[index]

    assert kdf["name"] == "scrypt"
    assert kdf["n"] == 2**FAST.scrypt_log2_n
    assert slots_for(other, None).unlock(passphrase="correct horse") == data_key


# --- the keychain ----------------------------------------------------------------------------


class OnlyRefusedChainer(chainer.ChainerBackend):
    backends = (make(null.Keyring), PlaintextKeyring())


@pytest.mark.parametrize(
    "backend",
    [make(fail.Keyring), make(null.Keyring), PlaintextKeyring(), make(OnlyRefusedChainer), None],
    ids=["fail", "null", "keyrings.alt", "empty chainer", "none"],
)
def test_refused_backends(cache_path: Path, backend: KeyringBackend | None) -> None:
    keychain = Keychain(backend)

    assert not keychain.usable
    assert keychain.load("account") is None
    with pytest.raises(KeychainUnavailableError):
        keychain.store("account", "secret")
    with pytest.raises(KeychainUnavailableError, match=keys.PASSPHRASE_ENV):
        slots_for(cache_path, keychain).create()
    assert not slots_for(cache_path, keychain).exists()


def test_chainer_uses_its_first_real_backend() -> None:
    plaintext, memory = PlaintextKeyring(), MemoryKeyring()

    class Chainer(chainer.ChainerBackend):
        backends = (plaintext, memory)

    keychain = Keychain(make(Chainer))
    keychain.store("account", "secret")

    assert keychain.usable
    assert memory.secrets == {("customer-card", "account"): "secret"}
    assert plaintext.secrets == {}


def test_test_backends_are_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(FILE_KEYRING_ENV, str(tmp_path / "keyring.json"))
    # What PYTHON_KEYRING_BACKEND=tests.helpers.keyring_backends.FileKeyring does.
    backend = keyring.core.load_keyring("tests.helpers.keyring_backends.FileKeyring")
    assert isinstance(backend, FileKeyring)

    for keychain in (Keychain(backend), Keychain(MemoryKeyring())):
        assert keychain.usable
        keychain.store("account", "secret")
        assert keychain.load("account") == "secret"
        keychain.delete("account")
        keychain.delete("account")  # absent is fine
        assert keychain.load("account") is None


def test_file_keyring_needs_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FILE_KEYRING_ENV, raising=False)

    with pytest.raises(RuntimeError, match=FILE_KEYRING_ENV):
        keyring.core.load_keyring("tests.helpers.keyring_backends.FileKeyring")


def test_dropping_backend_is_caught_by_read_back(cache_path: Path) -> None:
    keychain = Keychain(DroppingKeyring())
    assert keychain.usable

    with pytest.raises(KeychainUnavailableError, match="did not give it back"):
        keychain.store("account", "secret")
    with pytest.raises(KeychainUnavailableError):
        slots_for(cache_path, keychain).create()
    assert not slots_for(cache_path, keychain).exists()


def test_create_falls_back_to_passphrase_when_keychain_fails(
    cache_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    created = slots_for(cache_path, Keychain(DroppingKeyring())).create("correct horse")

    assert created.slots == ("passphrase", "recovery")
    assert "Not keeping the cache key in the keychain" in caplog.text


def test_broken_backend_gives_messages_not_tracebacks(
    cache_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keychain = Keychain(BrokenKeyring())

    with pytest.raises(KeychainUnavailableError, match="ServiceUnknown") as raised:
        keychain.store("account", "secret")
    assert "\n" not in str(raised.value)
    assert keychain.load("account") is None
    assert "ServiceUnknown" in caplog.text


def test_unreadable_keychain_is_reported_on_unlock(
    cache_path: Path, keychain: Keychain, caplog: pytest.LogCaptureFixture
) -> None:
    slots_for(cache_path, keychain).create("correct horse")

    with pytest.raises(MissingKeyError, match=r"cannot be read.*passphrase"):
        slots_for(cache_path, Keychain(BrokenKeyring())).unlock()


def test_failed_create_leaves_no_keychain_entry(
    tmp_path: Path, keychain: Keychain, memory_keyring: MemoryKeyring
) -> None:
    cache_path = tmp_path / "no such directory" / "cache.db"

    with pytest.raises(CacheError, match="Cannot write"):
        slots_for(cache_path, keychain).create()
    assert memory_keyring.secrets == {}
