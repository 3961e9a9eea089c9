"""Standard codecs (x264, x265, SVT-AV1) through PyAV, encoded in memory and decoded back to I420.

Everything is measured from what a decoder actually gets:

* The encoder runs without a container and without global headers, so parameter sets (SPS/PPS/VPS,
  AV1 sequence header) travel in-band in the packets. ``bytes`` is the sum of those packet sizes
  (the raw elementary stream: Annex-B for H.264/HEVC, low-overhead OBUs for AV1) with no container
  overhead.
* SEI NAL units are removed from H.264/HEVC packets before counting *and before decoding*. SEI is
  never needed to decode pictures; x264 and x265 put a several-hundred-byte "encoder version and
  options" SEI into the first access unit, which would swamp tiny clips. The decoded frames come
  from exactly the bytes that were counted. ``stream_bytes`` keeps the unstripped packet total.
* Decoded frames are the decoder's yuv420p planes copied as-is (no colour conversion), cropped back
  if the input had to be padded, so they compare directly with ``clip.frames``.

Matching a bits-per-pixel target uses a CRF search (constant-quality mode, the usual way standard
codecs are compared): bisection over integer CRF, then halvings of the CRF step (all three encoders
take fractional CRF; SVT-AV1 through ``svtav1-params``): at least two (0.25 steps) and more, down to
1/64, while no CRF tried lands within ``tolerance`` (default ±5 %) of the target. Of every CRF
tried, the one whose bpp is closest to the target (absolute difference) wins. The achieved bpp is
reported as is; when it is still more than ``tolerance`` off, ``rate_miss`` is set and ``miss``
says why (a target above what CRF 0 / the lowest CRF spends, below what the highest CRF spends, or
between two neighbouring CRF steps).

Sizes: x264 accepts any even size; SVT-AV1 needs at least 4x4; x265 needs at least 16x16 and, because
of a heap-corruption crash in the x265 that PyAV 18 bundles at widths around 33..50, is given at least
64 pixels of width. Smaller inputs are padded by edge replication to the minimum, encoded, and cropped after decoding; the
padding's bits are counted, bpp is still over the original W*H*T.

Colour: the clip's matrix (BT.601 -> SMPTE 170M tags, BT.709 -> BT.709 tags) and range (limited /
full) are written into the encoder's VUI / sequence header, so the stream describes itself the same
way as the source; the samples themselves are never converted.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from inrcodec.errors import InputError
from inrcodec.video.clip import Clip, VideoInfo, split_planes

# FFmpeg enum values (AVColorSpace / AVColorRange / AVColorPrimaries / AVColorTransferCharacteristic)
_CS_BT709, _CS_SMPTE170M = 1, 6
_RANGE_MPEG, _RANGE_JPEG = 1, 2
_PRI_BT709, _PRI_SMPTE170M = 1, 6
_TRC_BT709, _TRC_SMPTE170M = 1, 6

# x264/x265 preset names -> SVT-AV1 preset numbers (0 slowest ... 13 fastest). "medium" -> 8: on
# two CPU cores preset 8 runs a 1080p frame in well under a second while keeping most of AV1's
# coding gain (presets <= 6 are several times slower for a few percent of rate).
_SVT_PRESETS = {
    "placebo": 2, "veryslow": 3, "slower": 4, "slow": 6, "medium": 8,
    "fast": 9, "faster": 10, "veryfast": 11, "superfast": 12, "ultrafast": 13,
}


@dataclass(frozen=True)
class _Spec:
    encoder: str
    decoder: str
    crf_min: float
    crf_max: float
    default_crf: float
    fractional_crf: bool
    min_size: tuple[int, int]  # (width, height)
    nal: str | None  # "h264" / "hevc" for Annex-B SEI stripping, None for AV1


CODECS: dict[str, _Spec] = {
    "x264": _Spec("libx264", "h264", 0, 51, 23, True, (2, 2), "h264"),
    # x265 itself needs >= 16x16, but the x265 bundled with PyAV 18 corrupts the heap (abort or hang)
    # for widths of about 33..50 (seen at 34, 36, 38, 40, 44, 48; 16-32 and 52-1280 were fine), so
    # anything narrower than 64 is padded to 64.
    "x265": _Spec("libx265", "hevc", 0, 51, 28, True, (64, 16), "hevc"),
    # SVT-AV1 takes fractional CRF through svtav1-params (FFmpeg's own crf option is an integer).
    "svtav1": _Spec("libsvtav1", "libdav1d", 1, 63, 35, True, (4, 4), None),
}


@dataclass
class StandardResult:
    """One standard-codec encode, measured from its decoded output."""

    codec: str  # "x264" / "x265" / "svtav1"
    bytes: int  # video payload the decoder got (packet bytes, SEI removed, no container)
    bpp: float  # 8 * bytes / (W * H * T), over the original (unpadded) size
    frames: np.ndarray  # decoded uint8 I420, same shape as clip.frames
    encode_seconds: float  # wall time of the chosen encode alone
    decode_fps: float  # frames / wall time to decode the payload
    crf: float  # rate-control setting used (CRF; SVT-AV1 falls back to fixed QP = crf at tiny sizes)
    preset: str  # preset passed to the encoder (SVT-AV1: its number)
    options: dict[str, str] = field(default_factory=dict)  # every encoder option passed
    target_bpp: float | None = None  # the requested bpp, if any
    stream_bytes: int = 0  # packet bytes before SEI removal
    encodes: int = 1  # encodes run (CRF search trials included)
    search_seconds: float = 0.0  # wall time of all encodes
    padded_to: tuple[int, int] | None = None  # (W, H) the encoder saw, when padding was needed
    rate_miss: bool = False  # a target was given and bpp is more than the tolerance away from it
    miss: str | None = None  # why, in words, when rate_miss


def encode_standard(
    clip: Clip,
    codec: str,
    *,
    bpp: float | None = None,
    crf: float | None = None,
    preset: str = "medium",
    tolerance: float = 0.05,
) -> StandardResult:
    """Encode `clip` with a standard codec at a target bpp (CRF search) or a fixed CRF.

    codec: "x264", "x265" or "svtav1". Give at most one of `bpp` and `crf`; with neither, the
    codec's default CRF (23 / 28 / 35) is used. `preset` is an x264-style name ("medium", "slow",
    ...); for SVT-AV1 it maps to a number (medium -> 8) and a number may also be given directly.
    `tolerance`: relative bpp error the CRF search tries to get within (module docstring).
    """
    if codec not in CODECS:
        raise InputError(f"unknown codec {codec!r} (choose from {', '.join(CODECS)})")
    if bpp is not None and crf is not None:
        raise InputError("give either a target bpp or a crf, not both")
    if bpp is not None and not (bpp > 0 and math.isfinite(bpp)):
        raise InputError(f"target bpp must be a positive number, got {bpp}")
    if len(clip) == 0:
        raise InputError("cannot encode an empty clip")
    spec = CODECS[codec]
    if crf is not None and not (spec.crf_min <= crf <= spec.crf_max):
        raise InputError(f"{codec} crf must be in [{spec.crf_min}, {spec.crf_max}], got {crf}")
    preset_opt = _preset_for(codec, preset)
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints a banner per encoder at its default level

    info = clip.info
    frames, enc_info = _pad(clip, spec)
    pixels = info.width * info.height * len(clip)
    trials: dict[float, tuple[list[bytes], int, float, dict[str, str]]] = {}

    def run(c: float):
        c = float(c)
        if c not in trials:
            trials[c] = _encode(frames, enc_info, spec, c, preset_opt)
        return trials[c]

    def bpp_of(c: float) -> float:
        return 8.0 * sum(len(p) for p in run(c)[0]) / pixels

    if bpp is None:
        chosen = float(spec.default_crf if crf is None else crf)
        run(chosen)
    else:
        lo, hi = int(spec.crf_min), int(spec.crf_max)  # bpp(lo) >= target >= bpp(hi), if reachable
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if bpp_of(mid) > bpp:
                lo = mid
            else:
                hi = mid
        bpp_of(lo), bpp_of(hi)
        def within() -> bool:
            return any(abs(bpp_of(c) / bpp - 1) <= tolerance for c in trials)

        if spec.fractional_crf and bpp_of(lo) > bpp > bpp_of(hi):
            flo, fhi = float(lo), float(hi)
            for step in range(6):  # 0.5, 0.25, then on down to 1/64 while still off
                if step >= 2 and within():
                    break
                mid = (flo + fhi) / 2
                if bpp_of(mid) > bpp:
                    flo = mid
                else:
                    fhi = mid
        chosen = min(trials, key=lambda c: (abs(bpp_of(c) - bpp), c))

    packets, stream_bytes, enc_s, options = trials[chosen]
    payload = sum(len(p) for p in packets)
    miss = None if bpp is None else _miss(spec, chosen, 8.0 * payload / pixels, bpp, tolerance)
    decoded, dec_s = _decode(packets, spec, enc_info, len(clip))
    if enc_info is not info:
        decoded = _crop(decoded, enc_info, info)
    return StandardResult(
        codec=codec,
        bytes=payload,
        bpp=8.0 * payload / pixels,
        frames=decoded,
        encode_seconds=enc_s,
        decode_fps=len(clip) / dec_s if dec_s > 0 else math.inf,
        crf=chosen,
        preset=preset_opt,
        options=options,
        target_bpp=bpp,
        stream_bytes=stream_bytes,
        encodes=len(trials),
        search_seconds=sum(t[2] for t in trials.values()),
        padded_to=(enc_info.width, enc_info.height) if enc_info is not info else None,
        rate_miss=miss is not None,
        miss=miss,
    )


def _miss(spec: _Spec, crf: float, got: float, target: float, tolerance: float) -> str | None:
    """Why `got` bpp misses `target` by more than `tolerance`, or None when it does not."""
    if abs(got / target - 1) <= tolerance:
        return None
    where = f"{got:.4g} bpp for {target:g} (crf {_crf_text(crf)})"
    if got < target and crf <= spec.crf_min:
        return f"{where}: the target is above the highest rate the codec reaches"
    if got > target and crf >= spec.crf_max:
        return f"{where}: the target is below the lowest rate the codec reaches"
    return f"{where}: no CRF step lands within {100 * tolerance:g} %"


def _preset_for(codec: str, preset: str) -> str:
    preset = str(preset)
    if codec == "svtav1":
        if preset.lstrip("-").isdigit():
            n = int(preset)
            if not -1 <= n <= 13:
                raise InputError(f"SVT-AV1 preset must be in -1..13, got {n}")
            return str(n)
        if preset not in _SVT_PRESETS:
            raise InputError(f"unknown preset {preset!r} for svtav1")
        return str(_SVT_PRESETS[preset])
    if preset not in _SVT_PRESETS:
        raise InputError(f"unknown preset {preset!r} for {codec}")
    return preset


def _crf_text(c: float) -> str:
    return str(int(c)) if float(c).is_integer() else f"{c:g}"


def _options(spec: _Spec, crf: float, preset: str) -> dict[str, str]:
    opts = {"crf": _crf_text(crf), "preset": preset}
    if spec.encoder == "libsvtav1" and not float(crf).is_integer():
        # FFmpeg's libsvtav1 "crf" option is an integer; SVT-AV1 itself takes fractional CRF.
        del opts["crf"]
        opts["svtav1-params"] = f"crf={crf:g}"
    if spec.encoder == "libx265":
        # info=0: no encoder-info SEI (it would be stripped anyway); log-level: keep stderr quiet.
        opts["x265-params"] = "log-level=error:info=0"
    return opts


def _tags(info: VideoInfo) -> tuple[tuple[int, int, int], int]:
    tags = (
        (_CS_BT709, _PRI_BT709, _TRC_BT709)
        if info.matrix == "bt709"
        else (_CS_SMPTE170M, _PRI_SMPTE170M, _TRC_SMPTE170M)
    )
    return tags, (_RANGE_JPEG if info.full_range else _RANGE_MPEG)


def _set_colour(obj, info: VideoInfo) -> None:
    tags, rng = _tags(info)
    for attr, val in zip(("colorspace", "color_primaries", "color_trc", "color_range"), (*tags, rng)):
        try:
            setattr(obj, attr, val)
        except (AttributeError, TypeError, ValueError):
            pass


def _encode(frames: np.ndarray, info: VideoInfo, spec: _Spec, crf: float, preset: str):
    """-> (packets with SEI removed, bytes before removal, encode seconds, options)."""
    w, h = info.width, info.height
    rate = info.fps
    if rate.denominator > 1_000_000 or rate.numerator > 2**31 - 1:
        rate = rate.limit_denominator(1_000_000)
    options = _options(spec, crf, preset)
    t0 = time.perf_counter()
    cc = av.CodecContext.create(spec.encoder, "w")
    cc.width, cc.height = w, h
    cc.pix_fmt = "yuv420p"
    cc.time_base = Fraction(1) / rate
    cc.framerate = rate
    _set_colour(cc, info)
    cc.options = dict(options)
    raw: list[bytes] = []
    try:
        cc.open()
        for i, fr in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(fr).reshape(h * 3 // 2, w), format="yuv420p"
            )
            _set_colour(vf, info)
            vf.pts = i
            raw.extend(bytes(p) for p in cc.encode(vf))
        raw.extend(bytes(p) for p in cc.encode(None))
    except av.FFmpegError as e:
        raise InputError(f"{spec.encoder} could not encode {w}x{h} video: {e}") from None
    seconds = time.perf_counter() - t0
    stream_bytes = sum(len(p) for p in raw)
    packets = [_strip_sei(p, spec.nal) for p in raw] if spec.nal else raw
    return packets, stream_bytes, seconds, options


def _strip_sei(data: bytes, nal: str) -> bytes:
    """Drop SEI NAL units from one Annex-B access unit (H.264 type 6; HEVC types 39/40)."""
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i)
        i = data.find(b"\x00\x00\x01", i + 3)
    if not starts:
        return data
    # A unit runs from its start code (including a 4th leading zero byte) to the next one.
    begins = [s - 1 if s > 0 and data[s - 1] == 0 else s for s in starts]
    begins[0] = 0
    out = []
    for k, s in enumerate(starts):
        end = begins[k + 1] if k + 1 < len(starts) else len(data)
        if s + 3 >= len(data):
            out.append(data[begins[k] : end])
            continue
        header = data[s + 3]
        is_sei = (header & 0x1F) == 6 if nal == "h264" else ((header >> 1) & 0x3F) in (39, 40)
        if not is_sei:
            out.append(data[begins[k] : end])
    return b"".join(out)


def _decode(packets: list[bytes], spec: _Spec, info: VideoInfo, count: int):
    """Decode the payload to (T, W*H*3/2) uint8 I420 -> (frames, seconds)."""
    t0 = time.perf_counter()
    dec = av.CodecContext.create(spec.decoder, "r")
    out: list[np.ndarray] = []
    try:
        for p in packets:
            for fr in dec.decode(av.Packet(p)):
                out.append(_frame_i420(fr, info))
        for fr in dec.decode(None):
            out.append(_frame_i420(fr, info))
    except av.FFmpegError as e:
        raise RuntimeError(f"{spec.decoder} failed to decode {spec.encoder} output: {e}") from None
    seconds = time.perf_counter() - t0
    if len(out) != count:
        raise RuntimeError(f"{spec.decoder} returned {len(out)} frames, expected {count}")
    return np.stack(out), seconds


def _frame_i420(frame, info: VideoInfo) -> np.ndarray:
    w, h = info.width, info.height
    if frame.width != w or frame.height != h:
        raise RuntimeError(f"decoded frame is {frame.width}x{frame.height}, expected {w}x{h}")
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")  # not expected for 8-bit 4:2:0 streams
    out = np.empty(info.frame_bytes, dtype=np.uint8)
    sizes = ((w, h), (w // 2, h // 2), (w // 2, h // 2))
    for dst, plane, (pw, ph) in zip(split_planes(out, w, h), frame.planes, sizes):
        src = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        dst[...] = src[:ph, :pw]
    return out


def _pad(clip: Clip, spec: _Spec) -> tuple[np.ndarray, VideoInfo]:
    """Edge-replicate frames up to the codec's minimum size (no copy when already big enough)."""
    info = clip.info
    mw, mh = spec.min_size
    pw, ph = max(info.width, mw), max(info.height, mh)
    if (pw, ph) == (info.width, info.height):
        return clip.frames, info
    padded = VideoInfo(pw, ph, info.fps, info.matrix, info.full_range)
    out = np.empty((len(clip), padded.frame_bytes), np.uint8)
    for t in range(len(clip)):
        for src, dst in zip(clip.planes(t), split_planes(out[t], pw, ph)):
            sh, sw = src.shape
            dh, dw = dst.shape
            dst[...] = np.pad(src, ((0, dh - sh), (0, dw - sw)), mode="edge")
    return out, padded


def _crop(frames: np.ndarray, padded: VideoInfo, info: VideoInfo) -> np.ndarray:
    out = np.empty((frames.shape[0], info.frame_bytes), np.uint8)
    for t in range(frames.shape[0]):
        src = split_planes(frames[t], padded.width, padded.height)
        for s, d in zip(src, split_planes(out[t], info.width, info.height)):
            d[...] = s[: d.shape[0], : d.shape[1]]
    return out
