"""Long videos (issue 15): with --segment-frames the encoder reads, fits and measures one segment at
a time, so a clip too long for memory encodes in bounded memory; the file is the in-memory
encode's, a stdin pipe of 120 frames works, and Ctrl-C then --resume refits only what is missing."""

import os
import signal
import tempfile

import pytest

from inrcodec import api
from inrcodec.encoder import EncodeOptions, encode_clip
from inrcodec.errors import InputError
from inrcodec.fit.checkpoint import Interrupted
from inrcodec.fit.trainer import FitOptions
from inrcodec.video.io import read_video, write_video

from .conftest import synthetic_clip
from .test_cli import bash, ffprobe, inrcodec_cmd, needs_ffmpeg

LONG = 120


def options(**kw) -> EncodeOptions:
    return EncodeOptions(preset="tiny", device="cpu", seed=4, segment_frames=3, fit=FitOptions(epochs=2, threads=1), **kw)


@pytest.fixture
def y4m8(tmp_path):
    path = tmp_path / "in.y4m"
    write_video(str(path), synthetic_clip(frames=8, seed=2), "y4m")
    return path


def test_a_streamed_encode_writes_the_in_memory_encodes_file(tmp_path, y4m8):
    expected = encode_clip(read_video(str(y4m8)), options())
    report = api.encode(str(y4m8), str(tmp_path / "x.slt"), options=options(), quiet=True)
    assert (tmp_path / "x.slt").read_bytes() == expected
    assert report["frames"] == 8 and report["segments_fitted"] == [0, 1, 2]
    # measured segment by segment from the payloads: the same figures as decoding the whole file
    decoded = tmp_path / "x.y4m"
    api.decode(str(tmp_path / "x.slt"), str(decoded), quiet=True)
    from inrcodec.metrics.video import compare

    whole = compare(read_video(str(y4m8)), [read_video(str(decoded)).frames])
    assert report["psnr_rgb"] == pytest.approx(whole["psnr_rgb"], abs=1e-9)
    assert report["ms_ssim"] == pytest.approx(whole["ms_ssim"], abs=1e-6)  # float32 sums by other batches
    assert not (tmp_path / "x.slt.ckpt").exists() and not (tmp_path / "x.slt.ckpt.spool").exists()


def test_a_clip_too_long_for_memory_encodes_in_segments(tmp_path, monkeypatch):
    clip = synthetic_clip(width=320, height=240, frames=12, seed=1)  # 112.5 KiB a frame
    path = tmp_path / "big.y4m"
    write_video(str(path), clip, "y4m")
    monkeypatch.setenv("INRCODEC_MAX_INPUT_MIB", "1")  # 9 frames fit, 12 do not
    opts = EncodeOptions(preset="tiny", device="cpu", fit=FitOptions(epochs=1, threads=1))
    with pytest.raises(InputError, match="too long to hold in memory.*--segment-frames 4"):
        api.encode(str(path), str(tmp_path / "a.slt"), options=opts, quiet=True)
    report = api.encode(str(path), str(tmp_path / "b.slt"), options=EncodeOptions(
        preset="tiny", device="cpu", segment_frames=4, fit=FitOptions(epochs=1, threads=1)), quiet=True)
    assert report["frames"] == 12 and api.info(str(tmp_path / "b.slt"))["frames"] == 12


def test_ctrl_c_then_resume_refits_only_the_missing_segments(tmp_path, y4m8):
    out = tmp_path / "x.slt"
    expected = encode_clip(read_video(str(y4m8)), options())

    def ctrl_c_in_segment_1(segment, segments, report):
        if segment == 1 and report.epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match="--resume"):
        api.encode(str(y4m8), str(out), options=options(), on_epoch=ctrl_c_in_segment_1, quiet=True)
    assert not out.exists() and (tmp_path / "x.slt.ckpt").exists()
    report = api.encode(str(y4m8), str(out), options=options(), resume=True, quiet=True)
    assert out.read_bytes() == expected
    assert report["segments_fitted"] == [1, 2]  # segment 0 came from the spool, 1 went on from its state
    assert not (tmp_path / "x.slt.ckpt.spool").exists()


def test_rate_control_sizes_the_network_per_segment(tmp_path, y4m8):
    """Every segment holds a whole network: the target is per segment, not for one network."""
    opts = EncodeOptions(device="cpu", seed=4, segment_frames=4, fit=FitOptions(epochs=1, threads=1))
    report = api.encode(str(y4m8), str(tmp_path / "x.slt"), bpp=2.0, options=opts, quiet=True)
    assert report["bpp"] == pytest.approx(2.0, rel=0.1)


def test_stdout_without_a_checkpoint_spools_in_the_temporary_folder(tmp_path, y4m8, monkeypatch):
    spools = tmp_path / "tmp"
    spools.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spools))
    import io

    buf = io.BytesIO()
    api.encode(str(y4m8), "-", options=options(), stdout=buf, quiet=True)
    assert buf.getvalue() == encode_clip(read_video(str(y4m8)), options())
    assert list(spools.iterdir()) == []  # the spool is gone


@needs_ffmpeg
def test_120_frames_piped_through_ffmpeg_encode_in_segments_and_decode(tmp_path):
    write_video(str(tmp_path / "src.y4m"), synthetic_clip(frames=LONG, seed=5), "y4m")
    cmd = inrcodec_cmd()
    r = bash(f"ffmpeg -v error -i src.y4m -f yuv4mpegpipe - | {cmd} encode - -o x.slt --segment-frames 50 "
             f"--preset tiny --epochs 1 --device cpu -q --json && {cmd} decode x.slt -o out.mp4 -q", tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert int(ffprobe(tmp_path / "out.mp4")["nb_read_frames"]) == LONG
    info = api.info(str(tmp_path / "x.slt"))
    assert [s["frames"] for s in info["segments"]] == [50, 50, 20]
