"""Forked sync helpers: Ctrl+C around a fork."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Iterator

import pytest

from customer_card.services.forking import forking, start_child

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="syncs fork only on Linux")


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """Ctrl+C raising KeyboardInterrupt here, as in a terminal (a job started in the background,
    as a CI runner's may be, inherits SIGINT ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.usefixtures("ctrl_c")
def test_a_ctrl_c_during_a_fork_interrupts_once_the_fork_is_done() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt):  # noqa: PT012 (where it is raised is the point)
        with forking():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("after the signal")  # held: the fork's own handlers would drop it
        steps.append("after the fork")  # not reached: it interrupts as the fork ends
    assert steps == ["after the signal"]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


def _report_mask(parent: int, out: multiprocessing.connection.Connection) -> None:
    start_child(parent)
    out.send(
        (
            signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set()),
            signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
        )
    )


def test_a_helper_forked_meanwhile_ignores_ctrl_c_without_holding_it() -> None:
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    with forking():
        child = context.Process(target=_report_mask, args=(os.getpid(), send))
        child.start()
    assert receive.recv() == (False, True)
    child.join(10)
    assert child.exitcode == 0


def test_a_fork_beside_threads_is_not_warned_about_but_other_warnings_are() -> None:
    # Python 3.12's warning at a fork of a process running threads (the tests run warnings as
    # errors): silenced around our forks only; any other warning, and the same one elsewhere,
    # still counts.
    text = (
        f"This process (pid={os.getpid()}) is multi-threaded, use of fork() may lead to "
        "deadlocks in the child."
    )
    with forking():
        warnings.warn(text, DeprecationWarning, stacklevel=1)
        with pytest.raises(DeprecationWarning, match="something else"):
            warnings.warn("something else", DeprecationWarning, stacklevel=1)
    with pytest.raises(DeprecationWarning, match="multi-threaded"):
        warnings.warn(text, DeprecationWarning, stacklevel=1)
