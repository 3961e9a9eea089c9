"""Encode -> .slt -> decode through the Python API."""

import numpy as np
import pytest

from inrcodec.progress import InrcodecWarning
import torch

import inrcodec
from inrcodec.decoder import Decoder, parse_frame_range
from inrcodec.encoder import EncodeOptions, encode_clip
from inrcodec.bitstream import Header, LayerPayload, Segment, read_slt, write_slt
from inrcodec.errors import InputError
from inrcodec.fit.trainer import Fitter, FitOptions
from inrcodec.model.config import plan_network
from inrcodec.model.nerv import build_supermask_nerv, frame_positions
from inrcodec.video.colour import rgb_to_yuv420
from inrcodec.video.io import read_video

from .conftest import synthetic_clip


def tiny_options(**kw):
    fit = FitOptions(epochs=kw.pop("epochs", 3), batch_size=2)
    return EncodeOptions(preset="tiny", device="cpu", fit=fit, **kw)


def test_decoded_frames_equal_the_in_memory_model(tmp_path, clip):
    """Fit directly, write the bitstream, decode it with the CLI path, compare to the fitted net."""
    sparsity = (0.5, 0.8, 0.92)
    cfg = plan_network(32, 24, "tiny")
    net = build_supermask_nerv(cfg, 32, 24, seed=9, sparsity=sparsity)
    fitter = Fitter(net, clip.frames, clip.info, FitOptions(epochs=4, batch_size=2), torch.device("cpu"))
    fitter.run()
    result = fitter.result()
    header = Header(width=32, height=24, frames=len(clip), fps=clip.info.fps, sparsity=sparsity, network=cfg)
    seg = Segment(0, len(clip), 9, [LayerPayload(s, lv) for s, lv in zip(result.scales, result.levels)])
    slt = tmp_path / "x.slt"
    slt.write_bytes(write_slt(header, [seg]))
    inrcodec.decode(str(slt), str(tmp_path / "x.yuv"), device="cpu")
    decoded = np.fromfile(tmp_path / "x.yuv", dtype=np.uint8).reshape(len(clip), -1)
    with torch.no_grad():
        expected = rgb_to_yuv420(net(frame_positions(torch.arange(len(clip)), len(clip))), clip.info).numpy()
    assert decoded.shape == expected.shape
    diff = np.abs(decoded.astype(int) - expected.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999


def test_fitting_improves_quality(clip):
    cfg = plan_network(32, 24, "tiny")
    net = build_supermask_nerv(cfg, 32, 24, seed=1, sparsity=(0.5, 0.8, 0.92))
    fitter = Fitter(net, clip.frames, clip.info, FitOptions(epochs=25, batch_size=2, eval_every=1), torch.device("cpu"))
    first = fitter.evaluate()
    fitter.run()
    assert fitter.best_psnr > first + 3.0
    # the best evaluation is what result() keeps
    assert fitter.result().psnr == max(r.psnr for r in fitter.history if r.psnr is not None)


def test_encode_report_is_measured_from_the_written_file(tmp_path, y4m_file):
    out = tmp_path / "a.slt"
    report = inrcodec.encode(str(y4m_file), str(out), options=tiny_options())
    size = out.stat().st_size
    assert report["bytes"] == size
    assert report["bpp"] == pytest.approx(8 * size / (32 * 24 * 4))
    for key in ("psnr_rgb", "psnr_y", "psnr_yuv", "ms_ssim", "frames", "width", "height", "fit_seconds"):
        assert key in report
    # the PSNR equals what an independent decode of the file gives
    inrcodec.decode(str(out), str(tmp_path / "a.yuv"), device="cpu")
    src = read_video(str(y4m_file)).frames
    dec = np.fromfile(tmp_path / "a.yuv", dtype=np.uint8).reshape(src.shape)
    y = 32 * 24
    mse = np.mean((src[:, :y].astype(float) - dec[:, :y].astype(float)) ** 2)
    assert report["psnr_y"] == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-6)
    q = y // 4
    mse_u, mse_v = (np.mean((src[:, a:b].astype(float) - dec[:, a:b].astype(float)) ** 2) for a, b in ((y, y + q), (y + q, y + 2 * q)))
    assert report["psnr_yuv"] == pytest.approx(10 * np.log10(255**2 / ((6 * mse + mse_u + mse_v) / 8)), abs=1e-6)


def test_same_seed_and_input_give_byte_identical_files(clip):
    a = encode_clip(clip, tiny_options(seed=3))
    b = encode_clip(clip, tiny_options(seed=3))
    c = encode_clip(clip, tiny_options(seed=4))
    assert a == b
    assert a != c


def test_segments_are_independent_and_ranges_touch_only_their_segment(clip):
    data = encode_clip(clip, tiny_options(segment_frames=2, epochs=2))
    header, segments, _ = read_slt(data)
    assert [(s.first_frame, s.frame_count) for s in segments] == [(0, 2), (2, 2)]
    dec = Decoder(header, segments, torch.device("cpu"))
    full = np.concatenate(list(dec.render(range(4))))
    dec2 = Decoder(header, segments, torch.device("cpu"))
    part = np.concatenate(list(dec2.render(range(3, 4))))
    assert list(dec2._nets) == [1]  # segment 0's network was never built
    np.testing.assert_array_equal(part, full[3:4])


def test_frame_range_parsing():
    assert parse_frame_range("1:3", 10) == range(1, 3)
    assert parse_frame_range(":2", 10) == range(0, 2)
    assert parse_frame_range("7:", 10) == range(7, 10)
    assert parse_frame_range("4", 10) == range(4, 5)
    with pytest.warns(InrcodecWarning, match="rendering 5:10"):  # clamped, like ffmpeg
        assert parse_frame_range("5:20", 10) == range(5, 10)
    for bad in ("3:3", "x", "-1:2", "10:12", "10", "\u0661:3", "1_0", "+1:3"):
        with pytest.raises(InputError):
            parse_frame_range(bad, 10)


def test_levels_and_sparsity_options():
    assert EncodeOptions(levels=3).method_config().sparsity == pytest.approx((0.9, 0.9684, 0.99))
    assert EncodeOptions(method="slt-fixed").method_config().sparsity == pytest.approx((0.9, 0.9684, 0.99))
    assert EncodeOptions(method="supermask").method_config().sparsity == pytest.approx((0.5,))
    assert EncodeOptions(method="slt-grid").method_config().sparsity == pytest.approx((0.5, 0.8, 0.92))
    assert EncodeOptions(levels=1).method_config().sparsity == pytest.approx((0.9,))
    assert len(EncodeOptions(levels=5).method_config().sparsity) == 5
    assert EncodeOptions(sparsity=(0.6,)).method_config().sparsity == pytest.approx((0.6,))
    for bad in (dict(levels=2, sparsity=(0.5, 0.7, 0.9)), dict(sparsity=(0.8, 0.5)), dict(levels=0), dict(sparsity=(1.2,))):
        with pytest.raises(InputError):
            EncodeOptions(**bad).method_config().sparsity


def test_one_level_and_five_levels_round_trip(tmp_path):
    clip = synthetic_clip(frames=2)
    for sp in ((0.5,), (0.3, 0.5, 0.7, 0.8, 0.9)):
        data = encode_clip(clip, tiny_options(sparsity=sp, epochs=1))
        header, segments, _ = read_slt(data)
        assert header.sparsity == pytest.approx(sp)
        assert all(int(layer.levels.max()) <= len(sp) for layer in segments[0].layers)
        frames = np.concatenate(list(Decoder(header, segments, torch.device("cpu")).render(range(2))))
        assert frames.shape == (2, 32 * 24 * 3 // 2)


def _fresh_fitter(clip, epochs=4):
    cfg = plan_network(32, 24, "tiny")
    net = build_supermask_nerv(cfg, 32, 24, seed=2, sparsity=(0.5, 0.8, 0.92))
    return Fitter(net, clip.frames, clip.info, FitOptions(epochs=epochs, batch_size=1, eval_every=1), torch.device("cpu"))


def test_interrupted_fit_resumes_bit_exactly(clip, tmp_path):
    whole = _fresh_fitter(clip)
    assert whole.run()
    expected = whole.result()

    first = _fresh_fitter(clip)
    calls = {"n": 0}

    def stop_mid_epoch():  # 4 frames per epoch at batch 1: stop inside the second epoch
        calls["n"] += 1
        return calls["n"] > 6

    assert first.run(should_stop=stop_mid_epoch) is False
    assert first.epoch == 1 and first.pos == 2
    path = tmp_path / "state.pt"
    torch.save(first.state_dict(), path)

    resumed = _fresh_fitter(clip)
    resumed.load_state_dict(torch.load(path, weights_only=True))
    assert resumed.run()
    got = resumed.result()
    assert got.psnr == expected.psnr
    for a, b in zip(got.levels, expected.levels):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(got.scales, expected.scales):
        np.testing.assert_array_equal(a, b)


def test_colour_tags_of_raw_input_reach_the_file_and_the_decoded_y4m(tmp_path, yuv_file):
    out = tmp_path / "c.slt"
    opts = EncodeOptions(preset="tiny", device="cpu", fit=FitOptions(epochs=1))
    inrcodec.encode(str(yuv_file), str(out), size=(32, 24), matrix="bt709", full_range=True, options=opts)
    meta = inrcodec.info(str(out))
    assert (meta["matrix"], meta["full_range"]) == ("bt709", True)
    inrcodec.decode(str(out), str(tmp_path / "c.y4m"), device="cpu")
    info = read_video(str(tmp_path / "c.y4m")).info
    assert (info.matrix, info.full_range) == ("bt709", True)


@pytest.mark.parametrize("method", ["slt", "supermask"])
def test_target_bpp_lands_within_five_percent(tmp_path, method):
    clip = synthetic_clip(64, 48, frames=4)
    src = tmp_path / "c.y4m"
    from inrcodec.video.io import write_video

    write_video(str(src), clip, "y4m")
    opts = EncodeOptions(method=method, preset="tiny", device="cpu", fit=FitOptions(epochs=1))
    report = inrcodec.encode(str(src), str(tmp_path / "c.slt"), bpp=3.0, options=opts)
    assert abs(report["bpp"] / 3.0 - 1) <= 0.05
    with pytest.raises(InputError, match="widths"):
        inrcodec.encode(str(src), str(tmp_path / "d.slt"), bpp=3.0,
                        options=EncodeOptions(preset="tiny", c0=4, fit=FitOptions(epochs=1)))


def test_a_fit_through_420_reports_the_psnr_of_its_decoded_frames(clip):
    """With loss_420 the fit measures what the file holds (chroma as 2x2 means); without it the
    fit's own figure is of full-resolution chroma that the file cannot keep."""
    from inrcodec.metrics.video import compare
    from inrcodec.model.strips import render

    gaps = {}
    for as_decoded in (True, False):
        cfg = plan_network(32, 24, "tiny")
        net = build_supermask_nerv(cfg, 32, 24, seed=1, sparsity=(0.5, 0.8, 0.92))
        opts = FitOptions(epochs=6, batch_size=2, eval_every=2, loss_420=as_decoded)
        fitter = Fitter(net, clip.frames, clip.info, opts, torch.device("cpu"))
        fitter.run()
        result = fitter.result()
        with torch.no_grad():
            out = render(net, frame_positions(torch.arange(len(clip)), len(clip)), 1 << 30)
        decoded = rgb_to_yuv420(out, clip.info).numpy()
        gaps[as_decoded] = abs(result.psnr - compare(clip, [decoded])["psnr_rgb"])
    assert gaps[True] < 0.02
    assert gaps[False] > 2 * gaps[True]
