"""The everyday path as a user meets it: long outputs in every format, the default rate, progress,
warnings for what is not kept or has no effect, --frames, and the small CLI manners."""

from __future__ import annotations

import fractions
import os
import pty
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

import inrcodec
from inrcodec.encoder import EncodeOptions, encode_clip
from inrcodec.fit.trainer import FitOptions
from inrcodec.progress import InrcodecWarning
from inrcodec.video.io import read_video, write_video

from .conftest import synthetic_clip
from .test_cli import (FAST, HAVE_FFMPEG, _one_thread, assert_one_line_error, bash, ffprobe,  # noqa: F401
                       inrcodec_cmd, invoke, needs_ffmpeg, run_main, subprocess_env)

LONG = 120  # frames: past x264's lookahead, past every batch size, as users' clips are
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tree_160x120.mp4"


def count_frames(path) -> int:
    """Frames in a video file, by ffprobe where installed, else by PyAV (both independent of us)."""
    if HAVE_FFMPEG:
        return int(ffprobe(path)["nb_read_frames"])
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture(scope="module")
def long_slt(tmp_path_factory):
    """A 120-frame 32x24 clip, encoded once (tiny network, one epoch)."""
    d = tmp_path_factory.mktemp("long")
    write_video(str(d / "long.y4m"), synthetic_clip(frames=LONG, seed=3), "y4m")
    invoke("encode", d / "long.y4m", "-o", d / "long.slt", "--preset", "tiny", "--epochs", "1", "--device", "cpu", "-q")
    return d / "long.slt"


# ----------------------------------------------------------------------------- outputs at real length


@pytest.mark.parametrize("fmt", ["mp4", "mkv", "y4m"])
def test_decode_120_frames_to_each_container_file(tmp_path, long_slt, fmt):
    out = tmp_path / f"out.{fmt}"
    invoke("decode", long_slt, "-o", out, "-q")
    assert count_frames(out) == LONG


def test_decode_120_frames_to_raw_yuv_and_png(tmp_path, long_slt):
    invoke("decode", long_slt, "-o", tmp_path / "out.yuv", "-q")
    assert (tmp_path / "out.yuv").stat().st_size == LONG * 32 * 24 * 3 // 2
    (tmp_path / "png").mkdir()
    invoke("decode", long_slt, "-o", tmp_path / "png" / "f%04d.png", "-q")
    names = sorted(os.listdir(tmp_path / "png"))
    assert names == [f"f{i:04d}.png" for i in range(1, LONG + 1)]
    with av.open(str(tmp_path / "png" / "f0120.png")) as c:
        frame = next(c.decode(video=0))
    assert (frame.width, frame.height) == (32, 24)
    ref = read_video(str(tmp_path / "out.yuv"), size=(32, 24)).frames[-1]
    rgb = frame.to_ndarray(format="rgb24").astype(np.float64)
    assert 100 < rgb.mean() < 160 and abs(float(ref[: 32 * 24].mean()) - rgb.mean()) < 25


@needs_ffmpeg
@pytest.mark.parametrize("fmt", ["mp4", "mkv", "y4m"])
def test_decode_120_frames_to_a_pipe(tmp_path, long_slt, fmt):
    r = bash(f"{inrcodec_cmd()} decode {long_slt} -o - --format {fmt} -q > piped.{fmt}", tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert count_frames(tmp_path / f"piped.{fmt}") == LONG


def test_decode_range_past_the_end_is_clamped(tmp_path, long_slt, capsys):
    code, _, err = run_main(capsys, "decode", long_slt, "-o", tmp_path / "part.y4m", "--frames", "100:200", "-q")
    assert code == 0 and "warning: --frames 100:200 reaches past the clip's 120 frames; rendering 100:120" in err
    assert len(read_video(str(tmp_path / "part.y4m"))) == 20


# ------------------------------------------------------------------------------------- default rate


def test_a_default_encode_compresses(tmp_path, capsys):
    """No rate, preset or width option: rate control at the default rate, below the input's bpp."""
    clip = read_video(str(EXAMPLE), frames=20)
    src = tmp_path / "in.mp4"
    write_video(str(src), clip, "mp4", crf=18)
    in_bpp = 8 * src.stat().st_size / (clip.info.width * clip.info.height * len(clip))
    code, out, err = run_main(capsys, "encode", src, "-o", tmp_path / "x.slt", "--epochs", "1", "--device", "cpu",
                              "-q", "--json")
    assert code == 0, err
    report = inrcodec.api.info(str(tmp_path / "x.slt"))
    assert report["bpp"] <= 0.3 and report["bpp"] < in_bpp
    import json

    enc = json.loads(out)
    assert enc["target_bpp"] == 0.2 and enc["input_bpp"] == pytest.approx(in_bpp, rel=1e-6)
    assert "larger than the input" not in err


def test_an_explicit_preset_keeps_its_fixed_network(tmp_path):
    a = inrcodec.encode(str(EXAMPLE), str(tmp_path / "a.slt"), frames=2, quiet=True,
                        options=EncodeOptions(preset="tiny", device="cpu", fit=FitOptions(epochs=1)))
    assert a["target_bpp"] is None
    from inrcodec.model.config import plan_network

    assert inrcodec.info(str(tmp_path / "a.slt"))["network"]["stem_hidden"] == plan_network(160, 120, "tiny").stem_hidden


def test_output_larger_than_the_input_file_warns(tmp_path, clip):
    src = tmp_path / "in.mp4"
    write_video(str(src), clip, "mp4", crf=45)
    with pytest.warns(InrcodecWarning, match="larger than the input file") as record:
        report = inrcodec.encode(str(src), str(tmp_path / "x.slt"), bpp=6.0,
                                 options=EncodeOptions(device="cpu", fit=FitOptions(epochs=1)))
    assert report["bpp"] > report["input_bpp"] and len(record) == 1
    part = inrcodec.encode(str(src), str(tmp_path / "y.slt"), frames=2, bpp=6.0, quiet=True,
                           options=EncodeOptions(device="cpu", fit=FitOptions(epochs=1)))
    assert part["input_bpp"] is None  # a part of a file: its rate is not known


# ------------------------------------------------------------------------------------------ progress


def test_progress_reaches_the_python_caller_in_phases(tmp_path, y4m_file):
    events = []
    report = inrcodec.encode(str(y4m_file), str(tmp_path / "x.slt"), progress=events.append, quiet=True,
                             options=EncodeOptions(preset="tiny", device="cpu", fit=FitOptions(epochs=3)))
    phases = [e.phase for e in events]
    assert phases[0] == "read" and "fit" in phases and phases[-1] == "measure"
    assert phases == sorted(phases, key=["read", "fit", "measure"].index)  # one phase after another
    fit = [e for e in events if e.phase == "fit"]
    assert fit[-1].done == fit[-1].total == 3 * 4 and "epoch 3/3" in fit[-1].status
    assert [e.done for e in fit] == sorted(e.done for e in fit)
    assert events[-1].done == events[-1].total == report["frames"]
    decoded = []
    inrcodec.decode(str(tmp_path / "x.slt"), str(tmp_path / "x.y4m"), frames="1:3", progress=decoded.append)
    assert decoded[0].phase == "decode" and (decoded[-1].done, decoded[-1].total) == (2, 2)


def test_the_fit_reports_every_step_not_every_epoch(clip):
    steps = []
    encode_clip(clip, EncodeOptions(preset="tiny", device="cpu", segment_frames=3, fit=FitOptions(epochs=2)),
                on_progress=lambda done, total, status: steps.append((done, total)))
    # segments of 3 and 1 frames, 2 epochs, one frame per step: 8 steps, each reported (epoch ends again)
    assert sorted(set(steps)) == [(i, 8) for i in range(1, 9)]


# ------------------------------------------------------------------------ warnings: taken or told


def test_options_without_effect_are_named(tmp_path, y4m_file, capsys):
    code, _, err = run_main(capsys, "encode", y4m_file, "-o", tmp_path / "x.slt", "--method", "dense",
                            "--lr-scales", "0.1", "--size", "64x64", *FAST, "-q")
    assert code == 0, err
    assert "warning: --lr-scales has no effect with --method dense" in err
    assert "warning: --size is ignored: the Y4M header gives the frame size (32x24)" in err
    assert err.count("\n") == 2 and "Traceback" not in err


def _write_container(path, fmt: str, codec: str, pix_fmt: str, frames: int = 3, pts=None, audio=False):
    with av.open(str(path), "w") as c:
        st = c.add_stream(codec, rate=25)
        st.width, st.height, st.pix_fmt = 32, 24, pix_fmt
        if audio:
            a = c.add_stream("aac", rate=48000)
        rng = np.random.default_rng(0)
        for i in range(frames):
            img = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
            f.pts = i if pts is None else pts[i]
            f.time_base = fractions.Fraction(1, 25)
            for p in st.encode(f):
                c.mux(p)
        for p in st.encode(None):
            c.mux(p)
        if audio:
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, 0
            for p in list(a.encode(af)) + list(a.encode(None)):
                c.mux(p)


@pytest.mark.parametrize("case, expect", [
    ("10bit422", "input frames are yuv422p10le; converted to 8-bit YUV 4:2:0"),
    ("audio", "the input has audio; inrcodec codes the video only"),
    ("vfr", "variable frame rate; it is coded at a constant 25 fps"),
])
def test_what_an_input_loses_is_said_once(tmp_path, case, expect):
    path = tmp_path / "in.mkv"
    if case == "10bit422":
        _write_container(path, "mkv", "ffv1", "yuv422p10le")
    elif case == "audio":
        _write_container(path, "mkv", "ffv1", "yuv420p", audio=True)
    else:
        _write_container(path, "mkv", "ffv1", "yuv420p", frames=4, pts=[0, 1, 3, 8])
    with pytest.warns(InrcodecWarning) as record:
        clip = read_video(str(path))
    assert len(clip) >= 3
    notes = [str(w.message) for w in record]
    assert sum(expect in n for n in notes) == 1, notes
    assert len(notes) == 1, notes


@needs_ffmpeg
def test_non_square_pixels_are_said(tmp_path):
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=25", "-frames:v", "2",
                    "-vf", "setsar=4/3", "-c:v", "ffv1", str(tmp_path / "sar.mkv")], check=True, timeout=60)
    with pytest.warns(InrcodecWarning, match="pixel aspect ratio is 4:3"):
        read_video(str(tmp_path / "sar.mkv"))


# ---------------------------------------------------------------------------------------- --frames


def test_encode_takes_a_range_like_decode(tmp_path, y4m_file, capsys):
    code, _, err = run_main(capsys, "encode", y4m_file, "-o", tmp_path / "x.slt", "--frames", "1:3", *FAST, "-q")
    assert code == 0, err
    assert inrcodec.info(str(tmp_path / "x.slt"))["frames"] == 2
    code, _, err = run_main(capsys, "encode", y4m_file, "-o", tmp_path / "y.slt", "--frames", "1:3", "--start", "1",
                            *FAST, "-q")
    assert_one_line_error(code, err, "drop --start")


# ----------------------------------------------------------------------------------- small manners


def test_bare_command_prints_the_help(capsys):
    code, out, err = run_main(capsys)
    assert code == 0 and "Usage: inrcodec" in out and "encode" in out and err == ""


def test_container_on_stdin_is_read_through_pyav(tmp_path):
    r = bash(f"cat {EXAMPLE} | {inrcodec_cmd()} encode - -o x.slt --frames 3 {' '.join(FAST)} -q", tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert inrcodec.info(str(tmp_path / "x.slt"))["width"] == 160


def test_binary_output_to_a_terminal_is_refused(tmp_path, long_slt):
    leader, follower = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "inrcodec", "decode", str(long_slt), "-o", "-", "--format", "y4m"],
                           stdout=follower, stderr=subprocess.PIPE, env=subprocess_env(), timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    assert_one_line_error(r.returncode, r.stderr.decode(), "terminal")


@pytest.mark.parametrize("fmt", ["y4m", "yuv"])  # 138 KB: more than a pipe's buffer holds
def test_a_closed_pipe_ends_quietly_with_141(long_slt, fmt):
    p = subprocess.Popen([sys.executable, "-m", "inrcodec", "decode", str(long_slt), "-o", "-", "--format", fmt,
                          "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env())
    head = p.stdout.read(100)
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=120) == 141 and len(head) == 100 and err == b""


def test_api_overwrite_error_names_the_api_argument(tmp_path, long_slt):
    (tmp_path / "x.y4m").write_bytes(b"old")
    with pytest.raises(inrcodec.InputError, match=r"pass overwrite=True"):
        inrcodec.decode(str(long_slt), str(tmp_path / "x.y4m"))
    assert (tmp_path / "x.y4m").read_bytes() == b"old"


def test_info_shows_sparsities_as_stored(long_slt):
    report = inrcodec.info(str(long_slt))
    assert report["sparsity"] == [0.9, 0.9684, 0.99]
    assert report["frame_rate"] == report["fps"] == "25"


def test_crf_without_an_x264_output_is_named(tmp_path, long_slt, capsys):
    code, _, err = run_main(capsys, "decode", long_slt, "-o", tmp_path / "x.y4m", "--crf", "20", "--frames", "0:2", "-q")
    assert code == 0 and err == "inrcodec: warning: --crf has no effect: it sets x264's quality for MP4 and MKV output only\n"
    code, _, err = run_main(capsys, "decode", long_slt, "-o", tmp_path / "x.mkv", "--crf", "20", "--frames", "0:2", "-q")
    assert code == 0 and err == ""


def test_a_gpu_index_is_checked(tmp_path, long_slt, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the error paths are for machines without")
    code, _, err = run_main(capsys, "decode", long_slt, "-o", tmp_path / "x.y4m", "--device", "cuda:1")
    assert_one_line_error(code, err, "--device cuda:1", "no CUDA device")
    code, _, err = run_main(capsys, "decode", long_slt, "-o", tmp_path / "x.y4m", "--device", "gpu")
    assert_one_line_error(code, err, "unknown device")


def test_usage_page_lists_every_option_as_help_does():
    """docs/usage.md's option reference is generated from the click commands: regenerate it with
    `python -m inrcodec.cli.docs` when an option changes."""
    from inrcodec.cli.docs import USAGE, reference

    assert reference() in USAGE.read_text()
    assert "%%" not in reference()


def test_each_phase_line_keeps_its_own_clock(monkeypatch):
    import time

    from inrcodec.cli.report import PhaseProgress
    from inrcodec.progress import Progress

    with PhaseProgress() as shown:
        shown.update(Progress("read", 0, None))
        shown.update(Progress("read", 5, 5))
        time.sleep(0.3)
        shown.update(Progress("fit", 1, 4, "epoch 1/1"))
        shown.update(Progress("fit", 4, 4))
        read, fit = shown.progress.tasks
    assert read.elapsed < 0.2 and read.total == 5 and fit.completed == 4 and fit.fields["unit"] == "steps"
