"""Quality metrics, computed the same way for every method: PSNR and MS-SSIM.

MS-SSIM follows Wang et al. 2003 (11x11 Gaussian window, sigma 1.5, five scales with the published
weights). Frames too small for five scales use as many scales as fit (the smaller side must stay at
least 11 pixels at the coarsest scale) with the weights renormalised, so tiny test clips still get a
number; results.md only reports MS-SSIM on clips large enough for all five.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def mse_to_psnr(mse: float, peak: float = 1.0) -> float:
    """PSNR in dB; identical signals give +inf (JSON writers turn it into null)."""
    if mse <= 0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two uint8 arrays (peak 255), over all their samples."""
    d = a.astype(np.float64) - b.astype(np.float64)
    return mse_to_psnr(float(np.mean(d * d)), 255.0)


def _gaussian_window(channels: int, device, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c1, c2 = 0.01**2, 0.03**2
    ch = x.shape[1]
    mu_x = F.conv2d(x, win, groups=ch)
    mu_y = F.conv2d(y, win, groups=ch)
    sxx = F.conv2d(x * x, win, groups=ch) - mu_x * mu_x
    syy = F.conv2d(y * y, win, groups=ch) - mu_y * mu_y
    sxy = F.conv2d(x * y, win, groups=ch) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return (lum * cs).mean(dim=(2, 3)), cs.mean(dim=(2, 3))


def ms_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image MS-SSIM of (B, C, H, W) tensors in [0, 1], averaged over channels -> (B,)."""
    x, y = x.float(), y.float()
    side = min(x.shape[-2:])
    scales = max(1, min(5, int(math.floor(math.log2(side / 11))) + 1)) if side >= 11 else 0
    if scales == 0:
        raise ValueError("frames smaller than 11 pixels have no MS-SSIM")
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], device=x.device)
    weights = weights / weights.sum()
    win = _gaussian_window(x.shape[1], x.device)
    values = []
    for i in range(scales):
        ssim, cs = _ssim_terms(x, y, win)
        values.append(ssim if i == scales - 1 else cs)
        if i < scales - 1:
            x = F.avg_pool2d(x, 2)
            y = F.avg_pool2d(y, 2)
    stack = torch.stack([v.clamp(min=1e-6) for v in values], dim=0)  # (scales, B, C)
    return torch.prod(stack ** weights[:, None, None], dim=0).mean(dim=1)
