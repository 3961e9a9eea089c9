"""Resumable encodes: the fit's state saved atomically beside the output, and Ctrl-C handling.

A checkpoint holds, per segment, what a resume needs: the finished segments' payload hashes (their
payloads wait in the spool folder beside it, spool.py) and the running segment's complete fit
state, each with the SHA-256 of its frames, plus a fingerprint of
every option that shapes the result; a resume with different input or options is refused rather
than silently mixing two encodes. Segments are keyed by index, so they may finish in any order. It
is a torch file of tensors and plain values only, loaded with weights_only=True (no arbitrary
pickles).
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from contextlib import contextmanager

import torch

from ..atomic import atomic_output
from ..errors import InputError, InrcodecError

FORMAT = 3  # 3: per-segment payload and frame hashes, payloads in a spool (2: levels, one hash of the clip)


class Interrupted(InrcodecError):
    """The user pressed Ctrl-C; the message says where the state went and how to resume."""

    exit_code = 130


def fingerprint(settings: dict) -> dict:
    """What a resume must match: the encode settings, a dataclass's fields one by one (so a refusal
    can name the option that differs). The frames are matched per segment (segment.frames_digest)."""
    flat = {}
    for k, v in settings.items():
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            flat.update({f"{k}.{f.name}": repr(getattr(v, f.name)) for f in dataclasses.fields(v)})
        else:
            flat[k] = repr(v)
    return flat


class Checkpointer:
    """Saves every `minutes` (0 = after every epoch) and on demand; loads for --resume."""

    def __init__(self, path: str, fingerprint: dict, minutes: float = 5.0) -> None:
        self.path, self.fingerprint, self.minutes = path, fingerprint, minutes
        self.last = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.minutes * 60.0

    def save(self, finished: dict[int, dict], running: dict | None) -> None:
        """`finished`: index -> {"frames_sha256", "payload_sha256"} (the payloads themselves are in
        the spool beside the checkpoint); `running`: {"index", "frames_sha256", "state" (the fit's
        state)} or None."""
        state = {"format": FORMAT, "fingerprint": self.fingerprint,
                 "done": {int(i): dict(d) for i, d in finished.items()}, "running": running}
        with atomic_output(self.path) as f:
            torch.save(state, f)
        self.last = time.monotonic()

    def load(self) -> tuple[dict[int, dict], dict | None]:
        """(finished segments, the running one) of a matching checkpoint (InputError otherwise)."""
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise InputError(f"--resume: no checkpoint at {self.path}") from None
        except Exception as e:  # a damaged or foreign file
            raise InputError(f"--resume: {self.path} is not a usable checkpoint ({type(e).__name__})") from None
        if isinstance(state, dict) and isinstance(state.get("format"), int) and state["format"] < FORMAT:
            raise InputError(f"--resume: {self.path} was written by an earlier inrcodec (checkpoint format "
                             f"{state['format']}); start over with -y")
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise InputError(f"--resume: {self.path} is not an inrcodec checkpoint")
        theirs = state.get("fingerprint", {})
        for key, value in self.fingerprint.items():
            if theirs.get(key) != value:
                raise InputError(f"--resume: the checkpoint was made with a different {key} "
                                 f"(checkpoint: {theirs.get(key, 'not recorded')}, now: {value})")
        return {int(i): d for i, d in state["done"].items()}, state.get("running")


@contextmanager
def ctrl_c_requests_stop():
    """While fitting, the first Ctrl-C only sets a flag (the fit stops before its next step and
    saves); a second Ctrl-C interrupts at once. Outside the main thread this does nothing."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        flag.set()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def peek_fingerprint(path: str) -> dict:
    """The settings a checkpoint was made with ({} when it is missing or unreadable: the resume
    itself then says what is wrong). Memory-mapped: only the pickled structure is read, not the
    fit's tensors, which the resume then loads once."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return {}
    return state.get("fingerprint", {}) if isinstance(state, dict) else {}
