"""Forked sync helpers: Ctrl+C around a fork."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
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
