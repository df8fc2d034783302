"""One running window per cache: a second launch hands its request to the first and exits.

The first process holds a ``QLockFile`` beside the cache and listens on a
``QLocalServer``; a later launch fails to take the lock, connects to the server and
writes its request as one JSON line. A crashed first process leaves a lock file whose
PID is gone (QLockFile treats it as stale) and possibly a socket file (removed with
``QLocalServer.removeServer`` before listening).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QDeadlineTimer, QDir, QLockFile, QObject, QThread, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 1500
MAX_MESSAGE_BYTES = 64 * 1024


def current_user() -> str:
    """The login name: who advisors' notes and corrections are recorded as."""
    return _user()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers)
        return "user"


class SingleInstance(QObject):
    """``acquire()`` once at start; the primary gets ``message_received`` for each hand-off."""

    message_received = Signal(dict)

    def __init__(
        self, key: str, directory: str | Path | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        digest = hashlib.sha256(f"{_user()}\0{key}".encode()).hexdigest()[:20]
        self._server_name = f"customer-card-{digest}"
        folder = Path(directory) if directory is not None else Path(QDir.tempPath())
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = QLockFile(str(folder / f"{self._server_name}.lock"))
        # The primary holds the lock for hours: never treat it as stale by age. A lock
        # left by a dead process is still detected as stale through its PID.
        self._lock.setStaleLockTime(0)
        self._server: QLocalServer | None = None
        self._buffers: dict[QLocalSocket, bytearray] = {}
        self._primary = False

    @property
    def server_name(self) -> str:
        return self._server_name

    @property
    def is_primary(self) -> bool:
        return self._primary

    def acquire(self) -> bool:
        """True when this process is the first for the key (and now listens for others)."""
        if self._primary:
            return True
        if not self._lock.tryLock(0):
            if self._lock.error() == QLockFile.LockError.LockFailedError:
                return False
            # Permission or unknown error: run alone rather than refuse to start.
            log.warning("cannot use the instance lock (%s); running unshared", self._lock.error())
            self._primary = True
            return True
        self._primary = True
        self._listen()
        return True

    def _listen(self) -> None:
        # We own the lock, so a socket file with this name can only be a crash leftover.
        QLocalServer.removeServer(self._server_name)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self._server_name):
            log.warning("cannot listen on %s: %s", self._server_name, server.errorString())
            return
        server.newConnection.connect(self._on_new_connection)
        self._server = server

    def send(self, message: dict[str, Any], timeout_ms: int = CONNECT_TIMEOUT_MS) -> bool:
        """From a second launch: hand ``message`` to the primary. True when delivered."""
        payload = json.dumps(message, ensure_ascii=False).encode() + b"\n"
        deadline = QDeadlineTimer(timeout_ms)
        socket = QLocalSocket()
        while True:
            socket.connectToServer(self._server_name)
            if socket.waitForConnected(max(1, min(200, deadline.remainingTime()))):
                break
            socket.abort()
            if deadline.hasExpired():
                log.info("no running instance answers on %s", self._server_name)
                return False
            QThread.msleep(50)  # the primary may be between taking the lock and listening
        socket.write(QByteArray(payload))
        delivered = socket.waitForBytesWritten(max(1, deadline.remainingTime()))
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(max(1, deadline.remainingTime()))
        return delivered

    def release(self) -> None:
        """Stop listening and free the lock (also done when the process exits)."""
        for socket in list(self._buffers):
            self._forget(socket)
        if self._server is not None:
            self._server.newConnection.disconnect(self._on_new_connection)
            self._server.close()
            self._server.deleteLater()
            self._server = None
        if self._lock.isLocked():
            self._lock.unlock()
        self._primary = False

    def _on_new_connection(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.setParent(self)  # outlives the server's close(); freed in _forget
            self._buffers[socket] = bytearray()
            socket.readyRead.connect(self._on_ready_read_signal)
            socket.disconnected.connect(self._on_disconnected_signal)
            if socket.bytesAvailable():
                self._on_ready_read(socket)

    def _on_ready_read_signal(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket) and socket in self._buffers:
            self._on_ready_read(socket)

    def _on_disconnected_signal(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket) and socket in self._buffers:
            self._on_disconnected(socket)

    def _forget(self, socket: QLocalSocket) -> None:
        self._buffers.pop(socket, None)
        socket.readyRead.disconnect(self._on_ready_read_signal)
        socket.disconnected.disconnect(self._on_disconnected_signal)
        socket.abort()
        socket.deleteLater()

    def _on_ready_read(self, socket: QLocalSocket) -> None:
        buffer = self._buffers.setdefault(socket, bytearray())
        buffer.extend(bytes(socket.readAll().data()))
        if len(buffer) > MAX_MESSAGE_BYTES:
            log.warning("instance message too long; dropped")
            self._forget(socket)
            return
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            self._deliver(line)

    def _on_disconnected(self, socket: QLocalSocket) -> None:
        self._on_ready_read(socket)
        leftover = self._buffers.get(socket, bytearray())
        if leftover.strip():  # a last line without its newline
            self._deliver(bytes(leftover))
        if socket in self._buffers:
            self._forget(socket)

    def _deliver(self, line: bytes) -> None:
        try:
            message = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            log.warning("instance message is not JSON; dropped")
            return
        if isinstance(message, dict):
            self.message_received.emit(message)
        else:
            log.warning("instance message is not an object; dropped")
