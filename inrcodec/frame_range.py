"""`--frames`: one syntax for encode and decode.

`a:b` is frames a to b-1 (either side may be left out) in both commands; a plain number keeps the
meaning it always had in each: a count in encode (`--frames 100`: the first 100 frames), one frame
index in decode (`--frames 7`: frame 7 alone). Ranges that reach past the end are clamped with a
warning, as ffmpeg does; a range that starts past the end is an error. Digits are ASCII only."""

from __future__ import annotations

import re

from .errors import InputError
from .progress import warn

_NUMBER = re.compile(r"[0-9]+")


def _number(text: str, spec: str) -> int:
    t = text.strip()
    if not _NUMBER.fullmatch(t):
        raise InputError(f"--frames must be N or a:b with whole numbers (b exclusive), got {spec!r}")
    return int(t)


def split(spec: str) -> tuple[int | None, int | None] | int:
    """'a:b' -> (a or None, b or None); 'N' -> N."""
    if ":" not in spec:
        return _number(spec, spec)
    a, b = spec.split(":", 1)
    start = _number(a, spec) if a.strip() else None
    stop = _number(b, spec) if b.strip() else None
    if start is not None and stop is not None and stop <= start:
        raise InputError(f"--frames {spec}: the end must be after the start")
    return start, stop


def decode_range(spec: str | None, total: int) -> range:
    """The frames decode renders: all, one index, or a range clamped to the clip."""
    if spec is None or spec == "":
        return range(total)
    parts = split(spec)
    if isinstance(parts, int):
        if parts >= total:
            raise InputError(f"--frames {spec} is outside the clip's {total} frames (0:{total})")
        return range(parts, parts + 1)
    start, stop = parts[0] or 0, total if parts[1] is None else parts[1]
    if start >= total:
        raise InputError(f"--frames {spec} starts past the clip's {total} frames (0:{total})")
    if stop > total:
        warn(f"--frames {spec} reaches past the clip's {total} frames; rendering {start}:{total}")
        stop = total
    return range(start, stop)


def encode_span(spec: str | None, start: int | None) -> tuple[int, int | None]:
    """(first frame, frame count or None for all) of an encode's `--frames` and `--start`."""
    if start is not None and start < 0:
        raise InputError("--start must be 0 or more")
    if spec is None:
        return start or 0, None
    parts = split(spec)
    if isinstance(parts, int):
        if parts < 1:
            raise InputError("--frames must be at least 1")
        return start or 0, parts
    if start is not None:
        raise InputError(f"--frames {spec} gives the first frame itself: drop --start")
    first = parts[0] or 0
    return first, None if parts[1] is None else parts[1] - first
