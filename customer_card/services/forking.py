"""Second processes forked by a sync: when it is safe, and how they end with their parent.

A sync forks helpers (the history reader, the customer extractor) to use a second core. A fork
copies the whole process: only safe from the main thread of a process whose other threads do
not hold what the child needs (the window's sync thread is not one: Qt and the cache live in
the others), and only on Linux (other systems have no fork, or not a safe one). A forked
helper must also end when its parent is killed: an orphan would keep a source's connection
and its transaction open, and the command's output pipes with them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def can_fork() -> bool:
    """True where a sync may fork a helper: Linux, the main thread, another core to use."""
    return (
        sys.platform == "linux"
        and threading.current_thread() is threading.main_thread()
        and (os.cpu_count() or 1) > 1
    )


def start_child(parent: int) -> None:
    """First thing in a forked helper: Ctrl+C is for the parent (which stops its helpers), and
    the kernel kills this process when ``parent`` (the pid that forked it) dies, however it
    dies; if it is already gone, exit now."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # held by ``forking()``
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # died between the fork and the line above
        os._exit(0)


@contextmanager
def forking() -> Iterator[None]:
    """Around a fork: a Ctrl+C arriving meanwhile waits until the fork is done, then
    interrupts the parent as usual. Delivered during the fork, Python raises it inside the
    fork's own handlers, which drop it ("Exception ignored"), and the sync runs on.

    Python 3.12 and later warn at every fork of a process that runs other threads (a fork may
    copy a lock another thread holds, and the child wait on it for ever). Ours are safe to
    fork beside the threads a sync runs (ingest's watcher of a silent source, a reader thread,
    a pipe's sender): the child runs only the matching's and the reader's own code, and takes
    none of their locks (its SQLite, if any, it opens itself). The warning would otherwise be
    printed at every sync, and be an error where warnings are (the tests)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _FORK_WITH_THREADS, DeprecationWarning)
            yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


# Python 3.12's warning: "This process (pid=...) is multi-threaded, use of fork() may lead to
# deadlocks in the child."
_FORK_WITH_THREADS = r"This process \(pid=\d+\) is multi-threaded, use of fork\(\) may lead to"
