"""The content-adaptive group split (gop.py): cuts where the content changes, long groups where it
does not, never longer than the plan allows, and what encode_clip writes into the segment table."""

import numpy as np

from .conftest import synthetic_clip
from inrcodec.encoder import EncodeOptions, clip_jobs, encode_clip
from inrcodec.fit.trainer import FitOptions
from inrcodec.bitstream import read_slt
from inrcodec.gop import GroupPlan, block_factor, coarse_luma, plan_lengths
from inrcodec.video.clip import Clip


def _still(levels, rows=4, cols=5):
    """Coarse luma of frames that are flat at the given levels."""
    return np.stack([np.full((rows, cols), float(v)) for v in levels])


def test_still_frames_split_as_fixed_segments_of_the_longest_group():
    assert plan_lengths(_still([100] * 70), GroupPlan(max_frames=32, cut_cost=5.0)) == [32, 32, 6]
    assert plan_lengths(_still([100] * 10), GroupPlan(max_frames=32, cut_cost=5.0)) == [10]
    assert plan_lengths(np.zeros((0, 4, 5)), GroupPlan(max_frames=32, cut_cost=5.0)) == []


def test_a_scene_cut_starts_a_group():
    frames = _still([40] * 13 + [200] * 11)
    assert plan_lengths(frames, GroupPlan(max_frames=32, cut_cost=10.0)) == [13, 11]


def test_the_cut_cost_trades_groups_for_change():
    """A slow ramp: a cheap cut gives many short groups, a dear one few long ones; the lengths
    always cover the clip and respect max_frames."""
    frames = _still(np.arange(60) * 2.0)
    short = plan_lengths(frames, GroupPlan(max_frames=16, cut_cost=1.0))
    long = plan_lengths(frames, GroupPlan(max_frames=16, cut_cost=1e6))
    assert sum(short) == sum(long) == 60
    assert max(short) <= 16 and max(long) <= 16
    assert len(short) > len(long) == 4
    assert plan_lengths(frames, GroupPlan(max_frames=16, cut_cost=0.0)) == [1] * 60


def test_coarse_luma_is_the_block_mean_of_the_luma_plane():
    assert block_factor(320, 240) == 8 and block_factor(640, 480) == 16 and block_factor(40, 30) == 1
    rng = np.random.default_rng(1)
    w, h = 70, 66  # not multiples of the block: the edge rows and columns are left out
    y = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
    frames = np.concatenate([y.reshape(3, -1), np.full((3, (w // 2) * (h // 2) * 2), 128, np.uint8)], axis=1)
    got = coarse_luma(frames, w, h, batch=2)
    k = block_factor(w, h)
    assert k == 2 and got.shape == (3, 33, 35)
    assert np.allclose(got[1, 4, 7], y[1, 8:10, 14:16].mean())


def _cut_clip(frames_a, frames_b):
    """A still scene (with noise) for frames_a frames, then its negative for frames_b."""
    base = synthetic_clip(32, 24, frames=1, seed=0)
    rng = np.random.default_rng(3)
    frames = np.repeat(base.frames, frames_a + frames_b, axis=0).astype(np.int16)
    frames[:, : 32 * 24] += rng.integers(-2, 3, (frames_a + frames_b, 32 * 24), dtype=np.int16)
    frames[frames_a:, : 32 * 24] = 255 - frames[frames_a:, : 32 * 24]
    return Clip(base.info, np.clip(frames, 0, 255).astype(np.uint8))


def test_slt_grid_segments_follow_the_content_and_segment_frames_fixes_them():
    clip = _cut_clip(7, 6)
    opts = EncodeOptions(method="slt-grid", device="cpu", seed=2, lmbda=0.01, fit=FitOptions(epochs=1, threads=1))
    assert opts.group_plan is not None
    jobs = clip_jobs(clip, opts)
    assert [(j.first_frame, j.frame_count) for j in jobs] == [(0, 7), (7, 6)]
    assert [j.seed for j in jobs] == [2, 3]
    header, segments, _ = read_slt(encode_clip(clip, opts))
    assert [(s.first_frame, s.frame_count) for s in segments] == [(0, 7), (7, 6)]
    fixed = EncodeOptions(method="slt-grid", device="cpu", seed=2, segment_frames=5)
    assert fixed.group_plan is None
    assert [(j.first_frame, j.frame_count) for j in clip_jobs(clip, fixed)] == [(0, 5), (5, 5), (10, 3)]
    assert EncodeOptions(method="slt").group_plan is None


def test_a_long_clip_splits_at_its_cuts_and_within_the_longest_group():
    """130 frames of three scenes (cuts at 50 and 90): every cut starts a group and no group is
    over 32 frames."""
    base = synthetic_clip(16, 16, frames=1, seed=0).frames[0]
    rng = np.random.default_rng(4)
    frames = np.repeat(base[None], 130, axis=0).astype(np.int16)
    frames[:, :256] += rng.integers(-2, 3, (130, 256), dtype=np.int16)
    frames[50:90, :256] = 255 - frames[50:90, :256]
    frames[90:, :256] //= 2
    clip = Clip(synthetic_clip(16, 16, frames=1).info, np.clip(frames, 0, 255).astype(np.uint8))
    jobs = clip_jobs(clip, EncodeOptions(method="slt-grid"))
    starts = [j.first_frame for j in jobs]
    assert 50 in starts and 90 in starts
    assert sum(j.frame_count for j in jobs) == 130 and max(j.frame_count for j in jobs) <= 32
    assert all(j.first_frame + j.frame_count == k.first_frame for j, k in zip(jobs, jobs[1:]))


def test_info_lists_where_each_segment_starts_and_ends():
    from inrcodec.cli.report import segment_ranges

    segs = [{"first_frame": 0, "frames": 32}, {"first_frame": 32, "frames": 28}, {"first_frame": 60, "frames": 8}]
    assert segment_ranges(segs) == "3: frames 0-31, 32-59, 60-67"
    many = [{"first_frame": i, "frames": 1} for i in range(15)]
    assert segment_ranges(many, shown=2) == "15: frames 0-0, 1-1, ... (13 more)"


def test_progress_counts_the_steps_of_planned_segments_of_any_length():
    """FitProgress with planned lengths: the total is the sum of each segment's steps and each
    segment's base is the steps before it (batch 2: ceil(frames / 2) steps per epoch)."""
    from inrcodec.encoder import FitProgress

    opts = EncodeOptions(method="slt-grid", fit=FitOptions(epochs=3, batch_size=2))
    seen = []
    p = FitProgress(13, 32, opts, None, lambda done, total, status: seen.append((done, total)), lengths=[7, 1, 5])
    assert p.segments == 3 and p.total == 3 * (4 + 1 + 3)
    assert [p.base(i) for i in range(3)] == [0, 12, 15] and [p.segment_steps(i) for i in range(3)] == [12, 3, 9]
    p.stepper(2)(4)
    assert seen == [(19, 24)]
    fixed = FitProgress(20, 16, opts, None, None)
    assert fixed.total == 3 * (8 + 2) and fixed.base(1) == 24
