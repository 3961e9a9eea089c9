"""Per-layer mask densities (--layer-sparsity): each layer keeps its own schedule, the file carries
the real counts, rate control sizes the network by every layer's own bits, bad values are refused."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import inrcodec
from inrcodec.bitstream import read_slt
from inrcodec.decoder import Decoder
from inrcodec.encoder import EncodeOptions, encode_clip
from inrcodec.errors import InputError
from inrcodec.fit.trainer import FitOptions
from inrcodec.model.masked import level_counts_for
from inrcodec.video.io import write_video

from .conftest import synthetic_clip

STEM1 = (0.8, 0.95, 0.99)
HEAD = (0.1, 0.3, 0.6)
DEFAULT = (0.9, 0.9684, 0.99)  # slt's schedule for the layers not named


def _kept(levels: np.ndarray, k: int) -> list[int]:
    return [int((levels >= j).sum()) for j in range(1, k + 1)]


def test_each_layer_keeps_its_own_schedule_and_the_file_decodes():
    clip = synthetic_clip(frames=3)
    opts = EncodeOptions(preset="tiny", device="cpu", fit=FitOptions(epochs=2, batch_size=1),
                         layer_sparsity=(("stem1", STEM1), ("head", HEAD)))
    data = encode_clip(clip, opts)
    header, segments, _ = read_slt(data)
    assert header.sparsity == pytest.approx(DEFAULT)  # the schedule of the other layers
    for (name, shape), layer in zip(header.network.layer_shapes(), segments[0].layers):
        n = math.prod(shape)
        schedule = {"stem1": STEM1, "head": HEAD}.get(name, DEFAULT)
        assert _kept(layer.levels, 3) == level_counts_for(n, tuple(float(np.float32(s)) for s in schedule)), name
    frames = np.concatenate(list(Decoder(header, segments, torch.device("cpu")).render(range(3))))
    assert frames.shape == (3, 32 * 24 * 3 // 2)
    assert encode_clip(clip, opts) == data  # same bytes for the same seed
    assert encode_clip(clip, EncodeOptions(preset="tiny", device="cpu", fit=FitOptions(epochs=2, batch_size=1))) != data


def test_a_prefix_names_a_group_of_layers():
    cfg = EncodeOptions(layer_sparsity=(("block", STEM1), ("stem", HEAD))).method_config()
    assert cfg.schedule("block0") == cfg.schedule("block3") == pytest.approx(STEM1)
    assert cfg.schedule("stem0") == cfg.schedule("stem1") == pytest.approx(HEAD)
    assert cfg.schedule("head") == pytest.approx(DEFAULT)
    first = EncodeOptions(layer_sparsity=(("stem1", STEM1), ("stem", HEAD))).method_config()
    assert first.schedule("stem1") == pytest.approx(STEM1) and first.schedule("stem0") == pytest.approx(HEAD)


def test_rate_control_counts_every_layers_own_bits(tmp_path):
    clip = synthetic_clip(64, 48, frames=4)
    src = tmp_path / "c.y4m"
    write_video(str(src), clip, "y4m")
    sparse = (("stem", (0.9, 0.97, 0.99)),)
    report = inrcodec.encode(str(src), str(tmp_path / "c.slt"), bpp=3.0,
                             options=EncodeOptions(preset="tiny", device="cpu", fit=FitOptions(epochs=1),
                                                   layer_sparsity=sparse))
    assert abs(report["bpp"] / 3.0 - 1) <= 0.05
    plain = inrcodec.encode(str(src), str(tmp_path / "d.slt"), bpp=3.0,
                            options=EncodeOptions(preset="tiny", device="cpu", fit=FitOptions(epochs=1)))
    assert report["weights"] > plain["weights"]  # the sparser stem buys a wider network at the same rate


@pytest.mark.parametrize("bad, message", [
    ((("stem2", (0.5, 0.8, 0.92)),), "unknown layer"),
    ((("head", (0.5, 0.8)),), "K=3"),
    ((("head", (0.8, 0.5, 0.9)),), "strictly increasing"),
])
def test_bad_layer_sparsity_is_refused(bad, message):
    with pytest.raises(InputError, match=message):
        EncodeOptions(layer_sparsity=bad).validate()


def test_cli_gives_one_line_errors_and_warns_where_it_does_not_apply(tmp_path):
    write_video(str(tmp_path / "c.y4m"), synthetic_clip(frames=2), "y4m")
    base = [sys.executable, "-m", "inrcodec", "encode", str(tmp_path / "c.y4m"), "--preset", "tiny", "--epochs", "1",
            "--device", "cpu", "-q"]
    for bad in ("head", "head=", "stem9=0.5,0.8,0.92", "head=0.5,x,0.9"):
        r = subprocess.run(base + ["-o", str(tmp_path / "x.slt"), "--layer-sparsity", bad], capture_output=True, text=True)
        assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "x.slt").exists()
    r = subprocess.run(base + ["-o", str(tmp_path / "y.slt"), "--method", "dense", "--layer-sparsity", "head=0.1,0.3,0.6"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "--layer-sparsity has no effect with --method dense" in r.stderr
