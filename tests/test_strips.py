"""Row strips compute the same frames and the same gradients as one whole-frame pass, and bound
the activations they hold."""

from fractions import Fraction

import pytest
import torch

from inrcodec.model.config import plan_network
from inrcodec.model.nerv import build_dense_nerv, build_supermask_nerv
from inrcodec.model.strips import mse_backward, plan_strips, render
from inrcodec.video.clip import VideoInfo
from inrcodec.video.colour import through_420

W, H = 72, 40  # the network renders 80x48 here and crops: bands must respect the crop


def _net(kind, w=W, h=H, seed=3):
    cfg = plan_network(w, h, "tiny")
    if kind == "dense":
        return build_dense_nerv(cfg, w, h, seed)
    return build_supermask_nerv(cfg, w, h, seed, (0.5, 0.8, 0.92))


def _grads(net):
    return [p.grad.clone() for p in net.parameters() if p.requires_grad]


@pytest.mark.parametrize("budget", [2_000, 20_000, 60_000])
def test_banded_render_matches_whole_frame(budget):
    net = _net("slt")
    t = torch.linspace(0, 1, 3)
    plan = plan_strips(net.config, H, 3, budget, training=False)
    assert not plan.whole and len(plan.bands) > 1
    assert plan.bands[0][0] == 0 and plan.bands[-1][1] == H
    assert all(b0[1] == b1[0] for b0, b1 in zip(plan.bands, plan.bands[1:]))
    with torch.no_grad():
        torch.testing.assert_close(render(net, t, budget), net(t), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind,as_decoded", [("slt", False), ("dense", False), ("slt", True)])
def test_banded_backward_gives_the_whole_frame_loss_and_gradients(kind, as_decoded):
    t = torch.tensor([0.25, 0.75])
    target = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(0))
    whole, banded = _net(kind), _net(kind)
    assert plan_strips(whole.config, H, 2, 1 << 40, training=True).whole
    plan = plan_strips(banded.config, H, 2, 5_000, training=True)
    assert len(plan.bands) > 2
    # the loss through 4:2:0 needs whole 2x2 chroma blocks in every fitting band
    assert all(a % 2 == 0 for a, _ in plan.bands)
    info = VideoInfo(W, H, Fraction(25))
    project = (lambda x: through_420(x, info)) if as_decoded else None
    loss_whole = mse_backward(whole, t, target, 1 << 40, project=project)
    loss_banded = mse_backward(banded, t, target, 5_000, project=project)
    if as_decoded:
        with torch.no_grad():
            plain = torch.nn.functional.mse_loss(whole(t), target)
        assert abs(float(loss_whole) - float(plain)) > 1e-4  # the projection changed the loss
    torch.testing.assert_close(loss_banded, loss_whole, rtol=1e-5, atol=1e-7)
    for g_banded, g_whole in zip(_grads(banded), _grads(whole), strict=True):
        assert float(g_whole.abs().sum()) > 0
        torch.testing.assert_close(g_banded, g_whole, rtol=1e-4, atol=1e-7)


def test_bands_shrink_with_the_budget_and_cover_odd_heights():
    cfg = plan_network(640, 480, "small")
    big = plan_strips(cfg, 480, 1, 64 << 20, training=True)
    small = plan_strips(cfg, 480, 1, 8 << 20, training=True)
    assert len(small.bands) > len(big.bands) > 1
    cfg = plan_network(100, 37, "tiny")
    plan = plan_strips(cfg, 37, 1, 3_000, training=False)
    assert plan.bands[-1][1] == 37 and len(plan.bands) > 1
    net = build_supermask_nerv(cfg, 100, 37, 1, (0.5,))
    with torch.no_grad():
        torch.testing.assert_close(render(net, torch.tensor([0.5]), 3_000), net(torch.tensor([0.5])), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("budget", [1 << 40, 5_000])
@pytest.mark.parametrize("kind", ["slt", "dense"])
def test_amp_step_follows_the_float32_gradient_and_keeps_float32_parameters(kind, budget):
    """bf16 autocast (--amp) changes the arithmetic, not what is learnt: the loss and the gradients
    stay close to float32's, whole-frame or banded, and the parameters keep their dtype."""
    t = torch.tensor([0.25, 0.75])
    target = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(0))
    ref, amp = _net(kind), _net(kind)
    loss_ref = mse_backward(ref, t, target, budget)
    loss_amp = mse_backward(amp, t, target, budget, amp=True)
    assert loss_amp.dtype == torch.float32
    torch.testing.assert_close(loss_amp, loss_ref, rtol=2e-2, atol=1e-4)
    for p, g_amp, g_ref in zip([p for p in amp.parameters() if p.requires_grad], _grads(amp), _grads(ref), strict=True):
        assert p.dtype == g_amp.dtype == torch.float32
        cos = torch.nn.functional.cosine_similarity(g_amp.flatten(), g_ref.flatten(), dim=0)
        assert float(cos) > 0.98
        assert not torch.equal(g_amp, g_ref)  # the bf16 arithmetic really ran
