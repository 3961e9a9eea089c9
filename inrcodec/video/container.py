"""Reading any FFmpeg-readable file through PyAV and writing H.264 MP4/MKV.

Decoded frames are converted to planar yuv420p one at a time and stored as uint8 I420, so memory is
1.5 bytes/pixel whatever the source. YUV sources keep their matrix and range (swscale only
resamples chroma); RGB sources are converted with BT.601 limited range unless told otherwise."""

from __future__ import annotations

import os
from fractions import Fraction
from collections.abc import Callable, Iterator
from typing import BinaryIO

import av
import numpy as np

from inrcodec.errors import InputError
from inrcodec.progress import warn

from .clip import Clip, VideoInfo, split_planes
from .raw import check_frames, collect

# FFmpeg enum values (AVColorSpace / AVColorRange / AVColorPrimaries / AVColorTransferCharacteristic)
_CS_BT709, _CS_BT470BG, _CS_SMPTE170M = 1, 5, 6
_RANGE_MPEG, _RANGE_JPEG = 1, 2
_PRI_BT709, _PRI_SMPTE170M = 1, 6
_TRC_BT709, _TRC_SMPTE170M = 1, 6


def _matrix_of(frame, stream) -> str | None:
    """'bt709' / 'bt601' from the frame's (else the stream's) colorspace tag; None if unspecified."""
    for obj in (frame, getattr(stream, "codec_context", None)):
        cs = getattr(obj, "colorspace", None)
        try:
            cs = int(cs) if cs is not None else None
        except (TypeError, ValueError):
            cs = None
        if cs == _CS_BT709:
            return "bt709"
        if cs in (_CS_BT470BG, _CS_SMPTE170M):
            return "bt601"
    return None


def _is_full_range(frame, stream) -> bool:
    if frame.format.name.startswith("yuvj"):
        return True
    for obj in (frame, getattr(stream, "codec_context", None)):
        cr = getattr(obj, "color_range", None)
        try:
            cr = int(cr) if cr is not None else 0
        except (TypeError, ValueError):
            cr = 0
        if cr == _RANGE_JPEG:
            return True
        if cr == _RANGE_MPEG:
            return False
    return False


def _fps_of(stream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate:
            try:
                r = Fraction(rate)
            except (TypeError, ValueError):
                continue
            if r > 0:
                return r
    return Fraction(25)


def _i420_bytes(frame, width: int, height: int) -> np.ndarray:
    """Copy a yuv420p/yuvj420p frame's planes (dropping line padding) into one flat I420 array."""
    out = np.empty(width * height * 3 // 2, dtype=np.uint8)
    y, u, v = split_planes(out, width, height)
    for dst, plane, (pw, ph) in zip(
        (y, u, v), frame.planes, ((width, height), (width // 2, height // 2), (width // 2, height // 2))
    ):
        src = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        dst[...] = src[:ph, :pw]
    return out


class ContainerFrames:
    """Frames [start, start+frames) of the first video stream, decoded and converted to I420 one
    at a time as iteration asks for them (memory: one frame plus the decoder's state). Opening the
    container and decoding up to the first kept frame happen when this is made, so `info` is known
    then (None when there is no such frame); what the input loses (input_notes) is said then, once,
    and its timing (timing_note) when the iteration reaches the end of the range.

    `matrix`/`full_range`, when given, override the file's tags (and for RGB sources choose the
    conversion). Call close() when done."""

    count = None  # how many frames it will give is not known before decoding them

    def __init__(self, source: str | os.PathLike | BinaryIO, *, start: int = 0, frames: int | None = None,
                 matrix: str | None = None, full_range: bool | None = None, fps: Fraction | None = None) -> None:
        self.name = name = str(source) if isinstance(source, (str, os.PathLike)) else "input"
        self.frames = frames
        try:
            self.container = av.open(source if not isinstance(source, os.PathLike) else str(source), "r")
        except (av.FFmpegError, OSError, ValueError) as e:
            raise InputError(f"cannot open {name} as a video: {_msg(e)}") from None
        try:
            if not self.container.streams.video:
                raise InputError(f"{name} has no video stream")
            self.stream = stream = self.container.streams.video[0]
            stream.thread_type = "AUTO"
            self.rate = fps if fps is not None else _fps_of(stream)
            self._decoded = self.container.decode(stream)
            self.info: VideoInfo | None = None
            first = None
            for _ in range(start + 1):
                first = self._decode()
                if first is None:
                    break
            self._first = first
            if first is not None:
                self.info = _info_for(first, stream, self.rate, matrix, full_range)
                for note in input_notes(self.container, stream, first, self.info):
                    warn(note)
        except BaseException:
            self.container.close()
            raise

    def _decode(self):
        try:
            return next(self._decoded, None)
        except av.FFmpegError as e:
            raise InputError(f"error decoding {self.name}: {_msg(e)}") from None

    def __iter__(self) -> Iterator[np.ndarray]:
        frame, self._first = self._first, None
        info = self.info
        kept, last_pts, deltas = 0, None, set()
        while frame is not None:
            if frame.pts is not None:
                if last_pts is not None:
                    deltas.add(int(frame.pts) - last_pts)
                last_pts = int(frame.pts)
            if frame.width != info.width or frame.height != info.height:
                raise InputError(
                    f"{self.name}: frame size changes mid-stream ({info.width}x{info.height} -> "
                    f"{frame.width}x{frame.height}); not supported"
                )
            try:
                i420 = _to_i420(frame, info)
            except av.FFmpegError as e:
                raise InputError(f"error decoding {self.name}: {_msg(e)}") from None
            yield i420
            kept += 1
            if self.frames is not None and kept >= self.frames:
                break
            frame = self._decode()
        note = timing_note(deltas, self.rate)
        if note is not None:
            warn(note)

    def close(self) -> None:
        self.container.close()


def read_container(
    source: str | os.PathLike | BinaryIO,
    *,
    start: int = 0,
    frames: int | None = None,
    matrix: str | None = None,
    full_range: bool | None = None,
    fps: Fraction | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> Clip:
    """Decode frames [start, start+frames) of the first video stream into a Clip.

    `matrix`/`full_range`, when given, override the file's tags (and for RGB sources choose the
    conversion)."""
    reader = ContainerFrames(source, start=start, frames=frames, matrix=matrix, full_range=full_range, fps=fps)
    try:
        if reader.info is None:
            # Nothing kept (empty file or start past the end): report geometry-free empty clip.
            info = VideoInfo(2, 2, reader.rate, matrix or "bt601", bool(full_range))
            return Clip(info, np.empty((0, info.frame_bytes), np.uint8))
        return collect(reader, reader.info, on_frames)
    finally:
        reader.close()


def input_notes(container, stream, frame, info: VideoInfo) -> list[str]:
    """One line for each property of the input that the encode does not keep, as its first frame
    shows it: sample format (bit depth, chroma), audio, pixel aspect ratio, rotation."""
    notes = []
    fmt = frame.format.name
    if fmt not in ("yuv420p", "yuvj420p"):
        how = (f"with the {info.matrix} matrix, {'full' if info.full_range else 'limited'} range"
               if _is_rgb(frame) else "keeping its matrix and range")
        notes.append(f"input frames are {fmt}; converted to 8-bit YUV 4:2:0 ({how})")
    if container.streams.audio:
        notes.append("the input has audio; inrcodec codes the video only (the audio is not kept)")
    sar = (getattr(frame, "sample_aspect_ratio", None) or getattr(stream, "sample_aspect_ratio", None)
           or getattr(getattr(stream, "codec_context", None), "sample_aspect_ratio", None))
    if sar and Fraction(sar) not in (0, 1):
        notes.append(f"the input's pixel aspect ratio is {sar.numerator}:{sar.denominator}; the output has "
                     f"square pixels (scale the output to display it as the input was)")
    rotation = getattr(frame, "rotation", 0) or 0
    if rotation:
        notes.append(f"the input carries a {rotation:g} degree rotation tag; the output is not rotated")
    return notes


def timing_note(deltas: set[int], rate: Fraction) -> str | None:
    """The line for variable timing, from the distinct differences between consecutive frames'
    timestamps over the range read; None when the timing is constant."""
    d = sorted(deltas)
    if len(d) > 1 and d[-1] - d[0] > max(1, 0.02 * d[len(d) // 2]):
        return (f"the input has a variable frame rate; it is coded at a constant {float(rate):g} fps "
                f"(use --fps to choose), so frame timing is not kept")
    return None


def _msg(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e)


def _is_rgb(frame) -> bool:
    """RGB-like sources (incl. palette and grey images) have no YUV matrix/range of their own."""
    fmt = frame.format.name
    return bool(getattr(frame.format, "is_rgb", False)) or fmt.startswith(
        ("rgb", "bgr", "argb", "abgr", "gbr", "pal8", "gray", "ya8")
    )


def _info_for(frame, stream, rate, matrix, full_range) -> VideoInfo:
    is_rgb = _is_rgb(frame)
    if matrix is None:
        matrix = "bt601" if is_rgb else (_matrix_of(frame, stream) or "bt601")
    if full_range is None:
        full_range = False if is_rgb else _is_full_range(frame, stream)
    if frame.width % 2 or frame.height % 2:
        raise InputError(
            f"video size {frame.width}x{frame.height} is odd; 4:2:0 needs even width and height "
            f"(crop or scale it first)"
        )
    return VideoInfo(frame.width, frame.height, rate, matrix, full_range)


def _to_i420(frame, info: VideoInfo) -> np.ndarray:
    fmt = frame.format.name
    if fmt in ("yuv420p", "yuvj420p"):
        return _i420_bytes(frame, info.width, info.height)
    cs = "ITU709" if info.matrix == "bt709" else "ITU601"
    rng = "JPEG" if info.full_range else "MPEG"
    is_rgb = _is_rgb(frame)
    # For YUV sources keep matrix and range (pure chroma resampling / bit-depth change); for RGB
    # sources convert with the chosen matrix into the chosen range.
    src_rng = rng if not is_rgb else "JPEG"
    out = frame.reformat(
        format="yuv420p",
        src_colorspace=cs,
        dst_colorspace=cs,
        src_color_range=src_rng,
        dst_color_range=rng,
    )
    return _i420_bytes(out, info.width, info.height)


class _Reporting:
    """The file object PyAV writes through, keeping the first write error: FFmpeg's I/O layer only
    sees a failed write, so a closed pipe or a full disk would otherwise pass unnoticed."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.error: BaseException | None = None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except BaseException as e:
            self.error = self.error or e
            raise

    def __getattr__(self, name):
        return getattr(self.f, name)

    def check(self) -> None:
        if self.error is not None:
            raise self.error
# Frame rates MP4 and Matroska store (measured with PyAV's libx264 muxing): MP4's muxer fails below
# ~1/30000 fps, Matroska's timestamps are milliseconds, and both keep rates as 32-bit ratios.
MIN_FPS = Fraction(1, 10000)
MAX_FPS = {"mp4": Fraction(2**31 - 1), "mkv": Fraction(1000)}


def container_rate(fps: Fraction, fmt: str) -> Fraction:
    """The rate written to an MP4/MKV stream: fps itself, or its nearest ratio with a denominator up
    to 10^6; a rate the container cannot hold is an InputError (Y4M and raw YUV keep any rate)."""
    fps = Fraction(fps)
    if not MIN_FPS <= fps <= MAX_FPS[fmt]:
        raise InputError(
            f"frame rate {fps} fps cannot be stored in {fmt.upper()} (it takes {MIN_FPS} to {MAX_FPS[fmt]} fps); "
            f"write .y4m or .yuv, which keep any rate")
    return fps.limit_denominator(1_000_000) if fps.denominator > 1_000_000 else fps


class ContainerSink:
    """H.264 (libx264) encoder into MP4 or Matroska via PyAV, with colour tags set."""

    def __init__(
        self, fileobj: BinaryIO, info: VideoInfo, *, fmt: str = "mp4", crf: int = 16,
        streaming: bool = False,
    ) -> None:
        self.info = info
        fileobj = self.out = _Reporting(fileobj)
        options = {"movflags": "frag_keyframe+empty_moov"} if (streaming and fmt == "mp4") else {}
        av_fmt = {"mp4": "mp4", "mkv": "matroska"}[fmt]
        self.container = av.open(fileobj, "w", format=av_fmt, options=options)
        rate = container_rate(info.fps, fmt)
        st = self.container.add_stream("libx264", rate=rate)
        st.width, st.height = info.width, info.height
        st.pix_fmt = "yuv420p"
        st.time_base = Fraction(1) / rate
        # Frames carry pts in units of one frame. The muxer rewrites the stream's time base when it
        # writes the header (at the first packet, which x264's lookahead delays by ~40 frames), so
        # frames must not read it back from the stream: a later 1/12800 would collapse their pts.
        self.frame_time_base = Fraction(1) / rate
        st.options = {"crf": str(crf), "preset": "medium"}
        cc = st.codec_context
        self._tags = (
            (_CS_BT709, _PRI_BT709, _TRC_BT709)
            if info.matrix == "bt709"
            else (_CS_SMPTE170M, _PRI_SMPTE170M, _TRC_SMPTE170M)
        )
        self._range = _RANGE_JPEG if info.full_range else _RANGE_MPEG
        self._tag(cc)
        self.stream = st
        self.rate = rate
        self.pts = 0

    def _tag(self, obj) -> None:
        """Set the colour tags on the codec context or a frame, best effort (PyAV versions differ
        in which of these attributes are writable)."""
        for attr, val in zip(("colorspace", "color_primaries", "color_trc", "color_range"), (*self._tags, self._range)):
            try:
                setattr(obj, attr, val)
            except (AttributeError, TypeError, ValueError):
                pass

    def write(self, frames: np.ndarray) -> None:
        frames = check_frames(frames, self.info)
        w, h = self.info.width, self.info.height
        for fr in frames:
            vf = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(fr).reshape(h * 3 // 2, w), format="yuv420p"
            )
            self._tag(vf)
            vf.pts = self.pts
            vf.time_base = self.frame_time_base
            self.pts += 1
            self._mux(self.stream.encode(vf))

    def _mux(self, packets) -> None:
        try:
            for pkt in packets:
                self.container.mux(pkt)
        except av.FFmpegError:
            self.out.check()  # the cause, when it was the file (BrokenPipeError, ENOSPC)
            raise
        self.out.check()

    def finish(self) -> None:
        self._mux(self.stream.encode(None))
        self.container.close()
        self.out.check()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass
