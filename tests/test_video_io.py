"""Video I/O: raw/Y4M/container readers and writers, colour conversion, atomic output."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from inrcodec.atomic import atomic_output
from inrcodec.errors import InputError
from inrcodec.video.clip import Clip, VideoInfo
from inrcodec.video.colour import rgb_to_yuv420, yuv420_to_rgb
from inrcodec.video.io import guess_format, open_writer, parse_fps, parse_size, read_video, write_video
from inrcodec.video.y4m import read_y4m

from .conftest import synthetic_clip

TREE = Path(__file__).parents[2] / "shared/data/tree.avi"
CUP = Path(__file__).parents[2] / "shared/data/cup.mp4"
W, H = 32, 24
FFMPEG = shutil.which("ffmpeg")


def synth(t=4, w=W, h=H, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(t, w * h * 3 // 2), dtype=np.uint8)


def smooth_frames(t=4, w=64, h=48) -> np.ndarray:
    """Compressible content (gradients moving over time) for lossy codec tests."""
    out = np.empty((t, w * h * 3 // 2), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(t):
        y = 16 + ((xx * 3 + yy * 2 + i * 4) % 200)
        u = 128 + 40 * np.sin((xx[::2, ::2] + i) / 6.0)
        v = 128 + 40 * np.cos((yy[::2, ::2] - i) / 5.0)
        out[i] = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).astype(np.uint8)
    return out


def psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


INFO = VideoInfo(W, H, Fraction(25))


# ---------------------------------------------------------------- clip / parsing

def test_videoinfo_rejects_odd_size():
    with pytest.raises(InputError, match="odd"):
        VideoInfo(33, 24, Fraction(25))


def test_clip_planes_are_views():
    f = synth(2)
    clip = Clip(INFO, f)
    y, u, v = clip.planes(1)
    assert y.shape == (H, W) and u.shape == (H // 2, W // 2) and v.shape == (H // 2, W // 2)
    assert np.array_equal(np.concatenate([y.ravel(), u.ravel(), v.ravel()]), f[1])
    assert np.shares_memory(y, f) and len(clip) == 2 and clip.frame_bytes == W * H * 3 // 2


def test_parse_size_and_fps():
    assert parse_size("176x144") == (176, 144)
    for bad in ("176", "axb", "0x10", "176x"):
        with pytest.raises(InputError):
            parse_size(bad)
    assert parse_fps("30000/1001") == Fraction(30000, 1001)
    assert parse_fps("25") == 25
    assert parse_fps("29.97") == Fraction(2997, 100)
    for bad in ("x", "0", "1/0", "-5"):
        with pytest.raises(InputError):
            parse_fps(bad)


def test_guess_format():
    assert guess_format("a.MP4") == "mp4" and guess_format("a.y4m") == "y4m"
    assert guess_format("a.mkv") == "mkv" and guess_format("a.yuv") == "yuv"
    assert guess_format("a.bin", "y4m") == "y4m"
    with pytest.raises(InputError):
        guess_format("a.bin")


# ---------------------------------------------------------------- raw

def test_raw_round_trip_and_ranges(tmp_path):
    frames = synth(5)
    p = tmp_path / "a.yuv"
    with open_writer(str(p), "yuv", INFO) as w:
        w.write(frames[:2])
        w.write(frames[2:])
    assert p.read_bytes() == frames.tobytes()
    clip = read_video(str(p), size=(W, H))
    assert np.array_equal(clip.frames, frames) and clip.info.fps == 25
    clip = read_video(str(p), size=(W, H), start=1, frames=2, fps=Fraction(30))
    assert np.array_equal(clip.frames, frames[1:3]) and clip.info.fps == 30
    clip = read_video(str(p), size=(W, H), start=3, frames=10)
    assert np.array_equal(clip.frames, frames[3:])
    with pytest.raises(InputError, match="past the end"):
        read_video(str(p), size=(W, H), start=5)


def test_raw_partial_frame_reports_leftover(tmp_path):
    p = tmp_path / "a.yuv"
    p.write_bytes(synth(2).tobytes() + b"\0" * 100)
    with pytest.raises(InputError, match="100 bytes left over"):
        read_video(str(p), size=(W, H), frames=1)
    # same on a pipe (non-seekable)
    data = synth(2).tobytes() + b"\0" * 77
    with pytest.raises(InputError, match="77 bytes left over"):
        read_video("-", size=(W, H), stdin=io.BufferedReader(io.BytesIO(data)))


def test_raw_needs_size(tmp_path):
    p = tmp_path / "a.yuv"
    p.write_bytes(synth(1).tobytes())
    with pytest.raises(InputError, match="needs --size"):
        read_video(str(p))
    with pytest.raises(InputError, match="needs --size"):
        read_video("-", stdin=io.BytesIO(synth(1).tobytes()))


def test_bad_args_and_paths(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_video(str(tmp_path / "missing.mp4"))
    with pytest.raises(InputError, match="directory"):
        read_video(str(tmp_path))
    (tmp_path / "empty.yuv").write_bytes(b"")
    with pytest.raises(InputError, match="no frames"):
        read_video(str(tmp_path / "empty.yuv"), size=(W, H))
    (tmp_path / "junk.mp4").write_bytes(b"this is not a video at all" * 10)
    with pytest.raises(InputError):
        read_video(str(tmp_path / "junk.mp4"))
    with pytest.raises(InputError):
        read_video("-", size=(W, H), frames=0, stdin=io.BytesIO(b""))
    with pytest.raises(InputError):
        read_video("-", size=(W, H), start=-1, stdin=io.BytesIO(b""))
    with pytest.raises(InputError, match="empty"):
        read_video("-", size=(W, H), stdin=io.BytesIO(b""))


# ---------------------------------------------------------------- y4m

@pytest.mark.parametrize("full_range,matrix", [(False, "bt601"), (True, "bt709")])
def test_y4m_round_trip(tmp_path, full_range, matrix):
    info = VideoInfo(W, H, Fraction(30000, 1001), matrix, full_range)
    frames = synth(4, seed=1)
    p = tmp_path / "a.y4m"
    with open_writer(str(p), "y4m", info) as w:
        w.write(frames)
    head = p.read_bytes().split(b"\n", 1)[0]
    assert b"C420jpeg" in head and (b"XCOLORRANGE=FULL" in head) == full_range
    clip = read_video(str(p))
    assert clip.info == info and np.array_equal(clip.frames, frames)
    clip = read_video(str(p), start=1, frames=2)
    assert np.array_equal(clip.frames, frames[1:3])
    # stdin detection by magic
    clip = read_video("-", stdin=io.BytesIO(p.read_bytes()), start=2)
    assert clip.info == info and np.array_equal(clip.frames, frames[2:])


def _y4m(header: str, payload: bytes = b"") -> io.BytesIO:
    return io.BytesIO(header.encode() + b"\n" + payload)


def test_y4m_rejects_unsupported():
    fb = W * H * 3 // 2
    with pytest.raises(InputError, match="422"):
        read_video("-", stdin=_y4m(f"YUV4MPEG2 W{W} H{H} F25:1 C422", b"FRAME\n" + b"\0" * W * H * 2))
    with pytest.raises(InputError, match="420p10"):
        read_video("-", stdin=_y4m(f"YUV4MPEG2 W{W} H{H} F25:1 C420p10"))
    with pytest.raises(InputError, match="mono"):
        read_y4m(_y4m(f"YUV4MPEG2 W{W} H{H} F25:1 Cmono"))
    with pytest.raises(InputError, match="interlaced"):
        read_video("-", stdin=_y4m(f"YUV4MPEG2 W{W} H{H} F25:1 It"))
    with pytest.raises(InputError, match="truncated"):
        read_video("-", stdin=_y4m(f"YUV4MPEG2 W{W} H{H} F25:1", b"FRAME\n" + b"\0" * (fb - 1)))
    with pytest.raises(InputError, match="odd"):
        read_video("-", stdin=_y4m(f"YUV4MPEG2 W33 H{H} F25:1", b"FRAME\n"))


def test_y4m_defaults_and_frame_params():
    fb = W * H * 3 // 2
    data = b"FRAME Ixyz\n" + b"\1" * fb + b"FRAME\n" + b"\2" * fb
    clip = read_y4m(_y4m(f"YUV4MPEG2 W{W} H{H} F24:1 C420mpeg2 XYSCSS=420MPEG2", data))
    assert clip.info == VideoInfo(W, H, Fraction(24), "bt601", False)
    assert len(clip) == 2 and clip.frames[0, 0] == 1 and clip.frames[1, -1] == 2


# ---------------------------------------------------------------- colour

def _colour_round_trip(frames: np.ndarray, info: VideoInfo) -> float:
    rgb = yuv420_to_rgb(torch.from_numpy(frames), info)
    assert rgb.dtype == torch.float32 and rgb.shape == (len(frames), 3, info.height, info.width)
    assert rgb.min() >= 0 and rgb.max() <= 1
    back = rgb_to_yuv420(rgb, info)
    assert back.dtype == torch.uint8 and back.shape == frames.shape
    return psnr(back.numpy(), frames)


@pytest.mark.skipif(not TREE.exists(), reason="tree.avi not available")
def test_colour_round_trip_real_frames():
    clip = read_video(str(TREE), frames=2)
    assert clip.info.width == 320 and clip.info.height == 240 and len(clip) == 2
    for matrix in ("bt601", "bt709"):
        for full in (False, True):
            info = VideoInfo(320, 240, clip.info.fps, matrix, full)
            assert _colour_round_trip(clip.frames, info) >= 60


@pytest.mark.skipif(not CUP.exists(), reason="cup.mp4 not available")
def test_colour_round_trip_real_h264():
    clip = read_video(str(CUP), frames=1)
    assert _colour_round_trip(clip.frames, clip.info) >= 60


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("full", [False, True])
def test_colour_round_trip_synthetic_in_gamut(matrix, full):
    info = VideoInfo(W, H, Fraction(25), matrix, full)
    # In-gamut content: random colour per 2x2 block (so 4:2:0 loses nothing) plus random grey
    # (luma-only) noise per pixel, all kept inside [0, 1].
    g = torch.Generator().manual_seed(3)
    block = 0.2 + 0.6 * torch.rand(3, 3, H // 2, W // 2, generator=g)
    block = block.repeat_interleave(2, -1).repeat_interleave(2, -2)
    rgb = block + 0.2 * (torch.rand(3, 1, H, W, generator=g) - 0.5)
    frames = rgb_to_yuv420(rgb, info).numpy()
    back = rgb_to_yuv420(yuv420_to_rgb(torch.from_numpy(frames), info), info).numpy()
    assert psnr(back, frames) >= 60
    # Known anchor values: limited-range black/white/grey.
    if not full:
        grey = np.concatenate([np.full(W * H, 126), np.full(W * H // 2, 128)]).astype(np.uint8)
        out = yuv420_to_rgb(torch.from_numpy(grey[None]), info)
        assert torch.allclose(out, torch.full_like(out, 110 / 219), atol=1e-6)


def test_colour_matches_pyav_rgb():
    """Our BT.601 limited conversion agrees with FFmpeg's to within rounding (guards the formulas)."""
    frames = smooth_frames(1, 64, 48)
    vf = av.VideoFrame.from_ndarray(frames[0].reshape(72, 64), format="yuv420p")
    ref = vf.to_ndarray(format="rgb24").astype(np.float64)
    ours = yuv420_to_rgb(torch.from_numpy(frames), VideoInfo(64, 48, Fraction(25)))[0]
    ours = ours.permute(1, 2, 0).numpy() * 255
    # swscale uses bilinear chroma upsampling, so compare where chroma is smooth: mean error only.
    assert np.abs(ours - ref).mean() < 3.0


# ---------------------------------------------------------------- containers

def test_mp4_write_and_read_back(tmp_path):
    info = VideoInfo(64, 48, Fraction(25), "bt709", False)
    frames = smooth_frames(5)
    p = tmp_path / "out.mp4"
    with open_writer(str(p), "mp4", info, crf=10) as w:
        w.write(frames)
    assert not [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]
    clip = read_video(str(p))
    assert len(clip) == 5 and (clip.info.width, clip.info.height) == (64, 48)
    assert clip.info.fps == 25 and clip.info.matrix == "bt709" and not clip.info.full_range
    assert psnr(clip.frames, frames) > 35


@pytest.mark.parametrize("fmt", ["mp4", "mkv"])
@pytest.mark.parametrize("to_pipe", [False, True])
def test_containers_take_more_frames_than_x264s_lookahead(tmp_path, fmt, to_pipe):
    """150 frames: past the ~40 frames x264 holds back before the muxer writes its header (which
    rewrites the stream's time base; every clip over 42 frames once failed in the muxer)."""
    info = VideoInfo(32, 24, Fraction(25), "bt601", False)
    frames = np.random.default_rng(0).integers(16, 236, (150, 32 * 24 * 3 // 2), dtype=np.uint8)
    p = tmp_path / f"out.{fmt}"
    if to_pipe:
        out = io.BytesIO()
        with open_writer("-", fmt, info, stdout=out) as w:
            w.write(frames)
        p.write_bytes(out.getvalue())
    else:
        with open_writer(str(p), fmt, info) as w:
            w.write(frames)
    with av.open(str(p)) as c:
        st = c.streams.video[0]
        pts = [f.pts for f in c.decode(st)]
        assert st.average_rate == 25
    assert len(pts) == 150 and len(set(pts)) == 150


def test_mkv_full_range_tags(tmp_path):
    info = VideoInfo(64, 48, Fraction(24), "bt601", True)
    frames = smooth_frames(3)
    p = tmp_path / "out.mkv"
    with open_writer(str(p), None, info) as w:
        w.write(frames)
    clip = read_video(str(p))
    assert len(clip) == 3 and clip.info.full_range and clip.info.fps == 24
    assert psnr(clip.frames, frames) > 35


def test_mp4_to_stdout_stream():
    info = VideoInfo(64, 48, Fraction(25))
    frames = smooth_frames(4)
    out = io.BytesIO()
    with open_writer("-", "mp4", info, stdout=out) as w:
        w.write(frames)
    data = out.getvalue()
    assert len(data) > 100
    with av.open(io.BytesIO(data)) as c:
        got = [f.to_ndarray().reshape(-1) for f in c.decode(video=0)]
    assert len(got) == 4 and psnr(np.stack(got), frames) > 35


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg CLI not available")
def test_ffmpeg_y4m_into_read_video():
    y4m = subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=25",
         "-frames:v", "3", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-"],
        check=True, capture_output=True).stdout
    raw = subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=25",
         "-frames:v", "3", "-pix_fmt", "yuv420p", "-f", "rawvideo", "-"],
        check=True, capture_output=True).stdout
    clip = read_video("-", stdin=io.BytesIO(y4m))
    assert clip.info == VideoInfo(32, 24, Fraction(25), "bt601", False)
    assert len(clip) == 3 and clip.frames.tobytes() == raw


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg CLI not available")
@pytest.mark.parametrize("full", [False, True])
def test_our_y4m_into_ffmpeg(full):
    info = VideoInfo(W, H, Fraction(25), "bt601", full)
    frames = synth(3, seed=7)
    buf = io.BytesIO()
    with open_writer("-", "y4m", info, stdout=buf) as w:
        w.write(frames)
    out = subprocess.run(
        [FFMPEG, "-v", "error", "-i", "-", "-f", "rawvideo", "-pix_fmt",
         "yuvj420p" if full else "yuv420p", "-"],
        input=buf.getvalue(), check=True, capture_output=True).stdout
    assert out == frames.tobytes()


# ---------------------------------------------------------------- atomic output

def test_atomic_abort_keeps_existing(tmp_path):
    dest = tmp_path / "out.yuv"
    dest.write_bytes(b"original")
    w = open_writer(str(dest), "yuv", INFO)
    w.write(synth(2))
    assert [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]  # writing goes to a temp
    w.abort()
    assert dest.read_bytes() == b"original"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["out.yuv"]

    with pytest.raises(RuntimeError):
        with open_writer(str(dest), "mp4", VideoInfo(64, 48, Fraction(25))) as w:
            w.write(smooth_frames(2))
            raise RuntimeError("boom")
    assert dest.read_bytes() == b"original"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["out.yuv"]

    with open_writer(str(dest), "yuv", INFO) as w:
        w.write(synth(1))
    assert dest.read_bytes() == synth(1).tobytes()
    assert sorted(q.name for q in tmp_path.iterdir()) == ["out.yuv"]


def test_atomic_output_keyboard_interrupt(tmp_path):
    dest = tmp_path / "x.bin"
    dest.write_bytes(b"keep")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(dest) as f:
            f.write(b"new")
            raise KeyboardInterrupt
    assert dest.read_bytes() == b"keep" and os.listdir(tmp_path) == ["x.bin"]
    with atomic_output(dest) as f:
        f.write(b"new")
    assert dest.read_bytes() == b"new" and os.listdir(tmp_path) == ["x.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask  # normal permissions, not mkstemp's 0600
    with pytest.raises(InputError):
        with atomic_output(tmp_path / "nodir" / "x.bin"):
            pass


@pytest.mark.parametrize("fmt", ["yuv", "y4m", "mp4"])
def test_inputs_beyond_the_memory_limit_are_refused_while_reading(tmp_path, monkeypatch, fmt):
    clip = synthetic_clip(width=640, height=480, frames=3)  # 1.3 MiB of uint8 frames
    path = tmp_path / f"c.{fmt}"
    write_video(str(path), clip, fmt)
    size = (640, 480) if fmt == "yuv" else None
    monkeypatch.setenv("INRCODEC_MAX_INPUT_MIB", "1")
    with pytest.raises(InputError, match=r"more than 2 frames of 640x480 \(1 MiB allowed\).*--frames 2"):
        read_video(str(path), size=size)
    assert len(read_video(str(path), size=size, frames=2)) == 2  # what the message suggests works
    with open(path, "rb") as f:  # a pipe is refused the same way, frame by frame
        if fmt != "mp4":
            with pytest.raises(InputError, match="too long to hold in memory"):
                read_video("-", size=size, stdin=f)
    monkeypatch.setenv("INRCODEC_MAX_INPUT_MIB", "lots")
    with pytest.raises(InputError, match="INRCODEC_MAX_INPUT_MIB"):
        read_video(str(path), size=size)


@pytest.mark.parametrize("reserved", [True, False])
@pytest.mark.parametrize("fmt", ["yuv", "y4m", "mp4"])
def test_frames_are_read_the_same_into_a_reserved_map_or_a_growing_buffer(tmp_path, monkeypatch, fmt, reserved):
    """Frames land in an anonymous memory map; where none can be reserved, in a bytearray."""
    from inrcodec.video import raw

    clip = synthetic_clip(width=W, height=H, frames=5)
    path = tmp_path / f"c.{fmt}"
    write_video(str(path), clip, fmt)
    expected = read_video(str(path), size=(W, H) if fmt == "yuv" else None).frames.copy()
    if not reserved:
        monkeypatch.setattr(raw, "_reserve", lambda nbytes: None)
    size = (W, H) if fmt == "yuv" else None
    got = read_video(str(path), size=size)
    assert np.array_equal(got.frames, expected) and got.frames.flags.writeable
    assert np.array_equal(read_video(str(path), size=size, start=1, frames=3).frames, expected[1:4])
    if fmt != "mp4":
        with open(path, "rb") as f:  # a pipe, frame by frame
            assert np.array_equal(read_video("-", size=size, stdin=io.BufferedReader(f)).frames, expected)
    if fmt == "yuv":
        assert np.array_equal(clip.frames, expected)  # raw is lossless: the file's own bytes


def test_frame_buffer_reads_straight_from_a_stream_and_reports_short_files():
    from inrcodec.video.raw import FrameBuffer

    data = synth(3).tobytes()
    buf = FrameBuffer(W * H * 3 // 2, W, H)
    assert buf.store is not None  # Linux: an anonymous map
    assert buf.read_from(io.BytesIO(data), len(data)) == len(data)
    assert buf.read_from(io.BytesIO(data[:1200]), len(data)) == 1200  # EOF: what arrived,
    assert len(buf) == 4 and buf.array()[:3].tobytes() == data  # whole frames kept
    assert buf.array()[3].tobytes() == data[:1152]


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_through_420_is_the_decoded_rgb_before_rounding(matrix):
    """The fit's loss_420 projection: what rgb_to_yuv420 then yuv420_to_rgb give back, without the
    rounding; a projection (idempotent) that ignores chroma detail inside a 2x2 block."""
    from inrcodec.video.colour import _K, through_420

    info = VideoInfo(W, H, Fraction(25), matrix, False)
    g = torch.Generator().manual_seed(1)
    rgb = 0.2 + 0.6 * torch.rand(2, 3, H, W, generator=g)
    p = through_420(rgb, info)
    decoded = yuv420_to_rgb(rgb_to_yuv420(rgb, info), info)
    assert float((p - decoded).abs().max()) < 0.01  # uint8 rounding of Y, U, V only
    assert float((p - rgb).abs().max()) > 0.05  # it did change the chroma
    torch.testing.assert_close(through_420(p, info), p, rtol=0, atol=1e-6)
    # a chroma-only change (luma unchanged) that averages to zero over each 2x2 block is invisible
    kr, kb = _K[matrix]
    e = 0.05 * torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(H // 2, W // 2)
    d_r, d_g = 2 * (1 - kr) * e, -kr * 2 * (1 - kr) * e / (1 - kr - kb)
    moved = rgb + torch.stack((d_r, d_g, torch.zeros_like(e)))[None]
    torch.testing.assert_close(through_420(moved, info), p, rtol=0, atol=1e-6)
    with pytest.raises(ValueError):
        through_420(rgb[:, :, 1:], info)
