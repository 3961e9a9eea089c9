"""slt-grid's global motion (format version 5): the shifts found, the canvas windows rendered, the
offsets through the file, bad motion blocks refused, and groups planned after motion."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inrcodec import api
from inrcodec.bitstream import format as fmt, read_slt
from inrcodec.encoder import EncodeOptions, encode_clip
from inrcodec.errors import BitstreamError
from inrcodec.fit.trainer import FitOptions
from inrcodec.gop import GroupPlan, plan_groups
from inrcodec.model.grid import canvas_window
from inrcodec.motion import MAX_SIDE, MAX_SPAN, frame_motion, frame_shift, global_offsets, positions
from inrcodec.video.clip import Clip, VideoInfo
from inrcodec.video.io import read_video


def _texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(16, 235, (h, w))
    k = np.ones(5) / 5  # smooth, as camera content is
    t = np.apply_along_axis(lambda r: np.convolve(r, k, "same"), 1, t)
    return np.apply_along_axis(lambda c: np.convolve(c, k, "same"), 0, t)


def panning_clip(width=48, height=32, frames=6, step=(2, 2), seed=0) -> Clip:
    """A window of a still smooth texture moving step = (x, y) pixels a frame (even, so the
    chroma moves with it): the camera pans, the scene stays."""
    sx, sy = step
    y = _texture(height + abs(sy) * frames, width + abs(sx) * frames, seed)
    out = []
    for t in range(frames):
        x0 = sx * t if sx >= 0 else abs(sx) * (frames - 1 - t)
        y0 = sy * t if sy >= 0 else abs(sy) * (frames - 1 - t)
        luma = y[y0 : y0 + height, x0 : x0 + width]
        chroma = 128 + (luma[::2, ::2] - 128) * 0.3
        out.append(np.concatenate([np.clip(p, 16, 235).astype(np.uint8).ravel() for p in (luma, chroma, 255 - chroma)]))
    return Clip(VideoInfo(width=width, height=height, fps=Fraction(25)), np.stack(out))


def _luma(clip):
    w, h = clip.info.width, clip.info.height
    return clip.frames[:, : w * h].reshape(-1, h, w)


def test_frame_shift_finds_the_cameras_move_and_not_a_still_scene():
    tex = _texture(120, 160)
    a, b = tex[10:90, 20:140], tex[13:93, 15:135]  # b sees the scene 5 pixels left and 3 down of a
    assert frame_shift(a, b) == (-5, 3)
    assert frame_shift(a, a) == (0, 0)
    noise = np.random.default_rng(1).normal(0, 2, a.shape)
    assert frame_shift(a, a + noise) == (0, 0)  # noise alone is no motion


def test_a_large_frames_shift_is_found_decimated_then_refined_to_the_pixel():
    """Past MAX_SIDE the correlation runs on box-decimated frames (an HD frame costs a quarter-size
    FFT); the full-size refinement still finds an odd shift, one the decimated grid cannot hold."""
    tex = _texture(800, 1400, seed=3)
    a, b = tex[40:760, 60:1340], tex[61:781, 23:1303]  # 1280 x 720, the scene 37 left and 21 down
    assert a.shape == (720, 1280) and min(a.shape) > MAX_SIDE
    assert frame_shift(a, b) == (-37, 21)
    assert frame_shift(b, a) == (37, -21)
    noise = np.random.default_rng(1).normal(0, 2, a.shape)
    assert frame_shift(a, a + noise) == (0, 0)


def _waves(h, w, dx=0.0, dy=0.0, seed=0):
    """A smooth pattern (a sum of plane waves) sampled at pixel (x + dx, y + dy): any sub-pixel move."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.full((h, w), 128.0)
    for _ in range(12):
        kx, ky, ph = rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), rng.uniform(0, 2 * np.pi)
        out += 8 * np.cos(kx * (xx + dx) + ky * (yy + dy) + ph)
    return out


def test_a_slow_pan_moves_the_window_by_its_summed_fractions():
    """A camera moving 0.4 and -0.3 pixels a frame moves under a pixel each step: rounded step by
    step it would never move (and the canvas would drift off the scene); summed, the window follows
    it to the pixel."""
    steps = [(0.4 * t, -0.3 * t) for t in range(12)]
    luma = np.stack([_waves(60, 80, dx, dy) for dx, dy in steps])
    x, y = frame_motion(luma[0], luma[1])
    assert abs(x - 0.4) < 0.1 and abs(y + 0.3) < 0.1 and frame_shift(luma[0], luma[1]) == (0, 0)
    got = positions(luma)
    want = np.round(np.array(steps))
    assert np.abs(got - want).max() <= 1 and got[-1].tolist() == [4, -3]


def test_unrelated_frames_are_no_motion():
    rng = np.random.default_rng(5)
    a, b = rng.normal(128, 20, (48, 64)), rng.normal(128, 20, (48, 64))
    assert frame_motion(a, b) == (0.0, 0.0)  # a peak somewhere, but not a sharp one
    assert frame_motion(_texture(48, 64, seed=1), _texture(48, 64, seed=2)) == (0.0, 0.0)


def test_global_offsets_are_each_frames_window_with_the_smallest_at_zero():
    clip = panning_clip(frames=6, step=(2, -2))
    got = global_offsets(_luma(clip))
    assert got.tolist() == [[2 * t, 2 * (5 - t)] for t in range(6)]
    assert global_offsets(_luma(panning_clip(frames=4, step=(0, 0)))) is None
    # beyond half the frame the group is coded without motion
    assert 2 * 20 > 48 // MAX_SPAN and global_offsets(_luma(panning_clip(frames=21, step=(2, 0)))) is None


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_a_canvas_window_is_that_window_of_the_whole_canvas_upsampled(scale):
    g = torch.randn(1, 2, 9, 11, generator=torch.Generator().manual_seed(scale))
    full = g if scale == 1 else F.interpolate(g, size=(9 * scale, 11 * scale), mode="bilinear", align_corners=False)
    for x, y in [(0, 0), (1, 3), (scale, 2 * scale), (11 * scale - 5 * scale - 1, 9 * scale - 4 * scale)]:
        rows, cols = 4 * scale, 5 * scale
        np.testing.assert_allclose(canvas_window(g, scale, (x, y), (rows, cols)), full[..., y : y + rows, x : x + cols], atol=1e-6)


def _options(**kw):
    fit = FitOptions(epochs=kw.pop("epochs", 6), threads=1)
    return EncodeOptions(method="slt-grid", device="cpu", fit=fit, lmbda=kw.pop("lmbda", 0.001), **kw)


@pytest.fixture(scope="module")
def pan_file():
    clip = panning_clip(frames=6, step=(2, 2))
    return clip, encode_clip(clip, _options())


def test_a_panning_group_holds_its_offsets_and_canvas_grids_and_round_trips(pan_file, tmp_path):
    clip, data = pan_file
    header, segments, sizes = read_slt(data)
    assert header.version == fmt.VERSION == 5 and header.network.motion
    assert len(segments) == 1  # the planner keeps the pan in one group
    lat = segments[0].layers[-1]
    assert lat.offsets.tolist() == [[2 * t, 2 * t] for t in range(6)]
    net = header.network
    assert [g.shape[-2:] for g in lat.grids] == net.canvas_shapes(48, 32, (10, 10)) != net.grid_shapes(48, 32)
    assert sizes["motion"] == 1 + 4 * 6
    assert fmt.write_slt(header, [fmt.Segment(s.first_frame, s.frame_count, s.seed, s.layers) for s in segments]) == data
    assert encode_clip(clip, _options()) == data  # the same bytes for the same seed
    path = tmp_path / "pan.slt"
    path.write_bytes(data)
    api.decode(str(path), str(tmp_path / "all.y4m"), device="cpu")
    api.decode(str(path), str(tmp_path / "part.y4m"), device="cpu", frames="3:6")
    whole, part = read_video(str(tmp_path / "all.y4m")).frames, read_video(str(tmp_path / "part.y4m")).frames
    np.testing.assert_array_equal(part, whole[3:6])  # a window decodes alone
    w, h = clip.info.width, clip.info.height
    mse = ((whole[:, : w * h].astype(float) - clip.frames[:, : w * h]) ** 2).mean()
    assert 10 * np.log10(255**2 / mse) > 20  # frames rendered at their windows, not the canvas' corner


def test_motion_pays_on_a_pan():
    """The same fit with and without the canvas: on a pan the canvas reaches a better PSNR at no
    more bits (differences of still scene content are zero)."""
    from inrcodec.methods import grid

    clip = panning_clip(64, 48, frames=8, step=(4, 0))
    opts = _options(epochs=8, lmbda=0.02, segment_frames=8)
    rep = {}
    for motion in (False, True):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(grid, "MOTION", motion)
            data = encode_clip(clip, opts)
        header, segments, _ = read_slt(data)
        from inrcodec.decoder import Decoder

        out = np.concatenate(list(Decoder(header, segments, torch.device("cpu")).render(range(8))))
        mse = ((out[:, : 64 * 48].astype(float) - clip.frames[:, : 64 * 48]) ** 2).mean()
        rep[motion] = (len(data), 10 * np.log10(255**2 / mse))
    (bytes_off, psnr_off), (bytes_on, psnr_on) = rep[False], rep[True]
    assert psnr_on > psnr_off and bytes_on <= bytes_off * 1.05, rep


def _payload_start(data, segments, header):
    from inrcodec import methods
    from inrcodec.methods.supermask import SupermaskMethod

    return fmt.parse(data)[2] + len(SupermaskMethod.write_payload(methods.get("slt-grid"), header, 0, segments[0].layers[:-1]))


def _recrc(body: bytes) -> bytes:
    import zlib

    return body + zlib.crc32(body).to_bytes(4, "little")


@pytest.mark.parametrize("patch, message", [
    (lambda b, at: b.__setitem__(slice(at, at + 1), b"\x02"), "motion flag 2"),
    (lambda b, at: b.__setitem__(slice(at + 1, at + 3), (49).to_bytes(2, "little")), "frame offset .* beyond the frame"),
])
def test_a_bad_motion_block_is_refused_in_one_line(pan_file, patch, message):
    _, data = pan_file
    header, segments, _ = read_slt(data)
    body = bytearray(data[:-4])
    patch(body, _payload_start(data, segments, header))
    with pytest.raises(BitstreamError, match=message) as e:
        read_slt(_recrc(bytes(body)))
    assert "\n" not in str(e.value)


def test_offsets_need_a_motion_network_and_fit_the_frame(pan_file):
    from inrcodec.methods.grid import GridLatents

    _, data = pan_file
    header, segments, _ = read_slt(data)
    layers = segments[0].layers
    lat = layers[-1]
    still = replace(header, network=replace(header.network, motion=False))
    with pytest.raises(ValueError, match="need a grid_motion network"):
        fmt.payload_bytes(still, 0, layers, 6)
    wide = GridLatents(theta=lat.theta, grids=lat.grids, laws=lat.laws, offsets=lat.offsets * 10)
    with pytest.raises(ValueError, match="offsets must be"):
        fmt.payload_bytes(header, 0, layers[:-1] + [wide], 6)
    from inrcodec.bitstream import v4

    with pytest.raises(ValueError, match="version 5"):
        v4.header_bytes(header)


def test_groups_are_planned_after_the_cameras_motion():
    clip = panning_clip(64, 48, frames=16, step=(2, 0))  # 30 pixels: within MAX_SPAN of 64
    still, moving = GroupPlan(32, 10.0), GroupPlan(32, 10.0, motion=True)
    assert plan_groups(clip.frames, 64, 48, moving) == [16]
    assert len(plan_groups(clip.frames, 64, 48, still)) > 1  # measured without motion, the pan looks like change
    steady = panning_clip(64, 48, frames=24, step=(0, 0))
    assert plan_groups(steady.frames, 64, 48, moving) == plan_groups(steady.frames, 64, 48, still) == [24]


def test_a_window_costs_the_window_whatever_the_scale():
    """A header may declare grids 2^-14 of the frame: the window is sampled, never the canvas
    upsampled whole (which would be 2^14 pixels a cell on each axis)."""
    g = torch.tensor([[[[1.0, 3.0]]]])  # one row, two cells
    out = canvas_window(g, 1 << 14, (5, 0), (4, 6))
    assert out.shape == (1, 1, 4, 6) and torch.all(out == 1.0)  # deep inside the first cell
