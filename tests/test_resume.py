"""Interrupted encodes: Ctrl-C saves a checkpoint, --resume finishes with the very same file."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from inrcodec.encoder import CheckpointOptions, EncodeOptions, encode_clip
from inrcodec.errors import InputError
from inrcodec.fit.checkpoint import Interrupted, peek_fingerprint
from inrcodec.fit.trainer import FitOptions

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def options(epochs=6):
    return EncodeOptions(preset="tiny", device="cpu", seed=5, fit=FitOptions(epochs=epochs, batch_size=1))


def test_ctrl_c_checkpoints_and_resume_gives_the_same_file(clip, tmp_path):
    expected = encode_clip(clip, options())
    ckpt = str(tmp_path / "x.ckpt")

    def press_ctrl_c(segment, segments, report):
        if report.epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match="--resume"):
        encode_clip(clip, options(), on_epoch=press_ctrl_c, checkpoint=CheckpointOptions(ckpt, minutes=60))
    assert os.path.exists(ckpt)
    resumed = encode_clip(clip, options(), checkpoint=CheckpointOptions(ckpt, resume=True))
    assert resumed == expected


def test_resume_refuses_other_options_or_input(clip, tmp_path):
    from .conftest import synthetic_clip

    ckpt = str(tmp_path / "x.ckpt")

    def press_ctrl_c(segment, segments, report):
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        encode_clip(clip, options(), on_epoch=press_ctrl_c, checkpoint=CheckpointOptions(ckpt))
    with pytest.raises(InputError, match=r"different fit\.epochs \(checkpoint: 6, now: 7\)"):
        encode_clip(clip, options(epochs=7), checkpoint=CheckpointOptions(ckpt, resume=True))
    with pytest.raises(InputError, match="input frames"):
        encode_clip(synthetic_clip(seed=1), options(), checkpoint=CheckpointOptions(ckpt, resume=True))


def test_periodic_checkpoints_are_written_atomically(clip, tmp_path):
    ckpt = tmp_path / "x.ckpt"
    seen = []

    def look(segment, segments, report):
        seen.append(ckpt.exists())

    encode_clip(clip, options(epochs=3), on_epoch=look, checkpoint=CheckpointOptions(str(ckpt), minutes=0))
    assert seen == [False, True, True]  # saved after each epoch (the callback runs before the save)
    # no temporary files left: the checkpoint and its spool of finished payloads, one file a segment
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.ckpt", "x.ckpt.spool"]
    assert [p.name for p in (tmp_path / "x.ckpt.spool").iterdir()] == ["segment-000000.bin"]
    # the settings a resume checks first, read without loading the fit's tensors
    full = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert full["fingerprint"] and peek_fingerprint(str(ckpt)) == full["fingerprint"]
    assert peek_fingerprint(str(tmp_path / "missing.ckpt")) == {}


def test_cli_interrupt_and_resume(tmp_path, y4m_file):
    out = tmp_path / "o.slt"
    args = [sys.executable, "-m", "inrcodec", "encode", str(y4m_file), "-o", str(out), "--preset", "tiny",
            "--epochs", "150", "--batch-size", "1", "--device", "cpu", "-q", "--checkpoint-minutes", "0"]
    proc = subprocess.Popen(args, env=ENV, stderr=subprocess.PIPE, text=True)
    ckpt = tmp_path / "o.slt.ckpt"
    deadline = time.monotonic() + 60
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the encode ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "--resume" in err and "Traceback" not in err
    assert ckpt.exists() and not out.exists()
    # without --resume the stale checkpoint is not silently discarded
    again = subprocess.run(args, env=ENV, capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr
    done = subprocess.run(args + ["--resume"], env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.exists() and not ckpt.exists()
    reference = tmp_path / "ref.slt"
    args[args.index(str(out))] = str(reference)
    subprocess.run(args, env=ENV, check=True, capture_output=True)
    assert out.read_bytes() == reference.read_bytes()
