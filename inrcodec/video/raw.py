"""Raw planar I420 (.yuv) reading and writing. Raw files carry no header, so the caller supplies the
geometry; a length that is not a whole number of frames almost always means a wrong --size, so it is
an error rather than silently dropped bytes."""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import numpy as np

from inrcodec.errors import InputError

from .clip import Clip, VideoInfo

_CHUNK = 1 << 20
_READ_STEP = 64 << 20  # bytes per readinto of a raw file, so reading reports progress as it goes


def read_exact(stream: BinaryIO, n: int) -> bytes:
    """Read up to n bytes, looping over short reads (pipes); fewer than n only at EOF."""
    parts = []
    got = 0
    while got < n:
        b = stream.read(n - got)
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts) if len(parts) != 1 else parts[0]


def write_all(stream: BinaryIO, data) -> None:
    """Write every byte: a buffered write to a pipe whose reader has gone can return short
    (CPython reports 64 KiB of 225 KiB written and drops the rest), so loop until the rest
    is written or the write raises (BrokenPipeError)."""
    view = memoryview(data).cast("B")
    while len(view):
        n = stream.write(view)
        if n is None:  # a raw stream that would block: nothing more to do here than retry
            continue
        view = view[n:]


def skip_bytes(stream: BinaryIO, n: int) -> int:
    """Discard n bytes without storing them; returns how many were actually skipped."""
    done = 0
    while done < n:
        b = stream.read(min(_CHUNK, n - done))
        if not b:
            break
        done += len(b)
    return done


def input_byte_limit() -> int | None:
    """How many bytes of uint8 frames an input may hold in memory: INRCODEC_MAX_INPUT_MIB when set,
    else half of the memory the system reports available (the fit and the measurement need the
    rest), else no limit (no /proc/meminfo)."""
    env = os.environ.get("INRCODEC_MAX_INPUT_MIB")
    if env:
        try:
            return max(1, int(env)) << 20
        except ValueError:
            raise InputError(f"INRCODEC_MAX_INPUT_MIB must be a whole number of MiB, got {env!r}") from None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reserve(nbytes: int | None) -> mmap.mmap | None:
    """Anonymous private address space for up to `nbytes` of frames, or None where the system
    refuses the reservation (strict overcommit) or no limit is known."""
    if nbytes is None:
        return None
    try:
        return mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, ValueError, OverflowError):
        return None


class FrameBuffer:
    """Accumulates frames into one contiguous array. The frames are written into an anonymous
    memory map reserved up to the memory limit: pages become resident only as frames arrive, so a
    clip costs its own bytes and nothing more (a growing bytearray copied itself and left heap
    holes: ~1.5x the frames on cup.mp4, docs/results.md), and the map is returned to the system
    with the clip. Without a reservation, a growing bytearray. A clip (or, streaming, one chunk of
    it) that would outgrow the memory limit is refused while reading, with the frame count that
    fits, rather than swapping or being killed halfway through an encode."""

    def __init__(self, frame_bytes: int, width: int = 0, height: int = 0,
                 on_frames: Callable[[int], None] | None = None, capacity: int | None = None) -> None:
        self.frame_bytes = frame_bytes
        self.on_frames = on_frames  # called with the frame count after each arrival (progress)
        self.size = f"{width}x{height}" if width and height else f"{frame_bytes}-byte"
        self.limit = input_byte_limit()
        self.used = 0
        # `capacity`: the most bytes the caller will append (one chunk of a stream); the map
        # reserves no more than that
        sizes = [b for b in (self.limit, capacity) if b is not None]
        self.store = _reserve(min(sizes) if sizes else None)
        self.buf = bytearray() if self.store is None else None

    def append(self, data) -> None:
        if isinstance(data, np.ndarray):
            data = memoryview(np.ascontiguousarray(data)).cast("B")
        n = len(data)
        self.check_room(n)
        if self.store is not None:
            self.store[self.used : self.used + n] = data
        else:
            self.buf += data
        self.used += n
        if self.on_frames is not None:
            self.on_frames(len(self))

    def read_from(self, stream: BinaryIO, nbytes: int) -> int:
        """Read up to `nbytes` from `stream` straight into the buffer (no intermediate bytes
        object of the whole clip). Returns how many arrived (fewer only at EOF); only whole
        frames are kept."""
        self.check_room(nbytes)
        if self.store is None or not hasattr(stream, "readinto"):
            data = read_exact(stream, nbytes)
            self.append(memoryview(data)[: len(data) - len(data) % self.frame_bytes])
            return len(data)
        got = 0
        with memoryview(self.store) as view:
            while got < nbytes:
                n = stream.readinto(view[self.used + got : self.used + min(nbytes, got + _READ_STEP)])
                if not n:
                    break
                got += n
                if self.on_frames is not None:
                    self.on_frames((self.used + got) // self.frame_bytes)
        self.used += got - got % self.frame_bytes
        return got

    def check_room(self, more_bytes: int) -> None:
        """Refuse, before reading them, bytes that would take the clip past the memory limit."""
        if self.limit is None or self.used + more_bytes <= self.limit:
            return
        fit = self.limit // self.frame_bytes
        if fit == 0:
            raise InputError(f"one frame of {self.size} is more than the {self.limit >> 20} MiB of memory allowed "
                             f"for the input (INRCODEC_MAX_INPUT_MIB)")
        segment = max(1, min(fit // 2, 300))  # a segment size that fits with room for the fit
        raise InputError(
            f"the input is too long to hold in memory: more than {fit} frames of {self.size} "
            f"({self.limit >> 20} MiB allowed); encode it in segments read one at a time with "
            f"--segment-frames {segment}, encode part of it with --frames {fit} "
            f"(and --start), or raise INRCODEC_MAX_INPUT_MIB"
        )

    def __len__(self) -> int:
        return self.used // self.frame_bytes

    def array(self) -> np.ndarray:
        source = self.store if self.store is not None else self.buf
        return np.frombuffer(source, dtype=np.uint8, count=self.used).reshape(-1, self.frame_bytes)


def stream_size(stream: BinaryIO) -> int | None:
    """Total size of a seekable regular file behind `stream`, else None."""
    try:
        if not stream.seekable():
            return None
        st = os.fstat(stream.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        return st.st_size
    except (AttributeError, OSError, ValueError):
        pass
    try:
        pos = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(pos)
        return end
    except (AttributeError, OSError, ValueError):
        return None


def _leftover_error(name: str, info: VideoInfo, whole: int, left: int) -> InputError:
    return InputError(
        f"{name}: not a whole number of {info.width}x{info.height} I420 frames "
        f"({info.frame_bytes} bytes each): {whole} whole frames and {left} bytes left over "
        f"(wrong --size?)"
    )


def take(frames: Iterator, buf: FrameBuffer, n: int | None = None) -> int:
    """Append up to `n` frames (None: all) from the iterator `frames` to `buf`; returns how many
    arrived (fewer than `n` only when the iterator is exhausted)."""
    got = 0
    while n is None or got < n:
        frame = next(frames, None)
        if frame is None:
            break
        buf.append(frame)
        got += 1
    return got


def collect(frames: Iterable, info: VideoInfo, on_frames: Callable[[int], None] | None = None,
            count: int | None = None) -> Clip:
    """All the frames of an iterator in one Clip, under the memory limit (refused before reading
    when their `count` is known)."""
    buf = FrameBuffer(info.frame_bytes, info.width, info.height, on_frames)
    if count is not None:
        buf.check_room(count * info.frame_bytes)
    take(iter(frames), buf)
    return Clip(info, buf.array())


class RawFrames:
    """Raw I420 frames [start, start+frames) of a binary stream, one bytes object per frame as
    iteration asks for it. A seekable file is checked for a whole number of frames and positioned
    at `start` when this is made (so `count`, the number of frames it will give, is known); a pipe
    is skipped by reading, and its count is None."""

    def __init__(self, stream: BinaryIO, info: VideoInfo, *, start: int = 0, frames: int | None = None,
                 name: str = "input") -> None:
        self.stream, self.info, self.name = stream, info, name if isinstance(name, str) else "input"
        self.start, self.frames = start, frames
        self.count: int | None = None
        fb = info.frame_bytes
        size = stream_size(stream)
        if size is not None:
            pos = stream.tell()
            total = size - pos
            if total % fb:
                raise _leftover_error(self.name, info, total // fb, total % fb)
            n_avail = total // fb
            first = min(start, n_avail)
            self.count = n_avail - first if frames is None else max(0, min(frames, n_avail - first))
            stream.seek(pos + first * fb)

    def __iter__(self) -> Iterator[bytes]:
        fb, stream = self.info.frame_bytes, self.stream
        if self.count is not None:
            for _ in range(self.count):
                data = read_exact(stream, fb)
                if len(data) != fb:
                    raise InputError(f"{self.name}: file shrank while reading")
                yield data
            return
        # Non-seekable (pipe): skip by reading, then read frame by frame.
        for i in range(self.start):
            got = skip_bytes(stream, fb)
            if got < fb:
                if got:
                    raise _leftover_error(self.name, self.info, i, got)
                return
        n = 0
        while self.frames is None or n < self.frames:
            data = read_exact(stream, fb)
            if len(data) < fb:
                if data:
                    raise _leftover_error(self.name, self.info, self.start + n, len(data))
                return
            yield data
            n += 1


def read_raw(
    source: str | os.PathLike | BinaryIO,
    info: VideoInfo,
    *,
    start: int = 0,
    frames: int | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> Clip:
    """Read raw I420 frames [start, start+frames) from a path or a binary stream."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as f:
                reader = RawFrames(f, info, start=start, frames=frames, name=str(source))
                return collect(reader, info, on_frames, reader.count)
        except OSError as e:
            raise InputError(f"cannot read {source}: {e.strerror or e}") from None
    reader = RawFrames(source, info, start=start, frames=frames, name=getattr(source, "name", "input"))
    return collect(reader, info, on_frames, reader.count)


class RawSink:
    """Writes I420 frames back to back, exactly as stored in a Clip."""

    def __init__(self, fileobj: BinaryIO, info: VideoInfo) -> None:
        self.f = fileobj
        self.info = info

    def write(self, frames: np.ndarray) -> None:
        frames = check_frames(frames, self.info)
        write_all(self.f, np.ascontiguousarray(frames))

    def finish(self) -> None:
        self.f.flush()


def check_frames(frames: np.ndarray, info: VideoInfo) -> np.ndarray:
    """Validate a batch to write: uint8 (B, frame_bytes); a single flat frame is accepted too."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise TypeError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim == 1:
        frames = frames[None]
    if frames.ndim != 2 or frames.shape[1] != info.frame_bytes:
        raise ValueError(f"frames must have shape (B, {info.frame_bytes}), got {frames.shape}")
    return frames
