"""`inrcodec bench --quick`: every method and standard codec, neural rates matched."""

import io
import json

import pytest
from rich.console import Console

from inrcodec import methods
from inrcodec.bench.report import plot_unavailable_reason
from inrcodec.bench.run import NEURAL_METHODS, STANDARD_CODECS, run_bench
from inrcodec.cli.bench import RowProgress, results_table
from inrcodec.rate import level_entropy_bits, widths_for_weights
from inrcodec.cli.main import main
from inrcodec.encoder import EncodeOptions
from inrcodec.fit.trainer import FitOptions
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
    main(["bench", str(src), "--quick", "--device", "cpu", "--out", str(out) + "/"])  # returns on success
    err = capsys.readouterr().err
    rows = json.loads((out / "bench.json").read_text())
    assert {r["method"] for r in rows} == set(NEURAL_METHODS) | set(STANDARD_CODECS)
    for r in rows:
        for key in ("method", "bpp", "psnr_rgb", "psnr_y", "ms_ssim", "flip", "encode_seconds", "decode_fps", "file"):
            assert key in r
    neural = [r for r in rows if r["method"] in NEURAL_METHODS]
    for r in neural:
        # the width-searched methods land on target; slt-grid searches lambda, and 3 epochs of its
        # latents cannot reach 3 bpp: its miss is reported (the loop below checks how)
        if methods.get(r["method"]).rate_overrides(3.0, []) is None:
            assert abs(r["bpp"] / r["target_bpp"] - 1) <= 0.05, (r["method"], r["bpp"])
        assert (out / r["file"].split("/")[-1]).stat().st_size == r["bytes"]
        assert "//" not in r["file"]  # --out DIR/ gives DIR/slt_3.slt
    for r in rows:
        assert r["rate_miss"] == (abs(r["bpp"] / r["target_bpp"] - 1) > 0.05) and r["ladder"] is False
        if r["rate_miss"]:
            assert r["miss"] and r["method"] in err and "rate miss" in err
    assert not any(r["ladder"] for r in rows)  # one target: no BD either way, so no ladder
    assert (out / "bench.csv").read_text().count("\n") == len(rows) + 1
    assert json.loads((out / "bd.json").read_text())["methods"]["slt"]["note"] == "needs 2+ distinct points on each curve"
    if plot_unavailable_reason():
        assert "bench.png skipped: matplotlib is not installed" in err and not (out / "bench.png").exists()
    else:
        assert (out / "bench.png").exists()


def _row(method, **kw):
    row = {"method": method, "target_bpp": 0.1, "bpp": 0.123456, "psnr_rgb": 24.37, "psnr_y": 26.14, "psnr_yuv": 27.01, "ms_ssim": 0.8646,
           "flip": 0.1655, "encode_seconds": 102.3, "decode_fps": 4510.0, "rate_miss": False, "ladder": False}
    return {**row, **kw}


def test_table_fits_the_terminal_without_cutting():
    rows = [_row(m) for m in NEURAL_METHODS] + [_row("x264", rate_miss=True, bpp=1.16), _row("x265", ladder=True)]
    for width, dropped_some in ((80, True), (60, True), (200, False)):
        table, dropped = results_table("tree.avi: 68 frames 320x240", rows, width)
        out = Console(width=width, record=True, file=io.StringIO())
        out.print(table)
        lines = out.export_text().splitlines()
        assert max(len(line) for line in lines) <= width
        text = "\n".join(lines)
        for m in NEURAL_METHODS:  # names and numbers are whole, never cut with an ellipsis
            assert f" {m} " in text
        assert "…" not in text and "1.1600!" in text and "ladder" in text and "24.37" in text
        assert bool(dropped) == dropped_some and "method" not in dropped and "PSNR RGB" not in dropped
    assert results_table("t", rows, 80)[1] == ["dec fps", "PSNR YUV"]


def test_row_progress_counts_rows():
    out = Console(width=100, file=io.StringIO(), force_terminal=True)
    with RowProgress(out) as progress:
        progress(3, 10, "slt @ 0.1 bpp")
        assert progress.progress.tasks[0].completed == 3 and progress.progress.tasks[0].total == 10
        progress.progress.refresh()
    assert "3/10" in out.file.getvalue()
    with RowProgress(out, enabled=False) as quiet:
        quiet(1, 2, "x")  # does nothing
        assert quiet.progress is None


def test_run_bench_ladder_and_progress():
    clip = synthetic_clip(32, 24, frames=2)
    base = EncodeOptions(preset="tiny", device="cpu", quant_bits=6, fit=FitOptions(epochs=1))
    calls = []
    rows = run_bench(clip, [2.0, 3.0], base, ("supermask",), ("x264",), with_flip=False,
                     on_progress=lambda done, total, label: calls.append((done, total, label)))
    main_rows, ladder = rows[:4], rows[4:]
    assert [r["method"] for r in main_rows] == ["supermask", "x264"] * 2 and not any(r["ladder"] for r in main_rows)
    neural = [r["psnr_rgb"] for r in main_rows if r["method"] == "supermask"]
    # Every ladder row is x264 at a CRF above those tried; the ladder stops once it is at or below
    # the lowest neural PSNR, or at the top of the CRF range.
    assert ladder and all(r["method"] == "x264" and r["ladder"] and r["target_bpp"] is None for r in ladder)
    assert all(r["psnr_rgb"] > min(neural) for r in ladder[:-1])
    assert ladder[-1]["psnr_rgb"] <= min(neural) or ladder[-1]["crf"] == 51
    assert calls[0] == (0, 4, "supermask @ 2 bpp") and calls[-1] == (len(rows), len(rows), "done")
    assert all(a[0] <= b[0] and a[0] <= a[1] for a, b in zip(calls, calls[1:]))
    assert len(run_bench(clip, [2.0, 3.0], base, ("supermask",), ("x264",), with_flip=False, ladder=False)) == 4
