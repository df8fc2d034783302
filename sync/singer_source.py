"""``singer``: the output of any Singer tap (SCHEMA / RECORD / STATE messages, one JSON a line).

Either a running tap (``command = ["tap-hubspot", "--config", "hubspot.json"]``) or a file of
its output (``file = "tap-output.jsonl"``). Each configured stream maps one tap stream
(``tap_stream``, default: the stream's name); records of other tap streams are ignored. The
tap's STATE messages become checkpoints (the tap's state is one value for all its streams, so
the whole tap is one resumable pass), and the last committed state is handed back to the tap
with ``--state FILE`` on the next run. A tap's secret configuration can come from the keychain:
``config_secret = "NAME"`` holds the tap's JSON config, written to a private temporary file
given with ``--config``. Output is read as bytes and decoded a line at a time: a line that is
not JSON, or a record that is not UTF-8 text, goes to quarantine whole, as it came (bytes that
are not UTF-8 as backslash escapes); a STATE that is not UTF-8 text stops the pass (it would go
back to the tap altered). A configured ``tap_stream`` the tap never mentions while it sends
records no stream maps is an error naming what it sent (see :class:`_StreamsSeen`), unless
those streams are listed in ``ignore_streams`` (streams of the tap nobody wants). A tap
runs in a process group of its own, ended as a whole (a tap behind a wrapper script too), each
process of it with the same grace to exit before it is killed.

Source settings: ``command`` or ``file``, ``config_secret``, ``state_arg`` (default
``--state``), ``config_arg`` (default ``--config``), ``ignore_streams`` (a list of tap stream
names). Stream settings: ``tap_stream``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Mapping
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sync.connector import (
    Cancelled,
    ConnectorError,
    Item,
    Rejected,
    SecretLookup,
    StreamSpec,
    map_row,
    prefixed,
)
from sync.mapping import ConfigError
from sync.records import Checkpoint

if TYPE_CHECKING:
    from sync.sources import SourceConfig

log = logging.getLogger(__name__)
TERMINATE_TIMEOUT_S = 10.0

SOURCE_KEYS = frozenset(
    {"command", "file", "config_secret", "state_arg", "config_arg", "ignore_streams"}
)
STREAM_KEYS = frozenset({"tap_stream"})
PASS = "tap"


def check(config: SourceConfig, key: str) -> None:
    command, file = config.settings.get("command"), config.settings.get("file")
    if (command is None) == (file is None):
        raise ConfigError('a singer source has command = ["tap-…", …] or file = "…"', key)
    if command is not None and (
        not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command)
    ):
        raise ConfigError("command is a list of words, the program first", f"{key}.command")
    ignored = config.settings.get("ignore_streams", [])
    if not isinstance(ignored, list) or not all(isinstance(name, str) for name in ignored):
        raise ConfigError(
            'ignore_streams is a list of the tap\'s stream names, e.g. ["deals", "owners"]',
            f"{key}.ignore_streams",
        )
    for stream in config.streams:
        if stream.full_extract:
            raise ConfigError(
                "a Singer tap's output says nothing of deletions: full_extract is not supported",
                f"{key}.streams.{stream.name}.full_extract",
            )


def create(config: SourceConfig, secrets: SecretLookup) -> SingerConnector:
    return SingerConnector(config, secrets)


class SingerConnector:
    def __init__(self, config: SourceConfig, secrets: SecretLookup) -> None:
        self.name = config.name
        self.streams = config.streams
        self.settings = config.settings
        self.base_dir = config.base_dir
        self.secrets = secrets
        self.by_tap_stream: dict[str, StreamSpec] = {
            str(s.options.get("tap_stream", s.name)): s for s in config.streams
        }
        # Set by interrupt() (another thread): the tap is ended, its output no longer used.
        self._interrupted = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def interrupt(self) -> None:
        """The sync was cancelled: end the running tap, so a read blocked on a tap that sends
        nothing ends now; the pass raises :class:`Cancelled` (what its committed checkpoints
        cover stays, the next run resumes from there)."""
        with self._lock:
            self._interrupted.set()
            process = self._process
        if process is not None and _running(process):
            _stop(process)

    def passes(self) -> tuple[str, ...]:
        return (PASS,)

    def read(self, name: str, state: Mapping[str, Any] | None) -> Iterator[Item]:
        state = dict(state or {})
        with ExitStack() as stack:
            if "file" in self.settings:
                path = self.base_dir / Path(str(self.settings["file"])).expanduser()
                try:
                    lines: IO[bytes] = stack.enter_context(path.open("rb"))
                except OSError as error:
                    raise ConnectorError(f"{self.name}: cannot read {path} ({error})") from None
                yield from self._messages(lines, state)
                return
            yield from self._run_tap(stack, state)

    def _run_tap(self, stack: ExitStack, state: dict[str, Any]) -> Iterator[Item]:
        command = [str(c) for c in self.settings["command"]]
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="singer-")))
        if self.settings.get("config_secret"):
            config_file = workdir / "config.json"
            fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.secrets(str(self.settings["config_secret"])))
            command += [str(self.settings.get("config_arg", "--config")), str(config_file)]
        if state.get("singer") is not None:
            state_file = workdir / "state.json"
            state_file.write_text(json.dumps(state["singer"]), encoding="utf-8")
            command += [str(self.settings.get("state_arg", "--state")), str(state_file)]
        log.info("%s: running %s", self.name, command[0])
        try:
            process = subprocess.Popen(
                command,
                cwd=self.base_dir,
                # Bytes, decoded a line at a time: a record that is not UTF-8 text goes to
                # quarantine (never into the cache with its letters replaced), and a tap
                # logging bad bytes does not kill the stderr reader (the tap would block on a
                # full pipe, and the sync hang with it).
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # A group of its own: a tap started by a wrapper script (a virtualenv's, a
                # container's) is ended with whatever it started, which would otherwise keep
                # the output open and the sync waiting. (A terminal's Ctrl+C reaches this
                # process only; it ends the tap on its way out, below.)
                start_new_session=GROUPS,
            )
        except OSError as error:
            raise ConnectorError(f"{self.name}: cannot start {command[0]} ({error})") from None
        with self._lock:
            self._process = process
            if self._interrupted.is_set():  # cancelled while it started
                _stop(process)
        errors: deque[str] = deque(maxlen=20)
        stderr = process.stderr
        assert process.stdout is not None
        assert stderr is not None
        # Drain stderr on a thread so a chatty tap never blocks on a full pipe.
        drain = threading.Thread(
            target=lambda: errors.extend(b.decode("utf-8", "replace") for b in stderr),
            daemon=True,
        )
        drain.start()
        try:
            # The last checkpoint ("done") only once the tap has ended well: a tap killed
            # mid-line (its last line cut) keeps its last STATE, not what followed it.
            last_state = yield from self._messages(process.stdout, state, final=False)
        finally:
            ended = process.poll() is None or self._interrupted.is_set()
            if process.poll() is None:
                _end(process)
            deadline = time.monotonic() + TERMINATE_TIMEOUT_S
            try:
                code = process.wait(timeout=TERMINATE_TIMEOUT_S)
            except subprocess.TimeoutExpired:  # a tap that ignores SIGTERM
                _end(process, kill=True)
                code = process.wait()
            # What it started, should that have outlived it, gets the same grace: a wrapper
            # script dies on SIGTERM at once, while the tap it runs may still be saving.
            if ended and not _group_gone(process, deadline):
                _end(process, kill=True)
            drain.join(timeout=5)
            process.stdout.close()
            stderr.close()
            with self._lock:
                self._process = None
        if code != 0:
            last = next((e.strip() for e in reversed(errors) if e.strip()), "no message")
            raise ConnectorError(f"{self.name}: the tap exited with status {code}: {last}")
        yield Checkpoint(self.name, PASS, {"singer": last_state, "at": _now(), "done": True})

    def _messages(
        self, lines: Iterable[bytes], state: dict[str, Any], *, final: bool = True
    ) -> Generator[Item, None, Any]:
        """The items of the tap's messages; returns its last state. ``final``: end with the
        checkpoint of a finished read (else the caller does, once it knows it finished)."""
        last_state = state.get("singer")
        ignored = frozenset(self.settings.get("ignore_streams", ()))
        streams = _StreamsSeen(self.name, self.by_tap_stream, ignored)
        for number, data in enumerate(lines, start=1):
            if self._interrupted.is_set():  # (a tap ended mid-line: its last line is cut)
                raise Cancelled
            try:
                line, bad_bytes = data.decode("utf-8"), False
            except UnicodeDecodeError:
                line, bad_bytes = data.decode("utf-8", "replace"), True
            if not line.strip():
                continue
            # What came, whole: bad bytes as backslash escapes (``\xe9``), never replaced.
            raw = (data.decode("utf-8", "backslashreplace") if bad_bytes else line).rstrip("\r\n")
            try:
                message = json.loads(line)
            except (ValueError, RecursionError):  # (nested too deep for the parser)
                yield Rejected(
                    self.name,
                    PASS,
                    next(iter(self.streams)).kind,
                    None,
                    raw,
                    f"line {number}: not a JSON message",
                )
                continue
            kind = message.get("type") if isinstance(message, dict) else None
            if kind in ("RECORD", "SCHEMA", "ACTIVATE_VERSION"):
                streams.mentioned(message.get("stream"), kind == "RECORD")
            if kind == "RECORD":
                stream = self.by_tap_stream.get(str(message.get("stream")))
                record = message.get("record")
                if stream is None:
                    continue
                if not isinstance(record, dict):
                    yield Rejected(
                        self.name,
                        stream.name,
                        stream.kind,
                        None,
                        raw,
                        "RECORD without a record object",
                    )
                    continue
                if bad_bytes:
                    yield Rejected(
                        self.name,
                        stream.name,
                        stream.kind,
                        prefixed(stream, stream.mapping.source_id(record)),
                        raw,
                        f"line {number}: bad encoding: bytes that are not UTF-8 text",
                    )
                    continue
                item = map_row(self.name, stream, record)
                if isinstance(item, Rejected) or stream.mapping.keeps(item):
                    yield item
            elif kind == "STATE":
                if bad_bytes:
                    # Handed back to the tap next run, it would resume from a changed bookmark.
                    raise ConnectorError(
                        f"{self.name}: line {number}: the tap's STATE message holds bytes that "
                        "are not UTF-8 text; it is not kept (the next run resumes from the last "
                        "good state)"
                    )
                last_state = message.get("value")
                if streams.suspect():
                    continue  # held back until the missing stream shows up (see _StreamsSeen)
                yield Checkpoint(self.name, PASS, {"singer": last_state, "at": _now()})
        if self._interrupted.is_set():
            raise Cancelled
        streams.check()
        if final:
            yield Checkpoint(self.name, PASS, {"singer": last_state, "at": _now(), "done": True})
        return last_state


class _StreamsSeen:
    """Which tap streams a run mentions, to tell a mistyped ``tap_stream`` from an empty stream.

    Some taps send no SCHEMA for a stream with nothing new, so a configured stream that never
    shows up is no error by itself. It is one when the tap also sent records of streams that no
    configured stream maps: those are most likely the records the configured name meant (a typo,
    a renamed stream), and they are being skipped. Then the tap's states are held back (saving
    one would resume the next run past the skipped records), and the run ends with an error
    naming what the tap did send. Streams listed as ``ignored`` are known to be unwanted: their
    records prove nothing.
    """

    def __init__(
        self, source: str, configured: Mapping[str, StreamSpec], ignored: frozenset[str]
    ) -> None:
        self.source = source
        self.configured = configured
        self.ignored = ignored
        self.seen: set[str] = set()
        self.skipped: dict[str, int] = {}  # records of streams no configured stream maps

    def mentioned(self, stream: object, record: bool) -> None:
        name = str(stream)
        self.seen.add(name)
        if record and name not in self.configured and name not in self.ignored:
            self.skipped[name] = self.skipped.get(name, 0) + 1

    def missing(self) -> list[str]:
        return [name for name in self.configured if name not in self.seen]

    def suspect(self) -> bool:
        return bool(self.skipped) and bool(self.missing())

    def check(self) -> None:
        if not self.suspect():
            return
        missing = ", ".join(
            f"{name!r} (stream {self.configured[name].name})" for name in self.missing()
        )
        sent = ", ".join(
            f"{name!r} ({n} record{'' if n == 1 else 's'})" for name, n in self.skipped.items()
        )
        raise ConnectorError(
            f"{self.source}: the tap sent nothing of tap_stream {missing} but sent records of "
            f"{sent}, which no stream maps; check tap_stream in the sources file, or list the "
            "tap streams nobody wants in the source's ignore_streams (the tap's state was not "
            "saved past them: the next run reads them again)"
        )


GROUPS = os.name == "posix"


def _end(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """Stop a tap and the processes it started (its process group), or only the tap where
    there are no groups."""
    if not GROUPS:
        if kill:
            process.kill()
        else:
            process.terminate()
        return
    with suppress(ProcessLookupError, PermissionError):  # (all gone already)
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End a tap a cancel interrupts: SIGTERM now, SIGKILL to what is left after the grace (a
    tap that ignores SIGTERM would keep its output open, and the read waiting)."""
    _end(process)
    deadline = time.monotonic() + TERMINATE_TIMEOUT_S
    threading.Thread(
        target=_kill_after_grace, args=(process, deadline), name="tap-grace", daemon=True
    ).start()


def _running(process: subprocess.Popen[bytes]) -> bool:
    """Whether the tap, or a process of its group, still runs: a wrapper script may have
    exited and left the tap it started running (and holding the output open)."""
    return process.poll() is None or (GROUPS and _group_running(process.pid))


def _kill_after_grace(process: subprocess.Popen[bytes], deadline: float) -> None:
    """Kill what is left of a tap sent SIGTERM, once ``deadline`` has passed."""
    if GROUPS:
        if _group_gone(process, deadline):
            return
    else:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
            return
        except subprocess.TimeoutExpired:
            pass
    _end(process, kill=True)


def _group_gone(process: subprocess.Popen[bytes], deadline: float) -> bool:
    """Wait until no process of the tap's group runs any more, or until ``deadline`` (a
    :func:`time.monotonic` time); whether they are all gone."""
    if not GROUPS:
        return True
    while _group_running(process.pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _group_running(group: int) -> bool:
    """Whether a process of the group is still running. One that has exited and waits for its
    reaper (a zombie: a wrapper's tap is reaped by whoever adopts it, if anyone) does not count."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # (one of another user: it is running)
        return True
    try:
        entries = os.scandir("/proc")
    except OSError:  # no /proc: the zombies count
        return True
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:  # gone meanwhile
                continue
            # After the command's name (in parentheses, any bytes): state, parent, group.
            state, _, pgrp = stat.rsplit(b")", 1)[1].split()[:3]
            if int(pgrp) == group and state != b"Z":
                return True
    return False


def _now() -> str:
    return datetime.now(UTC).isoformat()
