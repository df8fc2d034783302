"""Writing files that hold personal data: private (0600) from the first byte, all or nothing."""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


class ExportError(Exception):
    """The export file cannot be written; ``str(error)`` is the one-line message."""


# The process's own open files by name: what the shell connected (a pipe, a terminal, a file
# appended to with >>), written through the open descriptor, never opened again by name
# (that would truncate an appended file, and a socket cannot be opened by name).
_STANDARD = {"/dev/stdout": 1, "/dev/stderr": 2}
_DESCRIPTOR = re.compile(r"/(?:dev/fd|proc/self/fd)/(\d+)")
# Character devices an export may go into besides terminals (a raw disk is one on macOS).
_SINKS = frozenset({"/dev/null", "/dev/full"})


def _descriptor(path: Path) -> int | None:
    text = str(path)
    if text in _STANDARD:
        return _STANDARD[text]
    found = _DESCRIPTOR.fullmatch(text)
    return int(found[1]) if found else None


def _is_stream(path: Path) -> bool:
    """A pipe, a terminal, ``/dev/null`` or ``/dev/full``: written into, never replaced."""
    try:
        mode = path.stat().st_mode  # (through links)
    except OSError:
        return False
    if stat.S_ISFIFO(mode):
        return True
    if not stat.S_ISCHR(mode):
        return False
    device = str(path.resolve())
    return device in _SINKS or device.startswith(("/dev/tty", "/dev/pts/"))


def written_in_place(path: Path) -> bool:
    """Whether an export to ``path`` is written into something already there — the process's
    output (``/dev/stdout``, ``/dev/fd/63`` of a shell's ``>(gzip > f)``), a pipe, a terminal —
    as it goes, rather than as a whole new file moved over ``path``."""
    return _descriptor(path) is not None or _is_stream(path)


def is_special(path: Path) -> bool:
    """Whether ``path`` is a device or other special file no export may replace or write
    into (a disk, a socket, an unknown device)."""
    return path.exists() and not path.is_file() and not path.is_dir() and not written_in_place(path)


@contextmanager
def private_text_file(path: Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """Yield a text handle on a temporary file beside ``path``, readable by its owner only;
    on success it replaces ``path`` atomically (a link is replaced, never its target), on any
    error it is removed. Where ``written_in_place``, the text goes straight in: a stream
    cannot be all or nothing, and moving a file over it would replace the device itself."""
    descriptor = _descriptor(path)
    if descriptor is not None or _is_stream(path):
        with _in_place(path, descriptor, newline) as handle:
            yield handle
        return
    if is_special(path):
        raise ExportError(f"{path} is a device or other special file; give a file name")
    if path.is_dir():
        raise ExportError(f"{path} is a directory; give a file name")
    if not path.parent.is_dir():
        raise ExportError(f"no directory {path.parent}")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise ExportError(f"cannot write in {path.parent}: {error.strerror}") from error
    tmp = Path(tmp_name)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {error.strerror}") from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _in_place(path: Path, descriptor: int | None, newline: str | None) -> Iterator[TextIO]:
    try:
        if descriptor is not None:
            handle = os.fdopen(os.dup(descriptor), "w", encoding="utf-8", newline=newline)
        else:
            handle = path.open("w", encoding="utf-8", newline=newline)
        with handle:
            yield handle
    except OSError as error:  # a full device, the reading end of a pipe gone, no such output
        raise ExportError(f"cannot write {path}: {error.strerror}") from error
