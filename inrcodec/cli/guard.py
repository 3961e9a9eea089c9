"""What the CLI does about signals and failures that are not the codec's own errors: SIGINT and
SIGTERM end the command with one line and exit 130 / 143 (after the outputs' temporary files are
removed: the signal is raised as an exception, so every ``with`` block unwinds), whatever exception
the signal surfaced as (PyAV turns an interrupt inside its muxer into its own error); an allocation
failure or a PyAV error becomes a one-line InrcodecError (exit 2)."""

from __future__ import annotations

import signal
from collections.abc import Callable

from ..errors import InrcodecError

_NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
_received: list[int] = []


class SignalExit(InrcodecError):
    def __init__(self, signum: int) -> None:
        super().__init__(_NAMES.get(signum, f"signal {signum}"))
        self.exit_code = 128 + signum


class _Stop(BaseException):
    """Raised by the signal handler: not a KeyboardInterrupt, which click would answer with a
    blank line on stderr; a BaseException, so ``except Exception`` blocks let it through."""


def _handler(signum, frame):
    first = not _received
    _received.append(signum)
    if first:  # later signals only wait for the clean-up the first one started
        raise _Stop(signum)


def install() -> None:
    """SIGINT and SIGTERM raise (once) in the main thread; call before the command runs."""
    _received.clear()
    for s in _NAMES:
        signal.signal(s, _handler)


def _is_allocation_failure(e: BaseException) -> bool:
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and "allocate" in str(e))


def run(fn: Callable[[], object]) -> object:
    """fn(), with a signal's or an allocation's or PyAV's failure as a one-line InrcodecError."""
    try:
        return fn()
    except SystemExit:
        raise
    except BaseException as e:
        if _received:
            raise SignalExit(_received[0]) from None
        if isinstance(e, InrcodecError) or isinstance(e, KeyboardInterrupt):
            raise
        if _is_allocation_failure(e):
            raise InrcodecError(f"out of memory: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        if type(e).__module__.startswith("av."):
            raise InrcodecError(f"video I/O failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        raise
