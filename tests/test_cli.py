"""The `inrcodec` command: encode/decode/info through click, as a subprocess, in real ffmpeg pipes,
its one-line errors (exit code 2, no traceback) and atomic outputs.

Fits are kept tiny (preset tiny, 2 epochs, CPU) and the .slt of a module is encoded once."""

import json
import math
import os
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import inrcodec
from inrcodec.decoder import RENDER_BATCH
from inrcodec import api
from inrcodec.bitstream.format import MAGIC as SLT_MAGIC
from inrcodec.cli.main import cli, main
from inrcodec.video.io import read_video, write_video

from .conftest import synthetic_clip

FAST = ["--preset", "tiny", "--epochs", "2", "--device", "cpu"]
W, H, N = 32, 24, 4
FRAME = W * H * 3 // 2
ENCODE_KEYS = {"bytes", "bpp", "psnr_rgb", "psnr_y", "ms_ssim", "frames", "width", "height", "fit_seconds"}
INFO_KEYS = {"version", "method", "width", "height", "frames", "fps", "seed", "levels", "sparsity", "weights", "sections"}
HAVE_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe not installed")


# --------------------------------------------------------------------------------------------- helpers


def strict_json(text: str) -> dict:
    """Parse one JSON object, refusing NaN/Infinity (which json.dumps would happily write)."""

    def refuse(constant):
        raise AssertionError(f"invalid JSON constant {constant} in {text!r}")

    return json.loads(text, parse_constant=refuse)


def invoke(*args: str):
    """Run the click group in-process (success paths); stdout and stderr are kept apart."""
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """Run the real entry point main() in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *expect: str) -> None:
    assert code == 2, f"exit code {code}, stderr: {err!r}"
    assert "Traceback" not in err
    assert err.startswith("inrcodec: error: "), err
    assert err.endswith("\n") and err.count("\n") == 1, f"not a single line: {err!r}"
    for text in expect:
        assert text.lower() in err.lower(), f"{text!r} not in {err!r}"


def subprocess_env() -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # tiny nets: threads only add overhead on a shared machine
    return env


def inrcodec_cmd() -> str:
    """The installed console script if it is on PATH, else the module."""
    return "inrcodec" if shutil.which("inrcodec") else f"{shlex.quote(sys.executable)} -m inrcodec"


def bash(cmd: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", "set -o pipefail; " + cmd], cwd=cwd, env=subprocess_env(),
        capture_output=True, timeout=300,
    )


def ffprobe(path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=width,height,nb_read_frames", "-of", "json", str(path)],
        capture_output=True, check=True, timeout=60,
    )
    return json.loads(out.stdout)["streams"][0]


def dir_listing(path) -> list[str]:
    return sorted(os.listdir(path))


# -------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A 4-frame 32x24 Y4M file (the conftest clip, written once for the module)."""
    path = tmp_path_factory.mktemp("src") / "clip.y4m"
    write_video(str(path), synthetic_clip(), "y4m")
    return path


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, source):
    """`inrcodec encode clip.y4m -o clip.slt --json` (with the summary table): (path, result)."""
    out = tmp_path_factory.mktemp("enc") / "clip.slt"
    result = invoke("encode", source, "-o", out, *FAST, "--json")
    return out, result


@pytest.fixture(scope="module")
def full_yuv(tmp_path_factory, encoded):
    out = tmp_path_factory.mktemp("dec") / "full.yuv"
    invoke("decode", encoded[0], "-o", out, "--device", "cpu", "-q")
    return out


# ------------------------------------------------------------------------------- 1. CliRunner: happy path


def test_encode_json_report(encoded):
    slt, result = encoded
    report = strict_json(result.stdout)  # stdout holds the JSON and nothing else
    assert ENCODE_KEYS <= set(report)
    size = slt.stat().st_size
    assert slt.read_bytes()[:4] == SLT_MAGIC
    assert report["bytes"] == size
    assert report["bpp"] == pytest.approx(8 * size / (W * H * N))
    assert (report["frames"], report["width"], report["height"]) == (N, W, H)
    for key in ("psnr_rgb", "psnr_y", "ms_ssim"):
        assert isinstance(report[key], float) and math.isfinite(report[key])
    assert 0 <= report["ms_ssim"] <= 1
    assert report["fit_seconds"] > 0
    # with --json the JSON is the summary: no table (the progress display stays on stderr)
    assert "psnr_rgb" not in result.stderr and "fitting" in result.stderr


def test_encode_with_amp_fits_in_bf16_and_decodes(tmp_path, source, encoded, monkeypatch):
    """--amp reaches the fitting steps (the forward runs under bf16 autocast) and the file is an
    ordinary float32-decoded .slt of the same size class."""
    import inrcodec.model.strips as strips

    seen = []
    real = strips.autocast
    monkeypatch.setattr(strips, "autocast", lambda device, enabled: seen.append(enabled) or real(device, enabled))
    out = tmp_path / "amp.slt"
    result = invoke("encode", source, "-o", out, *FAST, "--amp", "--json", "-q")
    assert seen and all(seen)
    report = strict_json(result.stdout)
    assert report["bytes"] == out.stat().st_size and math.isfinite(report["psnr_rgb"])
    assert out.read_bytes() != encoded[0].read_bytes()  # bf16 arithmetic chose other levels
    invoke("decode", out, "-o", tmp_path / "amp.y4m", "--device", "cpu", "-q")
    assert len(read_video(str(tmp_path / "amp.y4m"))) == N


@pytest.mark.parametrize("fmt", ["yuv", "y4m", "mp4"])
def test_decode_to_each_format(tmp_path, encoded, full_yuv, fmt):
    slt, enc = encoded
    out = tmp_path / f"out.{fmt}"
    result = invoke("decode", slt, "-o", out, "--device", "cpu", "--json", "-q")
    report = strict_json(result.stdout)
    assert {"bpp", "frames", "fps"} <= set(report)
    assert report["frames"] == N
    assert report["bpp"] == pytest.approx(strict_json(enc.stdout)["bpp"])
    assert report["fps"] is None or report["fps"] > 0
    assert dir_listing(tmp_path) == [out.name]  # no temporary file left behind
    reference = np.fromfile(full_yuv, dtype=np.uint8).reshape(N, FRAME)
    if fmt == "yuv":
        assert out.stat().st_size == N * FRAME
        return
    clip = read_video(str(out))
    assert (clip.info.width, clip.info.height, len(clip)) == (W, H, N)
    if fmt == "y4m":
        assert out.read_bytes().startswith(b"YUV4MPEG2 ")
        np.testing.assert_array_equal(clip.frames, reference)
    else:  # lossy x264 at crf 16: close to the raw decode, not equal
        diff = np.abs(clip.frames.astype(int) - reference.astype(int))
        assert diff.mean() < 6


def test_decode_json_is_valid_when_fps_is_infinite(tmp_path, encoded, monkeypatch):
    """A zero-duration decode gives fps = inf; the JSON must carry null, not Infinity."""

    class FrozenClock:
        @staticmethod
        def perf_counter():
            return 1.0

    monkeypatch.setattr(api, "time", FrozenClock)
    result = invoke("decode", encoded[0], "-o", tmp_path / "x.yuv", "--device", "cpu", "--json", "-q")
    assert "Infinity" not in result.stdout and "NaN" not in result.stdout
    assert strict_json(result.stdout)["fps"] is None


def test_info_prints_the_header(encoded):
    result = invoke("info", encoded[0])
    for word in ("header", "version", "method", "slt", "width", "32", "height", "24", "frames",
                 "pcg64-sign-v1", "sparsity", "size breakdown", "crc"):
        assert word in result.stdout, word


def test_info_json(encoded):
    slt, _ = encoded
    report = strict_json(invoke("info", slt, "--json").stdout)
    assert INFO_KEYS <= set(report)
    assert report["version"] == 5 and report["method"] == "slt"
    assert (report["width"], report["height"], report["frames"]) == (W, H, N)
    assert report["fps"] == "25"
    assert report["seed"] == 0
    assert report["levels"] == 3 and report["sparsity"] == pytest.approx([0.9, 0.9684, 0.99])
    assert isinstance(report["weights"], int) and report["weights"] > 0
    sections = report["sections"]
    assert isinstance(sections, dict) and {"header", "crc"} <= set(sections)
    assert all(isinstance(v, int) and v > 0 for v in sections.values())
    assert sum(sections.values()) == slt.stat().st_size == report["bytes"]


# ----------------------------------------------------------------------------------- 2. as a subprocess


def test_python_dash_m_end_to_end(tmp_path, source):
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "inrcodec", *map(str, a)], cwd=tmp_path, env=subprocess_env(),
        capture_output=True, timeout=300,
    )
    enc = run("encode", source, "-o", "x.slt", *FAST, "--json", "-q")
    assert enc.returncode == 0, enc.stderr.decode()
    assert strict_json(enc.stdout.decode())["bytes"] == (tmp_path / "x.slt").stat().st_size
    dec = run("decode", "x.slt", "-o", "x.y4m", "--device", "cpu", "-q")
    assert dec.returncode == 0, dec.stderr.decode()
    clip = read_video(str(tmp_path / "x.y4m"))
    assert (clip.info.width, clip.info.height, len(clip)) == (W, H, N)
    bad = run("decode", "missing.slt", "-o", "y.yuv")
    assert bad.returncode == 2
    assert bad.stderr.decode().startswith("inrcodec: error: ") and b"Traceback" not in bad.stderr


# ----------------------------------------------------------------------------------- 3. ffmpeg pipelines

TESTSRC = "ffmpeg -loglevel error -f lavfi -i testsrc=size=32x24:rate=25 -frames:v 3 -pix_fmt yuv420p"


@pytest.fixture(scope="module")
def piped_slt(tmp_path_factory):
    """ffmpeg | inrcodec encode - (Y4M on stdin)."""
    if not HAVE_FFMPEG:
        pytest.skip("ffmpeg/ffprobe not installed")
    d = tmp_path_factory.mktemp("pipe")
    r = bash(f"{TESTSRC} -f yuv4mpegpipe - | {inrcodec_cmd()} encode - -o x.slt {' '.join(FAST)} -q", d)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b""
    return d / "x.slt"


@needs_ffmpeg
def test_ffmpeg_y4m_pipe_into_encode(piped_slt):
    report = inrcodec.info(str(piped_slt))
    assert (report["width"], report["height"], report["frames"], report["fps"]) == (W, H, 3, "25")


@needs_ffmpeg
def test_ffmpeg_raw_pipe_into_encode_to_stdout_with_json(tmp_path):
    """Raw I420 on stdin with --size; the .slt goes to stdout, so the JSON must go to stderr."""
    r = bash(f"{TESTSRC} -f rawvideo - | {inrcodec_cmd()} encode - --size 32x24 -o - {' '.join(FAST)} -q --json"
             " > raw.slt", tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    data = (tmp_path / "raw.slt").read_bytes()
    assert data[:4] == SLT_MAGIC
    report = strict_json(r.stderr.decode().strip().splitlines()[-1])
    assert report["bytes"] == len(data) and report["frames"] == 3
    header = inrcodec.info(str(tmp_path / "raw.slt"))
    assert (header["width"], header["height"], header["frames"]) == (W, H, 3)


@needs_ffmpeg
def test_ffmpeg_raw_pipe_without_size_is_a_one_line_error(tmp_path):
    r = bash(f"{TESTSRC} -f rawvideo - | {inrcodec_cmd()} encode - -o x.slt {' '.join(FAST)} -q", tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert_one_line_error(2, err, "--size")
    assert not (tmp_path / "x.slt").exists()


@needs_ffmpeg
@pytest.mark.parametrize("fmt, consumer, probed", [
    ("y4m", "ffmpeg -loglevel error -y -i - out.mkv", "out.mkv"),  # ffmpeg re-encodes our Y4M
    ("mp4", "tee piped.mp4 | ffmpeg -loglevel error -i - -f null -", "piped.mp4"),  # fragmented MP4 streams
])
def test_decode_pipe_into_ffmpeg(tmp_path, piped_slt, fmt, consumer, probed):
    r = bash(f"{inrcodec_cmd()} decode {shlex.quote(str(piped_slt))} -o - --format {fmt} --device cpu -q"
             f" | {consumer}", tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    stream = ffprobe(tmp_path / probed)
    assert (stream["width"], stream["height"], int(stream["nb_read_frames"])) == (W, H, 3)


@needs_ffmpeg
def test_decode_json_with_stdout_output_goes_to_stderr(tmp_path, piped_slt):
    r = subprocess.run(
        [sys.executable, "-m", "inrcodec", "decode", str(piped_slt), "-o", "-", "--format", "y4m",
         "--device", "cpu", "--json"],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.startswith(b"YUV4MPEG2 ")
    assert b"{" not in r.stdout.split(b"\n", 1)[0]
    # stdout is exactly header + 3 * (FRAME\n + frame): pure video
    header_len = r.stdout.index(b"\n") + 1
    assert len(r.stdout) == header_len + 3 * (len(b"FRAME\n") + FRAME)
    (tmp_path / "s.y4m").write_bytes(r.stdout)
    assert len(read_video(str(tmp_path / "s.y4m"))) == 3
    report = strict_json(r.stderr.decode().strip().splitlines()[-1])
    assert report["frames"] == 3


# --------------------------------------------------------------------------------------- 4. bad inputs


@pytest.fixture
def bad(tmp_path, source, encoded):
    """A directory of bad inputs next to good ones."""
    clip = synthetic_clip()
    (tmp_path / "clip.yuv").write_bytes(clip.frames.tobytes())
    (tmp_path / "leftover.yuv").write_bytes(clip.frames[:2].tobytes() + b"\x80" * 100)
    (tmp_path / "odd.yuv").write_bytes(b"\x80" * (33 * 24 * 3 // 2 * 2))
    (tmp_path / "empty.y4m").write_bytes(b"")
    (tmp_path / "adir").mkdir()
    shutil.copy(source, tmp_path / "clip.y4m")
    data = encoded[0].read_bytes()
    (tmp_path / "good.slt").write_bytes(data)
    (tmp_path / "magic.slt").write_bytes(b"XXXX" + data[4:])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    (tmp_path / "flipped.slt").write_bytes(bytes(flipped))
    (tmp_path / "truncated.slt").write_bytes(data[: len(data) - 37])
    return tmp_path


ENCODE_ERRORS = {
    "raw without --size": (["clip.yuv"], ["--size"]),
    "size leaves bytes over": (["leftover.yuv", "--size", "32x24"], ["100 bytes left over"]),
    "malformed size": (["clip.yuv", "--size", "32by24"], ["32by24"]),
    "odd size": (["odd.yuv", "--size", "33x24"], ["odd"]),
    "missing input": (["nope.y4m"], ["not found", "nope.y4m"]),
    "directory input": (["adir"], ["directory"]),
    "empty input": (["empty.y4m"], ["no frames"]),
    "start past the end": (["clip.y4m", "--start", "10"], ["start frame 10"]),
}


@pytest.mark.parametrize("case", list(ENCODE_ERRORS))
def test_encode_bad_input(bad, capsys, monkeypatch, case):
    monkeypatch.chdir(bad)
    args, expect = ENCODE_ERRORS[case]
    before = dir_listing(bad)
    code, out, err = run_main(capsys, "encode", *args, "-o", "out.slt", *FAST, "-q")
    assert_one_line_error(code, err, *expect)
    assert out == ""
    assert dir_listing(bad) == before  # no output, no temporary file


OPTION_ERRORS = {
    "unknown preset": (["--preset", "huge"], ["unknown preset 'huge'"]),
    "decreasing sparsity": (["--sparsity", "0.8,0.5"], ["--sparsity"]),
    "sparsity not numbers": (["--sparsity", "0.5,x"], ["--sparsity"]),
    "levels and sparsity disagree": (["--levels", "2", "--sparsity", "0.5,0.6,0.7"], ["--levels"]),
    "zero epochs": (["--epochs", "0"], ["--epochs"]),
    "negative width": (["--channels", "-3"], ["widths"]),
}


@pytest.mark.parametrize("case", list(OPTION_ERRORS))
def test_bad_encode_options_fail_before_reading_the_input(bad, capsys, monkeypatch, case):
    """Option errors must be reported before the input is read (let alone fitted)."""

    def no_read(*a, **k):
        raise AssertionError("the input was read before the options were checked")

    monkeypatch.setattr(api, "read_video", no_read)
    monkeypatch.chdir(bad)
    args, expect = OPTION_ERRORS[case]
    # the fast options come first so that the case's own options override them
    code, _, err = run_main(capsys, "encode", "clip.y4m", "-o", "out.slt", *FAST, *args, "-q")
    assert_one_line_error(code, err, *expect)
    assert not (bad / "out.slt").exists()


DECODE_ERRORS = {
    "wrong magic": (["magic.slt", "-o", "o.yuv"], ["magic"]),
    "flipped byte": (["flipped.slt", "-o", "o.yuv"], ["crc"]),
    "truncated": (["truncated.slt", "-o", "o.yuv"], ["truncated"]),
    "missing .slt": (["nope.slt", "-o", "o.yuv"], ["nope.slt"]),
    "directory .slt": (["adir", "-o", "o.yuv"], ["directory"]),
    "frames beyond the clip": (["good.slt", "-o", "o.yuv", "--frames", "5:99"], ["5:99", "4 frames"]),
    "frames not a range": (["good.slt", "-o", "o.yuv", "--frames", "a:b"], ["--frames"]),
    "unknown extension": (["good.slt", "-o", "out.xyz"], ["out.xyz"]),
    "stdout without --format": (["good.slt", "-o", "-"], ["--format"]),
    "output directory missing": (["good.slt", "-o", "nodir/o.yuv"], ["does not exist"]),
}


@pytest.mark.parametrize("case", list(DECODE_ERRORS))
def test_decode_bad_input(bad, capsys, monkeypatch, case):
    monkeypatch.chdir(bad)
    args, expect = DECODE_ERRORS[case]
    before = dir_listing(bad)
    code, out, err = run_main(capsys, "decode", *args, "--device", "cpu", "-q")
    assert_one_line_error(code, err, *expect)
    assert out == ""
    assert dir_listing(bad) == before


@pytest.mark.parametrize("name", ["magic.slt", "flipped.slt", "truncated.slt", "clip.y4m"])
def test_info_bad_slt(bad, capsys, monkeypatch, name):
    monkeypatch.chdir(bad)
    code, out, err = run_main(capsys, "info", name)
    assert_one_line_error(code, err)
    assert out == ""


def test_click_usage_errors_are_one_line(capsys):
    code, _, err = run_main(capsys, "encode", "x.y4m")  # missing -o
    assert_one_line_error(code, err, "-o")
    code, _, err = run_main(capsys, "decode", "x.slt", "-o", "x.yuv", "--crf", "99")
    assert_one_line_error(code, err, "--crf")
    code, _, err = run_main(capsys, "frobnicate")
    assert_one_line_error(code, err, "frobnicate")


def test_existing_output_needs_y(bad, capsys, monkeypatch):
    monkeypatch.chdir(bad)
    sentinel = b"precious, not a video\n"
    for name in ("out.slt", "out.yuv"):
        (bad / name).write_bytes(sentinel)
    before = dir_listing(bad)

    code, _, err = run_main(capsys, "encode", "clip.y4m", "-o", "out.slt", *FAST, "-q")
    assert_one_line_error(code, err, "out.slt", "already exists", "-y")
    code, _, err = run_main(capsys, "decode", "good.slt", "-o", "out.yuv", "--device", "cpu", "-q")
    assert_one_line_error(code, err, "out.yuv", "already exists", "-y")
    assert (bad / "out.slt").read_bytes() == sentinel
    assert (bad / "out.yuv").read_bytes() == sentinel
    assert dir_listing(bad) == before

    code, _, err = run_main(capsys, "decode", "good.slt", "-o", "out.yuv", "--device", "cpu", "-q", "-y")
    assert code == 0, err
    assert (bad / "out.yuv").stat().st_size == N * FRAME
    code, _, err = run_main(capsys, "encode", "clip.y4m", "-o", "out.slt", *FAST, "-q", "-y")
    assert code == 0, err
    assert (bad / "out.slt").read_bytes()[:4] == SLT_MAGIC
    assert dir_listing(bad) == before


# ------------------------------------------------------------------------------------- 5. atomicity


def failing_render(monkeypatch, exc: BaseException) -> dict:
    """Make Decoder.render yield one single-frame batch, then raise `exc`."""
    original = api.Decoder.render
    seen = {"batches": 0}

    def render(self, frames, batch=RENDER_BATCH):
        for out in original(self, frames, batch=1):
            if seen["batches"] == 1:
                raise exc
            seen["batches"] += 1
            yield out

    monkeypatch.setattr(api.Decoder, "render", render)
    return seen


@pytest.mark.parametrize("fmt", ["yuv", "y4m", "mp4"])
def test_failed_decode_leaves_nothing_behind(tmp_path, encoded, monkeypatch, fmt):
    seen = failing_render(monkeypatch, RuntimeError("render failed"))
    fresh = tmp_path / f"fresh.{fmt}"
    kept = tmp_path / f"kept.{fmt}"
    sentinel = b"the previous output\n"
    kept.write_bytes(sentinel)

    with pytest.raises(RuntimeError, match="render failed"):
        inrcodec.decode(str(encoded[0]), str(fresh), device="cpu")
    assert seen["batches"] == 1  # it really failed mid-way, after writing a frame
    assert dir_listing(tmp_path) == [kept.name]

    with pytest.raises(RuntimeError, match="render failed"):
        inrcodec.decode(str(encoded[0]), str(kept), device="cpu", overwrite=True)
    assert kept.read_bytes() == sentinel
    assert dir_listing(tmp_path) == [kept.name]


def test_interrupted_decode_through_the_cli(tmp_path, encoded, monkeypatch, capsys):
    failing_render(monkeypatch, KeyboardInterrupt())
    kept = tmp_path / "kept.y4m"
    kept.write_bytes(b"old")
    code, _, err = run_main(capsys, "decode", encoded[0], "-o", kept, "--device", "cpu", "-q", "-y")
    assert code == 130
    # click itself ends the "^C" line with a newline before raising Abort; then our one line
    assert [line for line in err.splitlines() if line] == ["inrcodec: error: interrupted"]
    assert "Traceback" not in err
    assert kept.read_bytes() == b"old"
    assert dir_listing(tmp_path) == [kept.name]


# ------------------------------------------------------------------------------------ 6. frame ranges


def test_decode_frame_range_equals_slice_of_full_decode(tmp_path, encoded, full_yuv):
    part = tmp_path / "part.yuv"
    report = strict_json(invoke("decode", encoded[0], "-o", part, "--frames", "1:3", "--device", "cpu",
                                "--json", "-q").stdout)
    assert report["frames"] == 2
    full = full_yuv.read_bytes()
    assert len(full) == N * FRAME
    assert part.read_bytes() == full[1 * FRAME : 3 * FRAME]


def test_input_too_long_for_memory_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    src = tmp_path / "c.yuv"
    src.write_bytes(synthetic_clip(width=640, height=480, frames=3).frames.tobytes())
    monkeypatch.setenv("INRCODEC_MAX_INPUT_MIB", "1")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(capsys, "encode", "c.yuv", "--size", "640x480", "-o", "o.slt", *FAST, "-q")
    assert_one_line_error(code, err, "too long to hold in memory", "--frames 2")
    assert dir_listing(tmp_path) == ["c.yuv"]


def test_frames_beyond_the_clip_are_clamped_with_a_warning(tmp_path, capsys):
    src = tmp_path / "c.y4m"
    write_video(str(src), synthetic_clip(frames=3), "y4m")
    for spec in ("5", "1:9"):
        main(["encode", str(src), "-o", str(tmp_path / "o.slt"), "--frames", spec, "--preset", "tiny", "--epochs", "1",
              "-q", "-y"])
        err = capsys.readouterr().err
        expect = 3 if spec == "5" else 2
        assert f"warning: only {expect} frames from frame {0 if spec == '5' else 1}" in err
        assert len(err.strip().splitlines()) == 1
        assert inrcodec.info(str(tmp_path / "o.slt"))["frames"] == expect
    with pytest.raises(SystemExit) as e:  # a start past the end has nothing to encode
        main(["encode", str(src), "-o", str(tmp_path / "p.slt"), "--frames", "3:5", "--preset", "tiny"])
    assert e.value.code == 2 and "past the end" in capsys.readouterr().err
    assert not (tmp_path / "p.slt").exists()


def test_full_disk_while_writing_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import errno

    src = tmp_path / "c.y4m"
    write_video(str(src), synthetic_clip(frames=2), "y4m")
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.y4m").write_bytes(b"old")
    slt = tmp_path / "x.slt"
    main(["encode", str(src), "-o", str(slt), "--preset", "tiny", "--epochs", "1", "-q"])
    from inrcodec.video import io as video_io

    def full_disk(self, frames):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(video_io.VideoWriter, "write", full_disk)
    with pytest.raises(SystemExit) as e:
        main(["decode", str(slt), "-o", str(out / "x.y4m"), "-y"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "No space left on device" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["x.y4m"] and (out / "x.y4m").read_bytes() == b"old"
