"""The random network, the hierarchical supermasks and their gradients."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from inrcodec.model.config import plan_network
from inrcodec.model.masked import SAMPLE, SupermaskWeight, fold_weight, init_scale, level_counts_for, refresh_masks
from inrcodec.model.nerv import build_decoder_nerv, build_supermask_nerv, supermask_layers
from inrcodec.model.rng import random_signs

SPARSITY = (0.5, 0.8, 0.92)


def reference_signs(seed: int, layer: int, n: int) -> np.ndarray:
    """The documented pcg64-sign-v1 arithmetic, written out bit by bit with Python integers."""
    bitgen = np.random.PCG64(np.random.SeedSequence(entropy=seed, spawn_key=(layer,)))
    words = [int(w) for w in bitgen.random_raw((n + 63) // 64)]
    return np.array([1.0 if (words[i // 64] >> (i % 64)) & 1 else -1.0 for i in range(n)], dtype=np.float32)


@pytest.mark.parametrize("seed,layer,n", [(0, 0, 1), (7, 3, 200), (2**64 - 1, 11, 1000)])
def test_generator_matches_documented_arithmetic(seed, layer, n):
    np.testing.assert_array_equal(random_signs(seed, layer, (n,)), reference_signs(seed, layer, n))


def test_generator_differs_between_layers_and_seeds():
    a = random_signs(1, 0, (4096,))
    assert not np.array_equal(a, random_signs(1, 1, (4096,)))
    assert not np.array_equal(a, random_signs(2, 0, (4096,)))
    assert abs(a.mean()) < 0.1


def test_weights_regenerated_in_another_process_are_identical():
    code = (
        "import sys, hashlib; from inrcodec.model.rng import random_signs;"
        "sys.stdout.write(hashlib.sha256(random_signs(12345, 4, (3, 5, 7, 9)).tobytes()).hexdigest())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    import hashlib

    assert other == hashlib.sha256(random_signs(12345, 4, (3, 5, 7, 9)).tobytes()).hexdigest()


def make_layer(n=5000, fan_in=50, **kw):
    signs = torch.from_numpy(random_signs(3, 0, (n // fan_in, fan_in)))
    return SupermaskWeight(signs, SPARSITY, fan_in, 1.0, generator=torch.Generator().manual_seed(0), **kw)


def test_levels_are_nested_masks_at_the_target_densities():
    layer = make_layer()
    level = layer.level.flatten()
    n = level.numel()
    kept = [int((level >= k).sum()) for k in range(1, 4)]
    assert kept == level_counts_for(n, SPARSITY)
    # nested: a weight in mask k is in every mask below k, and its level follows its |score| order
    order = torch.argsort(layer.scores.detach().abs().flatten())
    assert torch.all(torch.diff(level[order]) >= 0)


def test_sampled_thresholds_give_nested_masks_near_the_target_densities():
    cfg = plan_network(96, 64, "small")
    net = build_supermask_nerv(cfg, 96, 64, seed=2, sparsity=SPARSITY)
    layers = supermask_layers(net)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in layers:  # scores that are no longer the initial draw, distinct |s| (no ties)
            n = m.scores.numel()
            m.scores.copy_(((torch.randperm(n, generator=g) + 1).float() / n).view_as(m.scores) * m.signs)
    refresh_masks(layers)
    for m in layers:
        level = m.level.flatten()
        n = level.numel()
        kept = torch.tensor([int((level >= k).sum()) for k in range(1, 4)], dtype=torch.float64)
        target = torch.tensor(level_counts_for(n, SPARSITY), dtype=torch.float64)
        # a sample of SAMPLE values: the density is off by a few standard errors at most
        assert torch.all((kept - target).abs() / n <= 4 * (0.25 / SAMPLE) ** 0.5 + 1 / n)
        order = torch.argsort(m.scores.detach().abs().flatten())
        assert torch.all(torch.diff(level[order]) >= 0)  # still nested and ordered by |score|
    refresh_masks(layers, exact=True)
    for m in layers:
        level = m.level.flatten()
        assert [int((level >= k).sum()) for k in range(1, 4)] == level_counts_for(level.numel(), SPARSITY)


def test_layers_no_larger_than_the_sample_get_exact_thresholds_in_a_fitting_step():
    # A sample drawn with replacement from a few values repeats each of them; its order statistic
    # then drops every copy of the value it lands on. The 0.9/0.97/0.99 schedule's 27-weight head
    # kept 2 / 0 / 0 weights that way (an RGB channel went constant): small layers are selected
    # exactly, large ones still from their sample.
    sparsity = (0.9, 0.97, 0.99)
    g = torch.Generator().manual_seed(0)
    small = SupermaskWeight(torch.from_numpy(random_signs(3, 0, (3, 9, 1, 1))), sparsity, 9, 1.0, generator=g)
    large = SupermaskWeight(torch.from_numpy(random_signs(3, 1, (400, 50))), sparsity, 50, 1.0, generator=g)
    assert small.signs.numel() <= SAMPLE < large.signs.numel()
    for _ in range(3):
        with torch.no_grad():
            for m in (small, large):
                m.scores.normal_(generator=g)
        refresh_masks([small, large])
        level = small.level.flatten()
        assert [int((level >= k).sum()) for k in range(1, 4)] == level_counts_for(27, sparsity) == [3, 1, 1]
        sampled_t = torch.kthvalue(large.scores.detach().abs().flatten()[large.sample], int(0.9 * SAMPLE)).values
        assert int((large.level >= 1).sum()) == int((large.scores.detach().abs() > sampled_t).sum())


def test_installed_levels_stay_until_unfrozen_and_fold_like_the_decoder():
    layer = make_layer()
    level = torch.randint(0, 4, layer.signs.shape)
    layer.set_levels(level)
    with torch.no_grad():
        layer.scores.normal_()
    refresh_masks([layer])
    torch.testing.assert_close(layer.level, level)
    torch.testing.assert_close(layer(), fold_weight(layer.signs, level, layer.scales()))


def test_initial_scale_keeps_kaiming_second_moment():
    layer = make_layer(n=200_000, fan_in=400)
    w = layer().detach()
    assert float(w.pow(2).mean()) == pytest.approx(1.0 / 400, rel=0.05)
    assert init_scale(400, SPARSITY, 2.0) == pytest.approx(2 * init_scale(400, SPARSITY, 1.0))


def test_effective_weight_is_sign_times_sum_of_scaled_masks():
    layer = make_layer()
    with torch.no_grad():
        layer.rel.copy_(torch.tensor([1.0, 2.0, 3.0]))
    alpha = layer.scales()
    masks = [(layer.level >= k).float() for k in range(1, 4)]
    expected = layer.signs * sum(a * m for a, m in zip(alpha, masks))
    torch.testing.assert_close(layer(), expected)
    torch.testing.assert_close(layer.folded(), expected)


def test_gradients_reach_scores_straight_through_and_scales_exactly():
    layer = make_layer()
    target = torch.randn_like(layer.signs)
    loss = ((layer() - target) ** 2).sum()
    loss.backward()
    # reference: the same function built from differentiable pieces
    scores = layer.scores.detach().clone().requires_grad_(True)
    rel = layer.rel.detach().clone().requires_grad_(True)
    alpha = layer.alpha0 * rel
    table = torch.cat([alpha.new_zeros(1), torch.cumsum(alpha, 0)])
    a = scores.abs()
    mult = table[layer.level] + (a - a.detach())  # straight-through: d mult / d|s| = 1
    ref = ((layer.signs * mult - target) ** 2).sum()
    ref.backward()
    torch.testing.assert_close(layer.rel.grad, rel.grad)
    torch.testing.assert_close(layer.scores.grad, scores.grad)
    assert float(layer.scores.grad.abs().sum()) > 0


def test_fixed_scales_do_not_learn():
    layer = make_layer(learn_scales=False)
    assert not layer.rel.requires_grad


def test_folded_decoder_network_renders_the_same_frames_as_the_masked_one():
    cfg = plan_network(48, 32, "tiny")
    net = build_supermask_nerv(cfg, 48, 32, seed=5, sparsity=SPARSITY)
    layers = supermask_layers(net)
    with torch.no_grad():
        for i, m in enumerate(layers):  # move away from the initial state
            m.scores.add_(torch.randn_like(m.scores))
            m.rel.mul_(1.0 + 0.1 * i)
            m.refresh_levels()
    t = torch.linspace(0, 1, 5)
    with torch.no_grad():
        expected = net(t)
    dec = build_decoder_nerv(cfg, 48, 32, 5, [m.level.numpy().astype(np.uint8) for m in layers],
                             [m.scales().detach().numpy() for m in layers])
    with torch.no_grad():
        got = dec(t)
    assert got.shape == (5, 3, 32, 48)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_fold_weight_uses_cumulative_scales():
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0])
    level = torch.tensor([0, 1, 2, 3])
    w = fold_weight(signs, level, torch.tensor([0.5, 0.25, 0.125]))
    torch.testing.assert_close(w, torch.tensor([0.0, -0.5, 0.75, -0.875]))


@pytest.mark.parametrize("w,h", [(320, 240), (176, 144), (40, 30), (1920, 1080)])
def test_network_output_covers_any_frame_size(w, h):
    cfg = plan_network(w, h, "small")
    assert cfg.out_w >= w and cfg.out_h >= h
    assert cfg.grid_h * cfg.grid_w <= 64
