"""What a long call tells its caller while it runs: progress events and one-line warnings.

The library prints nothing itself. `encode` and `decode` take a `progress` callback that receives
`Progress` events (the CLI draws them as a bar); problems that do not stop the work (an option that
has no effect, an input converted on the way in, an output larger than its input) are issued as
`InrcodecWarning` through Python's `warnings`, which the CLI prints as one line each and a caller
can filter or turn into errors. `quiet=True` in the API silences them for that call.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

PHASES = ("read", "fit", "measure", "decode")


@dataclass(frozen=True)
class Progress:
    """One event. `done` and `total` count frames read ("read"; total None for a stream of unknown
    length), fitting steps over all segments ("fit"), frames decoded and measured ("measure") or
    frames rendered and written ("decode"); `status` is a short human-readable detail."""

    phase: str
    done: int
    total: int | None
    status: str = ""


ProgressCallback = Callable[[Progress], None]


class InrcodecWarning(UserWarning):
    """Something the user should know that does not stop the work."""


def warn(message: str) -> None:
    warnings.warn(message, InrcodecWarning, stacklevel=2)


@contextmanager
def quiet_warnings(quiet: bool) -> Iterator[None]:
    """Silence InrcodecWarning inside the block when `quiet`."""
    if not quiet:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InrcodecWarning)
        yield


class Throttle:
    """Passes events to `callback` at most every `seconds`, always the first and the last of a
    phase, so a per-step or per-frame caller costs nothing when nobody listens."""

    def __init__(self, callback: ProgressCallback | None, seconds: float = 0.2) -> None:
        self.callback, self.seconds = callback, seconds
        self.last = -float("inf")
        self.phase: str | None = None

    def __call__(self, phase: str, done: int, total: int | None, status: str = "", force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        first = phase != self.phase
        if force or first or (total is not None and done >= total) or now - self.last >= self.seconds:
            self.phase, self.last = phase, now
            self.callback(Progress(phase, done, total, status))
