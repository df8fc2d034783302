"""Writing files that hold personal data: private (0600) from the first byte, all or nothing."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


class ExportError(Exception):
    """The export file cannot be written; ``str(error)`` is the one-line message."""


def is_stream(path: Path) -> bool:
    """Whether ``path`` is a pipe, a terminal or another character device (``/dev/stdout``,
    ``/dev/fd/63`` of a shell's ``>(gzip > f)``): written into, never replaced."""
    try:
        mode = path.stat().st_mode  # (through links: /dev/stdout is one)
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


@contextmanager
def private_text_file(path: Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """Yield a text handle on a temporary file beside ``path``, readable by its owner only;
    on success it replaces ``path`` atomically, on any error it is removed. A link is followed
    (its target is replaced, the link kept). A stream (``is_stream``) is written into directly:
    it cannot be all or nothing, and moving a file over it would replace the device itself."""
    if is_stream(path):
        with _into_stream(path, newline) as handle:
            yield handle
        return
    if path.is_symlink():
        path = path.resolve()
    if path.exists() and not path.is_file() and not path.is_dir():
        raise ExportError(f"{path} is a disk or other special file; give a file name")
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
def _into_stream(path: Path, newline: str | None) -> Iterator[TextIO]:
    try:
        with path.open("w", encoding="utf-8", newline=newline) as handle:
            yield handle
    except OSError as error:  # a full device, the reading end of a pipe gone
        raise ExportError(f"cannot write {path}: {error.strerror}") from error
