"""benchmarks/rd.py's own parts: options from --set, the seeds' mean curve, the BD cells with their
intervals, the row appended to the results table, the stored reference curve."""

import importlib.util
import json
import os

import pytest

from inrcodec.bench.bdrate import bd_detail

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("rd", os.path.join(ROOT, "benchmarks", "rd.py"))
rd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rd)


def test_configure_starts_from_the_bench_settings_and_applies_sets():
    base = rd.configure("slt", "small", 30, "cpu", [])
    assert base.method == "slt" and base.fit.lr_scores == 0.1 and base.fit.epochs == 30  # bench's tuned lr
    opts = rd.configure("slt", "small", 30, "cpu", ["sparsity=0.5,0.9", "fit.lr_scores=0.2", "fixed_gain=0.7"])
    assert opts.sparsity == (0.5, 0.9) and opts.fit.lr_scores == 0.2 and opts.fixed_gain == 0.7
    with pytest.raises(SystemExit):
        rd.configure("slt", "small", 30, "cpu", ["no_such=1"])
    with pytest.raises(SystemExit):
        rd.configure("slt", "small", 30, "cpu", ["sparsity"])


def test_mean_curve_over_seeds():
    runs = [[{"target_bpp": 0.1, "bpp": 0.1, "psnr_rgb": 24.0}, {"target_bpp": 0.2, "bpp": 0.2, "psnr_rgb": 25.0}],
            [{"target_bpp": 0.1, "bpp": 0.12, "psnr_rgb": 24.4}, {"target_bpp": 0.2, "bpp": 0.18, "psnr_rgb": 25.2}]]
    bpp, psnr = rd.mean_curve(runs)
    assert bpp == pytest.approx([0.11, 0.19]) and psnr == pytest.approx([24.2, 25.1])


def test_describe_names_intervals_or_says_why():
    d = bd_detail([0.1, 0.2, 0.4], [24, 26, 28], [0.08, 0.16, 0.32], [24, 26, 28])  # 0.8x the rate
    rate, psnr = rd.describe(d)
    assert rate == "-20.0 % over 24.00-28.00 dB" and psnr.endswith("over 0.1-0.32 bpp")
    rate, psnr = rd.describe(bd_detail([0.1, 0.2], [27, 29], [0.1, 0.2], [24, 25]))
    assert rate.startswith("n/a (the curves do not overlap (A 27.00-29.00 dB") and psnr.startswith("-3.50 dB")


def test_append_row_goes_under_the_table(tmp_path):
    doc = tmp_path / "results.md"
    doc.write_text(f"# r\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n{rd.MARKER}\n\nafter\n")
    rd.append_row(str(doc), ["3", "x|y"])
    rd.append_row(str(doc), ["5", "6"])
    lines = doc.read_text().split("\n")
    assert lines[4:7] == ["| 1 | 2 |", "| 3 | x/y |", "| 5 | 6 |"] and lines[8] == rd.MARKER
    (tmp_path / "bare.md").write_text("| a |\n|---|\n")
    with pytest.raises(SystemExit):
        rd.append_row(str(tmp_path / "bare.md"), ["1"])


def test_results_md_has_the_ablation_table_and_the_reference_its_source():
    with open(rd.RESULTS) as f:
        assert rd.MARKER in f.read().split("\n")
    with open(rd.REFERENCE) as f:
        tree = json.load(f)["clips"]["tree"]
    # docs/results.md, bench table on tree.avi: slt at 0.1 / 0.2 bpp, 30 epochs
    assert tree["bpp"] == [0.1002, 0.198] and tree["psnr_rgb"] == [24.37, 25.16] and tree["epochs"] == 30
    assert "docs/results.md" in tree["source"]
