"""Quality metrics: the fast separable MS-SSIM window must equal the textbook 2-D Gaussian window."""

import torch
import torch.nn.functional as F

from inrcodec.metrics.quality import _blur, gaussian_taps, ms_ssim


def test_separable_blur_equals_the_2d_gaussian_window():
    g = torch.tensor(gaussian_taps())
    window = torch.outer(g, g).view(1, 1, 11, 11)
    x = torch.rand(2, 1, 37, 52, generator=torch.Generator().manual_seed(3))
    expected = F.conv2d(x, window)  # 'valid' borders
    got = _blur(x, gaussian_taps())
    assert got.shape == expected.shape == (2, 1, 27, 42)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_ms_ssim_orders_distortions_and_is_one_for_identical_frames():
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(1, 3, 64, 96, generator=gen)
    noise = torch.randn(x.shape, generator=gen)
    light = (x + 0.02 * noise).clamp(0, 1)
    heavy = (x + 0.2 * noise).clamp(0, 1)
    same, a, b = ms_ssim(x, x), ms_ssim(x, light), ms_ssim(x, heavy)
    torch.testing.assert_close(same, torch.ones(1))
    assert 1.0 > float(a) > float(b) > 0.0
