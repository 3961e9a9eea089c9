"""`inrcodec bench --quick`: every method and standard codec, neural rates matched."""

import json

import pytest

from inrcodec.bench.run import NEURAL_METHODS, STANDARD_CODECS
from inrcodec.rate import level_entropy_bits, widths_for_weights
from inrcodec.cli.main import main
from inrcodec.model.config import plan_network
from inrcodec.video.io import write_video

from .conftest import synthetic_clip


def test_level_entropy_matches_the_level_distribution():
    # levels 0..3 with probabilities 0.5, 0.3, 0.12, 0.08
    expected = -sum(p * __import__("math").log2(p) for p in (0.5, 0.3, 0.12, 0.08))
    assert level_entropy_bits((0.5, 0.8, 0.92)) == pytest.approx(expected)
    assert level_entropy_bits((0.5,)) == pytest.approx(1.0)


def test_width_search_hits_the_weight_target():
    for target in (5_000, 50_000, 400_000):
        n = plan_network(320, 240, "small", **widths_for_weights(320, 240, "small", target)).num_weights()
        assert abs(n / target - 1) < 0.1


def test_quick_bench_has_every_method_and_codec(tmp_path, capsys):
    clip = synthetic_clip(64, 48, frames=4)
    src = tmp_path / "clip.y4m"
    write_video(str(src), clip, "y4m")
    out = tmp_path / "bench"
    main(["bench", str(src), "--quick", "--device", "cpu", "--out", str(out)])  # returns on success
    rows = json.loads((out / "bench.json").read_text())
    assert {r["method"] for r in rows} == set(NEURAL_METHODS) | set(STANDARD_CODECS)
    for r in rows:
        for key in ("method", "bpp", "psnr_rgb", "psnr_y", "ms_ssim", "flip", "encode_seconds", "decode_fps", "file"):
            assert key in r
    neural = [r for r in rows if r["method"] in NEURAL_METHODS]
    for r in neural:
        assert abs(r["bpp"] / r["target_bpp"] - 1) <= 0.05, (r["method"], r["bpp"])
        assert (out / r["file"].split("/")[-1]).stat().st_size == r["bytes"]
    assert (out / "bench.csv").read_text().count("\n") == len(rows) + 1
