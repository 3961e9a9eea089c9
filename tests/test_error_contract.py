"""The one-line contract over every CLI error path the suite can reach cheaply: exit code 2, one
line `inrcodec: error: ...` on stderr, no traceback, and no file left behind."""

import os

import pytest

from . import fuzz_structured as fs
from .conftest import synthetic_clip
from .test_cli import assert_one_line_error, run_main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("contract")
    good = fs.crafted_file(32, 24, fs.TINY, frames=5)
    (d / "good.slt").write_bytes(good)
    (d / "short.slt").write_bytes(good[:-7])
    (d / "long.slt").write_bytes(good + b"\0")
    (d / "crc.slt").write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    (d / "grid.slt").write_bytes(fs.structured_cases()[0].data())  # 146 bytes asking for a 32768^2 grid
    (d / "nan.slt").write_bytes(fs.crafted_file(32, 24, fs.TINY, scale=float("nan")))
    (d / "empty.slt").write_bytes(b"")
    (d / "exists.y4m").write_bytes(b"keep")
    (d / "adir").mkdir()
    from inrcodec.video.io import write_video

    write_video(str(d / "in.y4m"), synthetic_clip(frames=2))
    (d / "in.yuv").write_bytes(bytes(32 * 24 * 3 // 2))
    return d


DECODE = [
    (["missing.slt", "-o", "o.y4m"], "missing.slt"),
    (["adir", "-o", "o.y4m"], "directory"),
    (["/dev/zero", "-o", "o.y4m"], "not an .slt file"),
    (["empty.slt", "-o", "o.y4m"], "too short"),
    (["short.slt", "-o", "o.y4m"], "truncated"),
    (["long.slt", "-o", "o.y4m"], "trailing garbage"),
    (["crc.slt", "-o", "o.y4m"], "CRC"),
    (["grid.slt", "-o", "o.y4m"], "grid cell"),
    (["nan.slt", "-o", "o.y4m"], "non-finite scale"),
    (["good.slt", "-o", "exists.y4m"], "-y"),
    (["good.slt", "-o", "adir", "--format", "y4m"], "directory"),
    (["good.slt", "-o", "nodir/o.y4m"], "does not exist"),
    (["good.slt", "-o", "o.avi"], "output format"),
    (["good.slt", "-o", "-"], "--format"),
    (["good.slt", "-o", "o.y4m", "--frames", "1_0"], "--frames"),
    (["good.slt", "-o", "o.y4m", "--frames", "\u0661:\u0663"], "--frames"),
    (["good.slt", "-o", "o.y4m", "--frames", "4:2"], "end must be after the start"),
    (["good.slt", "-o", "o.y4m", "--frames", "9:12"], "starts past"),  # 0:99 is clamped, with a warning
    (["good.slt", "-o", "o.mp4", "--crf", "99"], "crf"),
    (["good.slt", "-o", "o.y4m", "--bogus"], "bogus"),
    (["good.slt", "-o", "o.y4m", "--threads", "0"], "--threads"),
    (["good.slt", "-o", "o.y4m", "--threads", "1_0"], "--threads"),
]
ENCODE = [
    (["missing.y4m", "-o", "o.slt"], "not found"),
    (["in.yuv", "-o", "o.slt"], "--size"),
    (["in.yuv", "-o", "o.slt", "--size", "32by24"], "size"),
    (["in.y4m", "-o", "o.slt", "--fps", "abc"], "frame rate"),
    (["in.y4m", "-o", "o.slt", "--frames", "0"], "--frames"),
    (["in.y4m", "-o", "o.slt", "--start", "-1"], "--start"),
    (["in.y4m", "-o", "o.slt", "--sparsity", "0.5,x"], "--sparsity"),
    (["in.y4m", "-o", "o.slt", "--sparsity", "0.9,0.5"], "sparsit"),
    (["in.y4m", "-o", "o.slt", "--bpp", "-1"], "--bpp"),
    (["in.y4m", "-o", "o.slt", "--preset", "huge"], "preset"),
    (["in.y4m", "-o", "exists.y4m"], "-y"),
    (["in.y4m", "-o", "o.slt", "--threads", "\u0662"], "--threads"),
    (["in.y4m", "-o", "o.slt", "--method", "slt-grid", "--lambda", "0"], "--lambda"),
    (["in.y4m", "-o", "o.slt", "--method", "slt-grid", "--lambda", "nan"], "--lambda"),
    (["in.y4m", "-o", "o.slt", "--method", "slt-grid", "--lambda", "-1"], "--lambda"),
    (["in.y4m", "-o", "o.slt", "--method", "slt-grid", "--channels", "0"], "--channels"),
    (["in.y4m", "-o", "o.slt", "--method", "slt-grid", "--lambda", "0.01", "--bpp", "0.1"], "give one of them"),
    (["in.y4m", "-o", "o.slt", "--method", "slt-grid", "--channels", "300"], "--channels"),
    (["in.y4m", "-o", "o.slt", "--preset", "tiny", "--channels", "512", "--min-channels", "512", "--device", "cpu"],
     "multiply-adds per pixel"),
]


CASES = [("decode", a, t) for a, t in DECODE] + [("encode", a + ["-q"], t) for a, t in ENCODE]


@pytest.mark.parametrize("command,args,text", CASES, ids=[f"{c} {' '.join(a)}" for c, a, _ in CASES])
def test_decode_and_encode_errors_are_one_line(files, capsys, monkeypatch, command, args, text):
    monkeypatch.chdir(files)
    before = sorted(os.listdir(files))
    code, _, err = run_main(capsys, command, *args)
    assert_one_line_error(code, err, text)
    assert sorted(os.listdir(files)) == before  # nothing written, nothing left behind


@pytest.mark.parametrize("args,text", [
    (["info", "missing.slt"], "missing.slt"), (["info", "/dev/zero"], "not an .slt file"),
    (["info", "grid.slt"], "grid cell"), (["info", "crc.slt"], "CRC"), (["nosuchcommand"], "nosuchcommand"),
])
def test_other_errors_are_one_line(files, capsys, monkeypatch, args, text):
    monkeypatch.chdir(files)
    code, _, err = run_main(capsys, *args)
    assert_one_line_error(code, err, text)


def test_allocation_failure_and_pyav_error_are_one_line(files, capsys, monkeypatch):
    from inrcodec import api

    monkeypatch.chdir(files)
    for exc, text in ((MemoryError(), "out of memory"),
                      (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 68719476736 bytes"),
                       "out of memory"),
                      (__import__("av").error.ArgumentError(22, "Invalid argument"), "video I/O failed")):
        def boom(*a, exc=exc, **kw):
            raise exc

        monkeypatch.setattr(api, "decode", boom)
        code, _, err = run_main(capsys, "decode", "good.slt", "-o", "o.y4m")
        assert_one_line_error(code, err, text)
