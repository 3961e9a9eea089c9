"""Outputs that are not regular files, signals and frame-rate extremes, through the CLI as a
subprocess: a device node or a FIFO is written in place (never replaced), a symlink is followed
(its target replaced atomically), SIGINT / SIGTERM end with one line, exit 130 / 143 and no
temporary file, and a rate MP4/MKV cannot hold is refused with a message."""

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from fractions import Fraction

import pytest

from . import fuzz_structured as fs
from .test_cli import assert_one_line_error, run_main, subprocess_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, cwd, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "inrcodec", *map(str, args)], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=timeout, **kw)


def one_line(r, code, *expect):
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.startswith("inrcodec: error: ")
    assert r.stderr.count("\n") == 1, r.stderr
    for e in expect:
        assert e in r.stderr, r.stderr


def leftovers(d):
    return sorted(p for p in os.listdir(d) if p.startswith(".") or p.endswith(".tmp"))


@pytest.fixture
def slt(tmp_path):
    path = tmp_path / "s.slt"
    path.write_bytes(fs.crafted_file(32, 24, fs.TINY, frames=5))
    return path


def test_fifo_output_is_written_in_place(tmp_path, slt):
    fifo = tmp_path / "f.mp4"
    os.mkfifo(fifo)
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("data", fifo.read_bytes()))
    reader.start()
    r = cli("decode", slt, "-o", fifo, "-y", "-q", cwd=tmp_path)
    reader.join(30)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got["data"][4:8] == b"ftyp"  # fragmented MP4, written as a stream
    assert leftovers(tmp_path) == []


def test_symlink_output_replaces_its_target_and_keeps_the_link(tmp_path, slt, capsys):
    (tmp_path / "real.y4m").write_bytes(b"old")
    os.symlink("real.y4m", tmp_path / "link.y4m")
    r = cli("decode", slt, "-o", "link.y4m", "-y", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert os.path.islink(tmp_path / "link.y4m")
    assert (tmp_path / "real.y4m").read_bytes().startswith(b"YUV4MPEG2 W32 H24")
    os.symlink("new.y4m", tmp_path / "dangling.y4m")  # in-process: the same code path
    code, _, err = run_main(capsys, "decode", slt, "-o", tmp_path / "dangling.y4m", "-q")
    assert code == 0, err
    assert os.path.islink(tmp_path / "dangling.y4m")
    assert (tmp_path / "new.y4m").read_bytes().startswith(b"YUV4MPEG2 W32 H24")
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_device_node_output_is_not_replaced(tmp_path, slt):
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    r = cli("decode", slt, "-o", null, "--format", "mp4", "-y", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    # encode into it too (in-process): the report is measured from the bytes, not read back
    from inrcodec import api
    from inrcodec.encoder import EncodeOptions
    from inrcodec.fit.trainer import FitOptions
    from inrcodec.video.io import write_video

    from .conftest import synthetic_clip

    write_video(str(tmp_path / "in.y4m"), synthetic_clip(frames=2))
    report = api.encode(str(tmp_path / "in.y4m"), str(null), overwrite=True,
                        options=EncodeOptions(preset="tiny", device="cpu", fit=FitOptions(epochs=1)))
    assert report["bytes"] > 100 and stat.S_ISCHR(os.lstat(null).st_mode)
    assert leftovers(tmp_path) == []


def _handles_sigterm(pid: int) -> bool:
    """The CLI has installed its handlers (SigCgt of /proc/PID/status has SIGTERM's bit)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(mask & (1 << (signal.SIGTERM - 1)))


def _signal_when_started(cmd_args, cwd, sig, started, settle=0.3):
    p = subprocess.Popen([sys.executable, "-m", "inrcodec", *map(str, cmd_args)], cwd=cwd, env=subprocess_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (_handles_sigterm(p.pid) and started()) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(settle)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


@pytest.mark.parametrize("sig,code,word,ext", [
    (signal.SIGINT, 130, "interrupted", "mp4"), (signal.SIGTERM, 143, "terminated", "mkv"),
])
def test_signal_during_decode(tmp_path, sig, code, word, ext):
    (tmp_path / "long.slt").write_bytes(fs.crafted_file(32, 24, fs.TINY, frames=1_000_000))
    r = _signal_when_started(["decode", "long.slt", "-o", f"out.{ext}", "-q"], tmp_path, sig,
                             lambda: any(n.endswith(".tmp") for n in os.listdir(tmp_path)))
    one_line(r, code, word)
    assert sorted(os.listdir(tmp_path)) == ["long.slt"]


def test_sigterm_during_encode(tmp_path):
    from inrcodec.video.io import write_video

    from .conftest import synthetic_clip

    write_video(str(tmp_path / "in.y4m"), synthetic_clip(frames=4))
    r = _signal_when_started(["encode", "in.y4m", "-o", "out.slt", "--preset", "tiny", "--epochs", "100000",
                              "--device", "cpu", "-q", "--checkpoint-minutes", "1000"], tmp_path, signal.SIGTERM,
                             lambda: True, settle=1.5)  # reading done, fitting
    one_line(r, 143, "terminated")
    assert sorted(os.listdir(tmp_path)) == ["in.y4m"]


@pytest.mark.parametrize("fps,ext,ok", [
    (Fraction(1, 2**32 - 1), "mp4", False), (Fraction(2**32 - 1), "mkv", False), (Fraction(2**32 - 1), "mp4", False),
    (Fraction(1, 2**32 - 1), "y4m", True), (Fraction(2**32 - 1), "y4m", True), (Fraction(1, 10000), "mp4", True),
    (Fraction(1000), "mkv", True),
])
def test_frame_rate_extremes(tmp_path, capsys, fps, ext, ok):
    """In-process (the writer's code path is the same): a rate the container cannot hold is one
    line and exit 2, and leaves nothing; Y4M keeps any rate."""
    (tmp_path / "r.slt").write_bytes(fs.crafted_file(32, 24, fs.TINY, frames=2, fps=fps))
    code, _, err = run_main(capsys, "decode", tmp_path / "r.slt", "-o", tmp_path / f"o.{ext}", "-q")
    if ok:
        assert code == 0, err
        if ext == "y4m":
            head = (tmp_path / "o.y4m").read_bytes()[:40]
            assert head.startswith(f"YUV4MPEG2 W32 H24 F{fps.numerator}:{fps.denominator} ".encode())
        return
    assert_one_line_error(code, err, f"cannot be stored in {ext.upper()}")
    assert sorted(os.listdir(tmp_path)) == ["r.slt"]
