"""``singer``: the output of any Singer tap (SCHEMA / RECORD / STATE messages, one JSON a line).

Either a running tap (``command = ["tap-hubspot", "--config", "hubspot.json"]``) or a file of
its output (``file = "tap-output.jsonl"``). Each configured stream maps one tap stream
(``tap_stream``, default: the stream's name); records of other tap streams are ignored. The
tap's STATE messages become checkpoints (the tap's state is one value for all its streams, so
the whole tap is one resumable pass), and the last committed state is handed back to the tap
with ``--state FILE`` on the next run. A tap's secret configuration can come from the keychain:
``config_secret = "NAME"`` holds the tap's JSON config, written to a private temporary file
given with ``--config``. Output is read as bytes and decoded a line at a time: a line that is
not JSON, or a record that is not UTF-8 text, goes to quarantine as it came.

Source settings: ``command`` or ``file``, ``config_secret``, ``state_arg`` (default
``--state``), ``config_arg`` (default ``--config``). Stream settings: ``tap_stream``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sync.connector import (
    ConnectorError,
    Item,
    Rejected,
    SecretLookup,
    StreamSpec,
    map_row,
)
from sync.mapping import ConfigError
from sync.records import Checkpoint

if TYPE_CHECKING:
    from sync.sources import SourceConfig

log = logging.getLogger(__name__)
TERMINATE_TIMEOUT_S = 10.0

SOURCE_KEYS = frozenset({"command", "file", "config_secret", "state_arg", "config_arg"})
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
            )
        except OSError as error:
            raise ConnectorError(f"{self.name}: cannot start {command[0]} ({error})") from None
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
            yield from self._messages(process.stdout, state)
        finally:
            if process.poll() is None:
                process.terminate()
            try:
                code = process.wait(timeout=TERMINATE_TIMEOUT_S)
            except subprocess.TimeoutExpired:  # a tap that ignores SIGTERM
                process.kill()
                code = process.wait()
            drain.join(timeout=5)
            process.stdout.close()
            stderr.close()
        if code != 0:
            last = next((e.strip() for e in reversed(errors) if e.strip()), "no message")
            raise ConnectorError(f"{self.name}: the tap exited with status {code}: {last}")

    def _messages(self, lines: Iterable[bytes], state: dict[str, Any]) -> Iterator[Item]:
        last_state = state.get("singer")
        for number, data in enumerate(lines, start=1):
            try:
                line, bad_bytes = data.decode("utf-8"), False
            except UnicodeDecodeError:
                line, bad_bytes = data.decode("utf-8", "replace"), True
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except (ValueError, RecursionError):  # (nested too deep for the parser)
                yield Rejected(
                    self.name,
                    PASS,
                    next(iter(self.streams)).kind,
                    None,
                    line[:4000],
                    f"line {number}: not a JSON message",
                )
                continue
            kind = message.get("type") if isinstance(message, dict) else None
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
                        line[:4000],
                        "RECORD without a record object",
                    )
                    continue
                if bad_bytes:
                    yield Rejected(
                        self.name,
                        stream.name,
                        stream.kind,
                        stream.mapping.source_id(record),
                        data.decode("utf-8", "backslashreplace").rstrip("\r\n"),  # whole: a record
                        f"line {number}: bad encoding: bytes that are not UTF-8 text",
                    )
                    continue
                item = map_row(self.name, stream, record)
                if isinstance(item, Rejected) or stream.mapping.keeps(item):
                    yield item
            elif kind == "STATE":
                last_state = message.get("value")
                yield Checkpoint(self.name, PASS, {"singer": last_state, "at": _now()})
        yield Checkpoint(self.name, PASS, {"singer": last_state, "at": _now(), "done": True})


def _now() -> str:
    return datetime.now(UTC).isoformat()
