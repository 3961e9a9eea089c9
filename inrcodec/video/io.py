"""Format dispatch used by the CLI: read any supported input into a Clip (read_video, read_range)
or stream it in chunks of frames in bounded memory (open_video), write Clips to mp4/mkv/yuv/y4m
files or stdout. File outputs are atomic (temp file + rename on success)."""

from __future__ import annotations

import itertools
import operator
import re
import sys
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np

from inrcodec.atomic import AtomicFile
from inrcodec.errors import InputError
from inrcodec.progress import warn

from .clip import MATRICES, Clip, VideoInfo
from .raw import FrameBuffer, RawFrames, RawSink, take
from .y4m import MAGIC, Y4MFrames, Y4MSink

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


def _guarded(frames: Iterator, where: str, hint: str) -> Iterator:
    """The frames of a reader, its failures as one-line InputErrors naming the input."""
    try:
        yield from frames
    except OSError as e:
        raise InputError(f"cannot read {where}: {e.strerror or e}") from None
    except InputError as e:
        if not hint:
            raise
        raise InputError(f"{e}{hint}") from None


class VideoSource:
    """An open input, read front to back: `info` is known once it is open (its first frame has
    been read and is kept for the first chunk), `chunks(n)` gives the frames in arrays of n,
    `frames_read` counts those given, `count` is the range's length where it is known before
    reading (a raw file; None for pipes, Y4M and containers). Made by open_video; use it as a
    context manager (or call close())."""

    def __init__(self, reader, where: str, start: int, overrides: dict, stack: ExitStack, hint: str,
                 on_frames: Callable[[int], None] | None) -> None:
        self.where = where
        self.frames_read = 0  # frames given so far, in chunks or by read()
        self._stack, self._on_frames = stack, on_frames
        # how many frames the range holds, where known before reading them (a raw file), else None
        self.count: int | None = reader.count
        info = reader.info
        if info is not None and overrides:
            info = VideoInfo(info.width, info.height, overrides.get("fps", info.fps),
                             overrides.get("matrix", info.matrix), overrides.get("full_range", info.full_range))
        self.info: VideoInfo = info
        self._guarded = _guarded(iter(reader), where, hint)
        first = None
        if info is not None:
            FrameBuffer(info.frame_bytes, info.width, info.height, capacity=info.frame_bytes).check_room(
                info.frame_bytes)  # one frame must fit before one is read
            first = next(self._guarded, None)
        if first is None:
            if start:
                raise InputError(f"no frames read from {where}: start frame {start} is past the end")
            raise InputError(f"no frames read from {where}")
        self._frames = itertools.chain([first], self._guarded)

    def _read(self, n: int | None) -> np.ndarray | None:
        """The next n frames (None: all the rest) in one array under the memory limit, fewer at the
        end, None when there are none left."""
        fb, done = self.info.frame_bytes, self.frames_read
        known = None if self.count is None else self.count - done
        k = n if known is None else (known if n is None else min(n, known))
        if k == 0:
            return None
        progress = None if self._on_frames is None else (lambda m: self._on_frames(done + m))
        buf = FrameBuffer(fb, self.info.width, self.info.height, progress, capacity=None if k is None else k * fb)
        if known is not None:
            buf.check_room(k * fb)  # refused before reading where the count is known
        got = take(self._frames, buf, n)
        self.frames_read += got
        return buf.array() if got else None

    def chunks(self, n: int) -> Iterator[np.ndarray]:
        """The frames from where the reading stands, in uint8 arrays of shape (k, frame_bytes),
        k = n except possibly for the last. Each chunk is read when asked for and is the caller's:
        the source keeps none of them (drop one before asking for the next to hold only one), and
        the memory limit (INRCODEC_MAX_INPUT_MIB) applies to each chunk."""
        try:
            n = operator.index(n)
        except TypeError:
            n = 0
        if n < 1:
            raise ValueError(f"chunk size must be a whole number of frames >= 1, got {n!r}")
        while True:
            chunk = self._read(n)
            if chunk is None:
                return
            last = len(chunk) < n
            yield chunk
            del chunk  # the caller's now: no reference here while the next one is read
            if last:
                return

    def read(self) -> Clip:
        """All the frames left, in one Clip (empty when chunks() has taken them all)."""
        frames = self._read(None)
        if frames is None:
            frames = np.empty((0, self.info.frame_bytes), np.uint8)
        return Clip(self.info, frames)

    def close(self) -> None:
        self._guarded.close()
        self._stack.close()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_video(
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
) -> VideoSource:
    """Open a video ('-' = stdin) for reading frames [start, start+frames) front to back, in
    bounded memory: see VideoSource. Formats, options, warnings and errors as read_video; an input
    without frames in the range is refused here."""
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

    def size_ignored(kind: str, info: VideoInfo | None) -> None:
        if size is not None and info is not None:
            warn(f"--size is ignored: the {kind} gives the frame size ({info.width}x{info.height})")

    def container(src):
        from .container import ContainerFrames

        reader = ContainerFrames(src, start=start, frames=frames, matrix=matrix, full_range=full_range, fps=fps)
        stack.callback(reader.close)
        return reader

    overrides = {k: v for k, v in (("fps", fps), ("matrix", matrix), ("full_range", full_range)) if v is not None}
    stack = ExitStack()
    hint = ""
    try:
        if source == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            head = _read_n(stream, len(MAGIC))
            if not head:
                raise InputError("no frames read: standard input is empty")
            if head == MAGIC:
                reader = Y4MFrames(stream, start=start, frames=frames, header_prefix=head)
                size_ignored("Y4M header", reader.info)
            elif size is not None:
                reader = RawFrames(_Prefixed(head, stream), raw_info(), start=start, frames=frames, name="stdin")
            else:
                hint = ("; raw YUV on standard input needs --size WxH, and any video can be piped as "
                        "Y4M (ffmpeg -i IN -pix_fmt yuv420p -f yuv4mpegpipe -)")
                try:
                    reader = container(_Prefixed(head, stream))
                except InputError as e:
                    raise InputError(f"{e}{hint}") from None
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
                if not head:
                    raise InputError(f"no frames read: {source} is empty")
                if path.suffix.lower() in RAW_EXTS:
                    info = raw_info()
                    reader = RawFrames(stack.enter_context(open(path, "rb")), info, start=start, frames=frames,
                                       name=source)
                elif head == MAGIC:
                    reader = Y4MFrames(stack.enter_context(open(path, "rb")), start=start, frames=frames)
                    size_ignored("Y4M header", reader.info)
                else:
                    reader = container(path)
                    size_ignored("file", reader.info)
            except OSError as e:
                raise InputError(f"cannot read {source}: {e.strerror or e}") from None
            where = source
        return VideoSource(reader, where, start, overrides, stack, hint, on_frames)
    except BaseException:
        stack.close()
        raise


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
    with open_video(source, size=size, fps=fps, start=start, frames=frames, matrix=matrix, full_range=full_range,
                    stdin=stdin, on_frames=on_frames) as src:
        return src.read()


def read_range(source: str, first: int, count: int, **options) -> Clip:
    """Frames [first, first+count) of a video (fewer at its end), equal to those a sequential read
    gives: for a worker that reads its own segment. Only they are kept: a raw file seeks to them,
    Y4M passes over the frames before them (seeking past their payloads in a file), a container
    decodes forward from its start (exact whatever its keyframes). `options`: read_video's other
    keywords (size, fps, matrix, full_range, stdin, on_frames)."""
    return read_video(source, start=first, frames=count, **options)


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
