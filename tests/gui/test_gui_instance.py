"""Single instance per cache: the second launch hands its request to the first."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDir

from customer_card.ui.instance import SingleInstance


@pytest.fixture
def key() -> str:
    return f"test-{uuid.uuid4().hex}"


def test_second_instance_hands_off_its_request(qtbot: Any, tmp_path: Path, key: str) -> None:
    primary = SingleInstance(key, tmp_path)
    second = SingleInstance(key, tmp_path)
    try:
        assert primary.acquire()
        assert primary.is_primary
        assert not second.acquire()
        with qtbot.waitSignal(primary.message_received, timeout=3000) as received:
            assert second.send({"search": "Dupont", "phone": "+33 6 12"})
        assert received.args == [{"search": "Dupont", "phone": "+33 6 12"}]
        messages: list[dict[str, Any]] = []
        primary.message_received.connect(messages.append)
        assert second.send({"customer_id": 1})
        assert second.send({"customer_id": 2})
        qtbot.waitUntil(lambda: len(messages) == 2)
        assert messages == [{"customer_id": 1}, {"customer_id": 2}]
    finally:
        primary.release()


def test_lock_is_free_again_after_release(tmp_path: Path, key: str) -> None:
    first = SingleInstance(key, tmp_path)
    assert first.acquire()
    first.release()
    again = SingleInstance(key, tmp_path)
    assert again.acquire()
    again.release()


def test_keys_and_directories_are_independent(tmp_path: Path, key: str) -> None:
    one = SingleInstance(key, tmp_path)
    other = SingleInstance(key + "-other", tmp_path)
    try:
        assert one.acquire()
        assert other.acquire()
    finally:
        one.release()
        other.release()


def test_old_lock_of_a_living_primary_is_not_stolen(tmp_path: Path, key: str) -> None:
    primary = SingleInstance(key, tmp_path)
    try:
        assert primary.acquire()
        lock_file = tmp_path / f"{primary.server_name}.lock"
        day_ago = time.time() - 86_400
        os.utime(lock_file, (day_ago, day_ago))  # a window open since yesterday
        assert not SingleInstance(key, tmp_path).acquire()
    finally:
        primary.release()


def test_lock_left_by_a_crashed_process_is_taken_over(tmp_path: Path, key: str) -> None:
    probe = SingleInstance(key, tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    lock_file = tmp_path / f"{probe.server_name}.lock"
    # QLockFile's format: pid, application name, host name.
    lock_file.write_text(f"{dead.stdout.strip()}\npython\n{socket.gethostname()}\n")
    assert probe.acquire()
    probe.release()


@pytest.mark.skipif(sys.platform == "win32", reason="socket files are a Unix leftover")
def test_socket_left_by_a_crashed_process_is_replaced(qtbot: Any, tmp_path: Path, key: str) -> None:
    primary = SingleInstance(key, tmp_path)
    leftover = Path(QDir.tempPath()) / primary.server_name
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(leftover))
    stale.close()  # the file stays, as after a crash
    try:
        assert primary.acquire()
        with qtbot.waitSignal(primary.message_received, timeout=3000) as received:
            assert SingleInstance(key, tmp_path).send({"customer_id": 7})
        assert received.args == [{"customer_id": 7}]
    finally:
        primary.release()
        leftover.unlink(missing_ok=True)


def test_send_without_primary_fails_quickly(tmp_path: Path, key: str) -> None:
    lonely = SingleInstance(key, tmp_path)
    assert not lonely.send({"customer_id": 1}, timeout_ms=200)


def test_garbage_is_dropped(qtbot: Any, tmp_path: Path, key: str) -> None:
    from PySide6.QtNetwork import QLocalSocket

    primary = SingleInstance(key, tmp_path)
    try:
        assert primary.acquire()
        messages: list[dict[str, Any]] = []
        primary.message_received.connect(messages.append)
        raw = QLocalSocket()
        raw.connectToServer(primary.server_name)
        assert raw.waitForConnected(1000)
        raw.write(b"not json\n[1, 2]\n")
        raw.waitForBytesWritten(1000)
        raw.disconnectFromServer()
        assert SingleInstance(key, tmp_path).send({"ok": True})
        qtbot.waitUntil(lambda: messages == [{"ok": True}])
    finally:
        primary.release()
