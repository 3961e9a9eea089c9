"""Format dispatch used by the CLI: read any supported input into a Clip, write Clips to
mp4/mkv/yuv/y4m files or stdout. File outputs are atomic (temp file + rename on success)."""

from __future__ import annotations

import re
import sys
from fractions import Fraction
from pathlib import Path
from collections.abc import Callable
from typing import BinaryIO

import numpy as np

from inrcodec.atomic import AtomicFile
from inrcodec.errors import InputError
from inrcodec.progress import warn

from .clip import MATRICES, Clip, VideoInfo
from .raw import RawSink, read_raw
from .y4m import MAGIC, Y4MSink, read_y4m

RAW_EXTS = {".yuv", ".raw", ".i420"}
FORMATS = ("mp4", "mkv", "yuv", "y4m", "png")
STREAM_FORMATS = ("mp4", "mkv", "yuv", "y4m")  # the formats that can go to stdout
# extension -> one of FORMATS
_EXT_FORMAT = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "mkv", ".yuv": "yuv",
               ".raw": "yuv", ".i420": "yuv", ".y4m": "y4m", ".png": "png"}


def parse_size(text: str) -> tuple[int, int]:
    """'176x144' -> (176, 144)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m:
        raise InputError(f"bad size {text!r}: expected WxH, e.g. 352x288")
    w, h = int(m.group(1)), int(m.group(2))
    if w <= 0 or h <= 0:
        raise InputError(f"bad size {text!r}: width and height must be positive")
    return w, h


def parse_fps(text: str) -> Fraction:
    """'30000/1001', '25' or '29.97' -> Fraction (exact for the decimal form)."""
    s = str(text).strip()
    try:
        if "/" in s:
            n, d = s.split("/")
            r = Fraction(int(n), int(d))
        else:
            r = Fraction(s)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"bad frame rate {text!r}: expected e.g. 25, 29.97 or 30000/1001") from None
    if r <= 0:
        raise InputError(f"bad frame rate {text!r}: must be positive")
    return r


class _Prefixed:
    """A read-only stream that first returns `prefix`, then the rest of `stream` (format sniffing
    on pipes, which cannot seek back)."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self.prefix = prefix
        self.stream = stream
        self.name = "stdin"

    def read(self, n: int = -1) -> bytes:
        if self.prefix:
            if n is None or n < 0:
                out, self.prefix = self.prefix + self.stream.read(), b""
                return out
            out, self.prefix = self.prefix[:n], self.prefix[n:]
            if len(out) < n:
                out += self.stream.read(n - len(out)) or b""
            return out
        return self.stream.read(n)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def _read_n(stream: BinaryIO, n: int) -> bytes:
    out = b""
    while len(out) < n:
        b = stream.read(n - len(out))
        if not b:
            break
        out += b
    return out


def read_video(
    source: str,
    *,
    size: tuple[int, int] | None = None,
    fps: Fraction | None = None,
    start: int = 0,
    frames: int | None = None,
    matrix: str | None = None,
    full_range: bool | None = None,
    stdin: BinaryIO | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> Clip:
    """Read a video ('-' = stdin) into a Clip. Y4M is detected by its magic, raw by extension (on
    stdin: by --size), anything else goes through PyAV (files and pipes). Options override the
    file's own rate/colour tags. `on_frames(count)` follows the frames as they arrive."""
    if start < 0:
        raise InputError(f"start frame must be >= 0, got {start}")
    if frames is not None and frames < 1:
        raise InputError(f"number of frames must be >= 1, got {frames}")
    if matrix is not None and matrix not in MATRICES:
        raise InputError(f"unknown colour matrix {matrix!r} (use bt601 or bt709)")

    def raw_info() -> VideoInfo:
        if size is None:
            raise InputError("raw YUV input needs --size WxH")
        return VideoInfo(size[0], size[1], fps or Fraction(25), matrix or "bt601", bool(full_range))

    def size_ignored(kind: str) -> None:
        if size is not None:
            warn(f"--size is ignored: the {kind} gives the frame size ({clip.info.width}x{clip.info.height})")

    def from_container(src) -> Clip:
        from .container import read_container

        return read_container(src, start=start, frames=frames, matrix=matrix, full_range=full_range, fps=fps,
                              on_frames=on_frames)

    if source == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        head = _read_n(stream, len(MAGIC))
        if not head:
            raise InputError("no frames read: standard input is empty")
        if head == MAGIC:
            clip = read_y4m(stream, start=start, frames=frames, header_prefix=head, on_frames=on_frames)
            size_ignored("Y4M header")
        elif size is not None:
            clip = read_raw(_Prefixed(head, stream), raw_info(), start=start, frames=frames, on_frames=on_frames)
        else:
            try:
                clip = from_container(_Prefixed(head, stream))
            except InputError as e:
                raise InputError(
                    f"{e}; raw YUV on standard input needs --size WxH, and any video can be piped as "
                    f"Y4M (ffmpeg -i IN -pix_fmt yuv420p -f yuv4mpegpipe -)"
                ) from None
        where = "standard input"
    else:
        path = Path(source)
        if not path.exists():
            raise InputError(f"input file not found: {source}")
        if path.is_dir():
            raise InputError(f"input is a directory, not a video file: {source}")
        try:
            with open(path, "rb") as f:
                head = _read_n(f, len(MAGIC))
        except OSError as e:
            raise InputError(f"cannot read {source}: {e.strerror or e}") from None
        if not head:
            raise InputError(f"no frames read: {source} is empty")
        if path.suffix.lower() in RAW_EXTS:
            clip = read_raw(path, raw_info(), start=start, frames=frames, on_frames=on_frames)
        elif head == MAGIC:
            clip = read_y4m(path, start=start, frames=frames, on_frames=on_frames)
            size_ignored("Y4M header")
        else:
            clip = from_container(path)
            size_ignored("file")
        where = source
    if len(clip) == 0:
        if start:
            raise InputError(f"no frames read from {where}: start frame {start} is past the end")
        raise InputError(f"no frames read from {where}")
    info = clip.info
    if fps is not None or matrix is not None or full_range is not None:
        info = VideoInfo(
            info.width, info.height, fps if fps is not None else info.fps,
            matrix if matrix is not None else info.matrix,
            full_range if full_range is not None else info.full_range,
        )
        clip = Clip(info, clip.frames)
    return clip


def guess_format(path: str, fmt: str | None = None) -> str:
    """Output format: the explicit `fmt` if given, else from the file extension."""
    if fmt:
        f = fmt.lower()
        if f not in FORMATS:
            raise InputError(f"unknown output format {fmt!r} (use one of {', '.join(FORMATS)})")
        return f
    if path == "-":
        raise InputError("writing to stdout needs an explicit output format")
    ext = Path(path).suffix.lower()
    if ext not in _EXT_FORMAT:
        raise InputError(
            f"cannot tell the output format from {path!r}; use a {'/'.join('.' + f for f in FORMATS)} name or give "
            f"the format explicitly"
        )
    return _EXT_FORMAT[ext]


def output_paths(dest: str, fmt: str, frames: int) -> list[str]:
    """The files an output writes: one, or a PNG sequence's names (none for stdout)."""
    if dest == "-":
        if fmt not in STREAM_FORMATS:
            raise InputError(f"{fmt} cannot go to standard output (use one of {', '.join(STREAM_FORMATS)})")
        return []
    if fmt == "png":
        from .png import sequence_paths

        return sequence_paths(dest, frames)
    return [dest]


class VideoWriter:
    """Writes frames to a file (atomically) or a stream. Use as a context manager, or call close()
    on success / abort() on failure."""

    def __init__(self, dest: str, fmt: str, info: VideoInfo, *, crf: int = 16,
                 stdout: BinaryIO | None = None, frames: int | None = None) -> None:
        fmt = guess_format(dest, fmt)
        self.dest, self.fmt, self.info = dest, fmt, info
        self._atomic: AtomicFile | None = None
        self._closed = False
        if fmt == "png":  # a sequence of files, each written atomically by the sink
            from .png import PngSink

            self._sink = PngSink(output_paths(dest, fmt, 1 if frames is None else frames), info)
            return
        if dest == "-":
            fobj = stdout if stdout is not None else sys.stdout.buffer
        else:
            self._atomic = AtomicFile(dest)
            fobj = self._atomic.file
        try:
            if fmt == "yuv":
                self._sink = RawSink(fobj, info)
            elif fmt == "y4m":
                self._sink = Y4MSink(fobj, info)
            else:
                from .container import ContainerSink

                streaming = dest == "-" or not fobj.seekable()  # a FIFO or a device: fragmented MP4
                self._sink = ContainerSink(fobj, info, fmt=fmt, crf=crf, streaming=streaming)
        except BaseException:
            self._closed = True
            if self._atomic is not None:
                self._atomic.discard()
            raise

    def write(self, frames: np.ndarray) -> None:
        """Append a batch of uint8 (B, H*W*3//2) I420 frames."""
        if self._closed:
            raise ValueError("writer is closed")
        self._sink.write(frames)

    def close(self) -> None:
        """Finish the stream and, for a file, move it onto the destination."""
        if self._closed:
            return
        self._closed = True
        try:
            self._sink.finish()
        except BaseException:
            if self._atomic is not None:
                self._atomic.discard()
            raise
        if self._atomic is not None:
            self._atomic.commit()

    def abort(self) -> None:
        """Give up: delete the temporary file (an existing destination is left untouched)."""
        if self._closed:
            return
        self._closed = True
        ab = getattr(self._sink, "abort", None)
        if ab is not None:
            ab()
        if self._atomic is not None:
            self._atomic.discard()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def open_writer(dest: str, fmt: str | None, info: VideoInfo, *, crf: int = 16,
                stdout: BinaryIO | None = None, frames: int | None = None) -> VideoWriter:
    """Open a writer for `dest` ('-' = stdout) in format mp4/mkv/yuv/y4m/png (None: from the
    extension); a PNG sequence needs the number of `frames` it will receive."""
    return VideoWriter(dest, fmt, info, crf=crf, stdout=stdout, frames=frames)


def write_video(dest: str, clip: Clip, fmt: str | None = None, *, crf: int = 16,
                stdout: BinaryIO | None = None) -> None:
    """Convenience: write a whole Clip."""
    with open_writer(dest, fmt, clip.info, crf=crf, stdout=stdout, frames=len(clip)) as w:
        w.write(clip.frames)
