"""YUV4MPEG2 (.y4m) reading and writing, self-contained (no PyAV): Y4M is what `ffmpeg ... -f
yuv4mpegpipe -` produces, so it is the natural lossless pipe format.

Only 8-bit 4:2:0 progressive is accepted (the codec's native layout); everything else is an
InputError naming the offending parameter. ffmpeg 5.1 writes `XCOLORRANGE=FULL|LIMITED` but no
matrix tag; we honour XCOLORRANGE and additionally write/read our own `XCOLORMATRIX=BT601|BT709`
(other readers ignore unknown X tags). Without tags the video is BT.601 limited range."""

from __future__ import annotations

import os
from fractions import Fraction
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np

from inrcodec.errors import InputError

from .clip import Clip, VideoInfo
from .raw import stream_size, check_frames, collect, read_exact, skip_bytes, write_all

MAGIC = b"YUV4MPEG2"
_MAX_HEADER = 4096
_CS_420 = {"420jpeg", "420mpeg2", "420paldv", "420"}


def _read_line(stream: BinaryIO, what: str) -> bytes | None:
    """Read one '\\n'-terminated header line (without the newline); None at a clean EOF."""
    out = bytearray()
    while True:
        c = stream.read(1)
        if not c:
            if not out:
                return None
            raise InputError(f"Y4M {what} is truncated (no end of line)")
        if c == b"\n":
            return bytes(out)
        out += c
        if len(out) > _MAX_HEADER:
            raise InputError(f"Y4M {what} is too long; not a valid Y4M stream")


def _ratio(value: str, tag: str) -> Fraction:
    try:
        n, d = value.split(":")
        n, d = int(n), int(d)
    except ValueError:
        raise InputError(f"Y4M header: bad {tag} value {value!r}") from None
    if tag == "F" and (n <= 0 or d <= 0):
        raise InputError(f"Y4M header: invalid frame rate {value!r}")
    return Fraction(n, d) if d else Fraction(0)


def parse_header(line: bytes) -> VideoInfo:
    """Parse the stream header line (without newline) into a VideoInfo."""
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise InputError("Y4M header is not ASCII; not a valid Y4M stream") from None
    parts = text.split(" ")
    if parts[0] != "YUV4MPEG2":
        raise InputError("not a Y4M stream (missing YUV4MPEG2 signature)")
    width = height = None
    fps = Fraction(25)
    colourspace = "420jpeg"
    matrix, full_range = "bt601", False
    for p in parts[1:]:
        if not p:
            continue
        tag, val = p[0], p[1:]
        if tag in "WH":
            try:
                n = int(val)
            except ValueError:
                raise InputError(f"Y4M header: bad {tag} value {val!r}") from None
            if tag == "W":
                width = n
            else:
                height = n
        elif tag == "F":
            fps = _ratio(val, "F")
        elif tag == "A":
            _ratio(val, "A")  # pixel aspect is validated but not used
        elif tag == "I":
            if val in ("t", "b", "m"):
                raise InputError(
                    f"Y4M interlaced video (I{val}) is not supported; deinterlace it first"
                )
            if val not in ("p", "?"):
                raise InputError(f"Y4M header: unknown interlacing I{val}")
        elif tag == "C":
            colourspace = val
        elif tag == "X":
            key, _, v = val.partition("=")
            key, v = key.upper(), v.upper()
            if key == "COLORRANGE":
                if v == "FULL":
                    full_range = True
                elif v == "LIMITED":
                    full_range = False
            elif key == "COLORMATRIX":
                if v in ("BT709", "709"):
                    matrix = "bt709"
                elif v in ("BT601", "601", "BT470BG", "SMPTE170M"):
                    matrix = "bt601"
        # unknown tags are ignored, as the format allows
    if width is None or height is None:
        raise InputError("Y4M header lacks W (width) or H (height)")
    if colourspace not in _CS_420:
        raise InputError(
            f"Y4M colourspace C{colourspace} is not supported; only 8-bit 4:2:0 (C420jpeg, "
            f"C420mpeg2, C420paldv, C420) is (convert with -pix_fmt yuv420p)"
        )
    return VideoInfo(width, height, fps, matrix, full_range)


class Y4MFrames:
    """Frames [start, start+frames) of a Y4M stream, one bytes object per frame as iteration asks
    for it. The stream header is read and parsed when this is made (`info`); the frames before
    `start` are skipped without being kept (by seeking past their payloads where the stream can).
    `header_prefix` is bytes already consumed from the stream by format sniffing."""

    count = None  # how many frames it will give is not known before reading them

    def __init__(self, stream: BinaryIO, *, start: int = 0, frames: int | None = None,
                 header_prefix: bytes = b"") -> None:
        self.stream, self.start, self.frames = stream, start, frames
        rest = _read_line(stream, "header")
        line = header_prefix + (rest or b"")
        if not line.startswith(MAGIC):
            raise InputError("not a Y4M stream (missing YUV4MPEG2 signature)")
        self.info = parse_header(line)
        self._size = stream_size(stream) if start else None

    def _skip(self, n: int) -> int:
        """Pass over n payload bytes; returns how many there were."""
        if self._size is None:
            return skip_bytes(self.stream, n)
        pos = self.stream.tell()
        got = max(0, min(n, self._size - pos))
        self.stream.seek(pos + got)
        return got

    def __iter__(self) -> Iterator[bytes]:
        stream, fb = self.stream, self.info.frame_bytes
        index = kept = 0
        while self.frames is None or kept < self.frames:
            fh = _read_line(stream, f"frame {index} header")
            if fh is None:
                return
            if not fh.startswith(b"FRAME") or (len(fh) > 5 and fh[5:6] != b" "):
                raise InputError(f"Y4M frame {index}: expected FRAME header, got {fh[:20]!r}")
            if index < self.start:
                got, data = self._skip(fb), None
            else:
                data = read_exact(stream, fb)
                got = len(data)
            if got < fb:
                raise InputError(
                    f"Y4M frame {index} is truncated: {got} of {fb} bytes (incomplete file?)"
                )
            index += 1
            if data is not None:
                kept += 1
                yield data


def read_y4m(
    source: str | os.PathLike | BinaryIO,
    *,
    start: int = 0,
    frames: int | None = None,
    header_prefix: bytes = b"",
    on_frames: Callable[[int], None] | None = None,
) -> Clip:
    """Read frames [start, start+frames) of a Y4M file or stream.

    `header_prefix` is bytes already consumed from the stream by format sniffing."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as f:
                return read_y4m(f, start=start, frames=frames, on_frames=on_frames)
        except OSError as e:
            raise InputError(f"cannot read {source}: {e.strerror or e}") from None
    reader = Y4MFrames(source, start=start, frames=frames, header_prefix=header_prefix)
    return collect(reader, reader.info, on_frames)


def format_header(info: VideoInfo) -> bytes:
    fps = info.fps
    rng = "FULL" if info.full_range else "LIMITED"
    mat = "BT709" if info.matrix == "bt709" else "BT601"
    return (
        f"YUV4MPEG2 W{info.width} H{info.height} F{fps.numerator}:{fps.denominator} Ip A1:1 "
        f"C420jpeg XCOLORRANGE={rng} XCOLORMATRIX={mat}\n"
    ).encode("ascii")


class Y4MSink:
    """Writes a Y4M header on creation, then one `FRAME` + I420 payload per frame."""

    def __init__(self, fileobj: BinaryIO, info: VideoInfo) -> None:
        self.f = fileobj
        self.info = info
        write_all(self.f, format_header(info))

    def write(self, frames: np.ndarray) -> None:
        frames = check_frames(frames, self.info)
        for fr in frames:
            write_all(self.f, b"FRAME\n")
            write_all(self.f, np.ascontiguousarray(fr))

    def finish(self) -> None:
        self.f.flush()
