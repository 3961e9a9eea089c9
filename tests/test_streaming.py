"""Streaming input (issue 15): open_video(...).chunks(n) gives, chunk by chunk and in bounded memory,
exactly the frames read_video gives at once, for files and pipes of every format; read_range gives a
segment's frames alone; the memory limit applies per chunk; what an input loses is said once."""

from __future__ import annotations

import fractions
import io
import shutil
import subprocess
import warnings
import weakref
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
import pytest

from inrcodec.errors import InputError
from inrcodec.progress import InrcodecWarning
from inrcodec.video.io import open_video, read_range, read_video, write_video

from .conftest import synthetic_clip

CUP = Path(__file__).parents[2] / "shared/data/cup.mp4"
FFPROBE = shutil.which("ffprobe")
W, H = 32, 24
T = 10
FORMATS = ("yuv", "y4m", "mp4")


def _size(fmt):
    return (W, H) if fmt == "yuv" else None


def write(path, clip, fmt):
    """A clip to a file; MP4 as our writer streams it to a pipe (fragmented: an MP4 with its index
    at the end cannot be read from a pipe, by FFmpeg either), so the same bytes serve both."""
    if fmt != "mp4":
        write_video(str(path), clip, fmt)
        return
    buf = io.BytesIO()
    write_video("-", clip, fmt, stdout=buf)
    path.write_bytes(buf.getvalue())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One clip of T frames written as raw, Y4M and MP4."""
    d = tmp_path_factory.mktemp("streaming")
    clip = synthetic_clip(width=W, height=H, frames=T)
    out = {}
    for fmt in FORMATS:
        out[fmt] = d / f"clip.{fmt}"
        write(out[fmt], clip, fmt)
    return out


@contextmanager
def piped(path):
    """A real pipe from a `cat` subprocess: non-seekable, short reads, like a shell's stdin."""
    proc = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
    try:
        yield proc.stdout
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


def streamed(path, fmt, n, via, **kw):
    """The chunks of open_video(...).chunks(n), from the file or through a pipe."""
    if via == "file":
        with open_video(str(path), size=_size(fmt), **kw) as src:
            return src.info, list(src.chunks(n))
    with piped(path) as pipe, open_video("-", size=_size(fmt), stdin=pipe, **kw) as src:
        return src.info, list(src.chunks(n))


@pytest.mark.parametrize("via", ["file", "pipe"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("start, frames", [(0, None), (2, None), (3, 5)])
def test_chunks_concatenated_equal_read_video(files, fmt, via, start, frames):
    whole = read_video(str(files[fmt]), size=_size(fmt), start=start, frames=frames)
    for n in (1, 3, 5, 16):  # 5 divides 10 and 5 frames, 3 divides neither, 16 is longer than the clip
        info, chunks = streamed(files[fmt], fmt, n, via, start=start, frames=frames)
        assert info == whole.info
        assert [len(c) for c in chunks[:-1]] == [n] * (len(chunks) - 1) and 1 <= len(chunks[-1]) <= n
        assert all(c.dtype == np.uint8 and c.shape[1] == info.frame_bytes for c in chunks)
        assert np.array_equal(np.concatenate(chunks), whole.frames), (n, start, frames)


@pytest.mark.parametrize("fmt", FORMATS)
def test_chunks_are_new_arrays_and_the_source_continues_where_it_stood(files, fmt):
    seen = []
    with open_video(str(files[fmt]), size=_size(fmt), on_frames=seen.append) as src:
        a, b = next(src.chunks(4)), next(src.chunks(4))
        assert not np.shares_memory(a, b) and src.frames_read == 8
        rest = src.read()
        assert len(rest) == 2 and src.frames_read == 10
        assert len(src.read()) == 0 and list(src.chunks(3)) == []
    assert np.array_equal(np.concatenate([a, b, rest.frames]), read_video(str(files[fmt]), size=_size(fmt)).frames)
    assert seen[-1] == 10 and seen == sorted(seen)  # progress counts frames over all the chunks


def test_count_is_known_for_a_raw_file_only(files):
    with open_video(str(files["yuv"]), size=(W, H), start=3) as src:
        assert src.count == 7 and sum(len(c) for c in src.chunks(np.int64(4))) == 7  # any integer type
    with open_video(str(files["yuv"]), size=(W, H), start=3, frames=20) as src:
        assert src.count == 7
    with piped(files["yuv"]) as pipe, open_video("-", size=(W, H), stdin=pipe) as src:
        assert src.count is None
    for fmt in ("y4m", "mp4"):
        with open_video(str(files[fmt])) as src:
            assert src.count is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_chunk_the_caller_dropped_is_freed_before_the_next_is_read(files, fmt):
    """The source holds no chunk it has given: while the next is read (seen from the progress
    callback), the previous one is gone once the caller has dropped it."""
    previous, alive_while_reading = [], []

    def on_frames(n):
        if previous:
            alive_while_reading.append(previous[-1]() is not None)

    with open_video(str(files[fmt]), size=_size(fmt), on_frames=on_frames) as src:
        chunks = src.chunks(3)
        while (c := next(chunks, None)) is not None:
            previous.append(weakref.ref(c))
            del c
    assert len(previous) == 4 and alive_while_reading and not any(alive_while_reading)


@pytest.mark.parametrize("fmt", FORMATS)
def test_options_override_the_inputs_own_tags_in_a_stream(files, fmt):
    kw = dict(fps=fractions.Fraction(30000, 1001), matrix="bt709", full_range=True)
    whole = read_video(str(files[fmt]), size=_size(fmt), **kw)
    with open_video(str(files[fmt]), size=_size(fmt), **kw) as src:
        assert src.info == whole.info and src.info.fps == fractions.Fraction(30000, 1001)
        assert src.info.matrix == "bt709" and src.info.full_range


@pytest.mark.parametrize("fmt", FORMATS)
def test_read_range_equals_the_slice_of_a_sequential_read(files, fmt):
    whole = read_video(str(files[fmt]), size=_size(fmt)).frames
    for first, count in ((0, 3), (4, 4), (7, 10), (9, 1)):
        part = read_range(str(files[fmt]), first, count, size=_size(fmt))
        assert np.array_equal(part.frames, whole[first:first + count]), (first, count)
    with pytest.raises(InputError, match="start frame 10 is past the end"):
        read_range(str(files[fmt]), 10, 2, size=_size(fmt))


@pytest.fixture(scope="module")
def long_files(tmp_path_factory):
    """150 frames (several of x264's 40-frame lookaheads, B-frames reordered) as MP4 and Y4M, 32x24
    so that decoding them is cheap."""
    d = tmp_path_factory.mktemp("long")
    clip = synthetic_clip(width=W, height=H, frames=150, seed=1)
    out = {}
    for fmt in ("mp4", "y4m"):
        out[fmt] = d / f"long.{fmt}"
        write(out[fmt], clip, fmt)
    return out, clip


def _pyav_frames(path) -> np.ndarray:
    """An independent reader: PyAV's own decode, each yuv420p frame's planes as one I420 row."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="yuv420p").reshape(-1) for f in c.decode(video=0)])


@pytest.mark.parametrize("via", ["file", "pipe"])
def test_a_long_mp4_streams_the_frames_an_independent_decoder_gives(long_files, via):
    files, _ = long_files
    ref = _pyav_frames(files["mp4"])
    assert len(ref) == 150
    if FFPROBE:
        out = subprocess.run([FFPROBE, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                              "stream=nb_read_frames", "-of", "csv=p=0", str(files["mp4"])],
                             check=True, capture_output=True, text=True, timeout=60).stdout
        assert int(out.strip()) == 150
    _, chunks = streamed(files["mp4"], "mp4", 16, via)  # 9 chunks of 16 and one of 6
    assert [len(c) for c in chunks] == [16] * 9 + [6]
    assert np.array_equal(np.concatenate(chunks), ref)
    assert np.array_equal(read_range(str(files["mp4"]), 100, 30).frames, ref[100:130])  # decoded forward, exact


@pytest.mark.parametrize("via", ["file", "pipe"])
def test_a_long_y4m_streams_its_own_bytes(long_files, via):
    files, clip = long_files
    _, chunks = streamed(files["y4m"], "y4m", 32, via, start=5)
    assert [len(c) for c in chunks] == [32] * 4 + [17]
    assert np.array_equal(np.concatenate(chunks), clip.frames[5:])  # lossless: the frames written
    assert np.array_equal(read_range(str(files["y4m"]), 120, 40).frames, clip.frames[120:])


@pytest.mark.skipif(not CUP.exists(), reason="cup.mp4 not available")
@pytest.mark.filterwarnings("ignore::inrcodec.progress.InrcodecWarning")  # its audio
def test_a_real_mp4_with_its_index_at_the_end_streams_from_a_file():
    whole = read_video(str(CUP), start=30, frames=40)
    with open_video(str(CUP), start=30, frames=40) as src:
        chunks = list(src.chunks(16))
    assert [len(c) for c in chunks] == [16, 16, 8] and np.array_equal(np.concatenate(chunks), whole.frames)


def test_y4m_frames_skipped_in_a_file_are_still_checked_for_truncation(tmp_path):
    clip = synthetic_clip(width=W, height=H, frames=3)
    p = tmp_path / "c.y4m"
    write_video(str(p), clip, "y4m")
    data = p.read_bytes()
    p.write_bytes(data[:len(data) - clip.info.frame_bytes - 10])  # frame 1 cut short, frame 2 gone
    with pytest.raises(InputError, match="Y4M frame 1 is truncated"):
        read_range(str(p), 2, 1)


def _big(tmp_path, fmt, frames=6):
    clip = synthetic_clip(width=640, height=480, frames=frames)  # 450 KiB a frame: 2 fit in 1 MiB
    path = tmp_path / f"big.{fmt}"
    write(path, clip, fmt)
    return path, (640, 480) if fmt == "yuv" else None


@pytest.mark.parametrize("via", ["file", "pipe"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_memory_limit_applies_to_each_chunk(tmp_path, monkeypatch, fmt, via):
    path, size = _big(tmp_path, fmt)
    expected = read_video(str(path), size=size).frames
    monkeypatch.setenv("INRCODEC_MAX_INPUT_MIB", "1")
    with pytest.raises(InputError, match=r"too long to hold in memory: more than 2 frames of 640x480 "
                                         r"\(1 MiB allowed\).*--frames 2"):
        read_video(str(path), size=size)  # the whole clip does not fit

    def chunks(n):
        if via == "file":
            with open_video(str(path), size=size) as src:
                return list(src.chunks(n))
        with piped(path) as pipe, open_video("-", size=size, stdin=pipe) as src:
            return list(src.chunks(n))

    got = chunks(2)  # each chunk does: the input streams through
    assert [len(c) for c in got] == [2, 2, 2] and np.array_equal(np.concatenate(got), expected)
    with pytest.raises(InputError, match=r"too long to hold in memory: more than 2 frames of 640x480 "
                                         r"\(1 MiB allowed\)"):
        chunks(3)  # a chunk of 3 does not


def test_a_frame_larger_than_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path, size = _big(tmp_path, "yuv", frames=2)
    monkeypatch.setenv("INRCODEC_MAX_INPUT_MIB", "1")
    with pytest.raises(InputError, match="one frame of 1280x960 is more than the 1 MiB"):
        open_video("-", size=(1280, 960), stdin=io.BufferedReader(io.BytesIO(path.read_bytes())))


def _notes(fn) -> list[str]:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in record if issubclass(w.category, InrcodecWarning)]


def test_what_an_input_loses_is_said_once_however_it_is_chunked(tmp_path):
    path = tmp_path / "in.mkv"
    with av.open(str(path), "w") as c:  # 10-bit 4:2:2 with variable timing: two notes
        st = c.add_stream("ffv1", rate=25)
        st.width, st.height, st.pix_fmt = W, H, "yuv422p10le"
        rng = np.random.default_rng(0)
        for i, pts in enumerate([0, 1, 3, 8, 9, 10, 14]):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), format="rgb24")
            f = f.reformat(format="yuv422p10le")
            f.pts, f.time_base = pts, fractions.Fraction(1, 25)
            for p in st.encode(f):
                c.mux(p)
        for p in st.encode(None):
            c.mux(p)

    def stream(n):
        with open_video(str(path)) as src:
            assert sum(len(c) for c in src.chunks(n)) == 7

    for n in (1, 3, 7):
        notes = _notes(lambda: stream(n))
        assert len(notes) == 2, notes
        assert sum("converted to 8-bit YUV 4:2:0" in m for m in notes) == 1
        assert sum("variable frame rate" in m for m in notes) == 1
    assert sorted(_notes(lambda: read_video(str(path)))) == sorted(notes)


def test_size_ignored_is_said_once(files):
    def stream():
        with open_video(str(files["y4m"]), size=(64, 64)) as src:
            list(src.chunks(1))

    assert _notes(stream) == ["--size is ignored: the Y4M header gives the frame size (32x24)"]


def test_errors_are_those_of_read_video(files, tmp_path):
    with pytest.raises(InputError, match="input file not found"):
        open_video(str(tmp_path / "missing.mp4"))
    with pytest.raises(InputError, match="standard input is empty"):
        open_video("-", stdin=io.BytesIO(b""))
    with pytest.raises(InputError, match="needs --size"):
        open_video(str(files["yuv"]))
    with pytest.raises(InputError, match="raw YUV on standard input needs --size WxH"):
        open_video("-", stdin=io.BytesIO(b"this is not a video at all" * 10))
    with pytest.raises(InputError, match="start frame 12 is past the end"):
        open_video(str(files["mp4"]), start=12)
    with pytest.raises(InputError, match=r"77 bytes left over"):
        with open_video("-", size=(W, H), stdin=io.BytesIO(files["yuv"].read_bytes() + b"\0" * 77)) as src:
            list(src.chunks(4))
    with open_video(str(files["y4m"])) as src, pytest.raises(ValueError, match="chunk size"):
        next(src.chunks(0))
