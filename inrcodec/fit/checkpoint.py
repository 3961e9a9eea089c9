"""Resumable encodes: the fit's state saved atomically beside the output, and Ctrl-C handling.

A checkpoint holds the finished segments' levels and scales and the running segment's complete
Fitter state, plus a fingerprint of the input frames and every option that shapes the result; a
resume with different input or options is refused rather than silently mixing two encodes. It is a
torch file of tensors and plain values only, loaded with weights_only=True (no arbitrary pickles).
"""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import threading
import time
from contextlib import contextmanager

import numpy as np
import torch

from ..atomic import atomic_output
from ..errors import InputError, InrcodecError

FORMAT = 2  # 2: masks are recomputed from the scores on resume (no thresholds or levels stored)


class Interrupted(InrcodecError):
    """The user pressed Ctrl-C; the message says where the state went and how to resume."""

    exit_code = 130


def fingerprint(frames: np.ndarray, settings: dict) -> dict:
    """What a resume must match: the exact input frames and the encode settings, a dataclass's
    fields one by one (so a refusal can name the option that differs)."""
    digest = hashlib.sha256(memoryview(np.ascontiguousarray(frames)).cast("B")).hexdigest()
    flat = {}
    for k, v in settings.items():
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            flat.update({f"{k}.{f.name}": repr(getattr(v, f.name)) for f in dataclasses.fields(v)})
        else:
            flat[k] = repr(v)
    return {"frames_sha256": digest, **flat}


class Checkpointer:
    """Saves every `minutes` (0 = after every epoch) and on demand; loads for --resume."""

    def __init__(self, path: str, fingerprint: dict, minutes: float = 5.0) -> None:
        self.path, self.fingerprint, self.minutes = path, fingerprint, minutes
        self.last = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.minutes * 60.0

    def save(self, segment: int, done: list[dict], fitter_state: dict) -> None:
        state = {"format": FORMAT, "fingerprint": self.fingerprint, "segment": segment, "done": done,
                 "fitter": fitter_state}
        with atomic_output(self.path) as f:
            torch.save(state, f)
        self.last = time.monotonic()

    def load(self) -> dict:
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise InputError(f"--resume: no checkpoint at {self.path}") from None
        except Exception as e:  # a damaged or foreign file
            raise InputError(f"--resume: {self.path} is not a usable checkpoint ({type(e).__name__})") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise InputError(f"--resume: {self.path} is not an inrcodec checkpoint")
        theirs = state.get("fingerprint", {})
        for key, value in self.fingerprint.items():
            if theirs.get(key) != value:
                if key == "frames_sha256":
                    raise InputError("--resume: the checkpoint was made with different input frames")
                raise InputError(f"--resume: the checkpoint was made with a different {key} "
                                 f"(checkpoint: {theirs.get(key, 'not recorded')}, now: {value})")
        return state


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
