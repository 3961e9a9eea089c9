"""Exact YUV 4:2:0 <-> RGB conversion in torch (runs on whatever device the input lives on).

The pair is built so that YUV -> RGB -> YUV is lossless apart from clipping of out-of-gamut pixels:
chroma is upsampled by pixel replication and downsampled by a 2x2 mean (the mean of four replicated
values is the value itself), the matrices are exact inverses, and the only rounding is the final
one back to uint8.

Formulas (Kr, Kb = 0.299, 0.114 for BT.601; 0.2126, 0.0722 for BT.709; Kg = 1 - Kr - Kb):

    limited range: Y' = (Y - 16) / 219,  Pb = (U - 128) / 224,  Pr = (V - 128) / 224
    full range:    Y' = Y / 255,         Pb = (U - 128) / 255,  Pr = (V - 128) / 255

    R = Y' + 2 (1 - Kr) Pr
    B = Y' + 2 (1 - Kb) Pb
    G = (Y' - Kr R - Kb B) / Kg

and the inverse: Y' = Kr R + Kg G + Kb B,  Pb = (B - Y') / (2 (1 - Kb)),  Pr = (R - Y') / (2 (1 - Kr)),
then Y/U/V from the range equations above, rounded to nearest and clipped to [0, 255].
"""

from __future__ import annotations

import torch

from .clip import VideoInfo

_K = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def _coeffs(info: VideoInfo):
    kr, kb = _K[info.matrix]
    kg = 1.0 - kr - kb
    if info.full_range:
        y_off, y_scale, c_scale = 0.0, 255.0, 255.0
    else:
        y_off, y_scale, c_scale = 16.0, 219.0, 224.0
    return kr, kg, kb, y_off, y_scale, c_scale


def yuv420_to_rgb(frames: torch.Tensor, info: VideoInfo) -> torch.Tensor:
    """uint8 (B, H*W*3//2) I420 -> float32 (B, 3, H, W) RGB in [0, 1] (clipped)."""
    w, h = info.width, info.height
    if frames.ndim != 2 or frames.shape[1] != info.frame_bytes:
        raise ValueError(f"expected (B, {info.frame_bytes}) I420 frames, got {tuple(frames.shape)}")
    b = frames.shape[0]
    ys, cs = w * h, w * h // 4
    f = frames.to(torch.float32)
    y = f[:, :ys].reshape(b, h, w)
    u = f[:, ys : ys + cs].reshape(b, h // 2, 1, w // 2, 1).expand(b, h // 2, 2, w // 2, 2)
    v = f[:, ys + cs :].reshape(b, h // 2, 1, w // 2, 1).expand(b, h // 2, 2, w // 2, 2)
    u = u.reshape(b, h, w)
    v = v.reshape(b, h, w)
    kr, kg, kb, y_off, y_scale, c_scale = _coeffs(info)
    yn = (y - y_off) / y_scale
    pb = (u - 128.0) / c_scale
    pr = (v - 128.0) / c_scale
    r = yn + (2.0 * (1.0 - kr)) * pr
    bl = yn + (2.0 * (1.0 - kb)) * pb
    g = (yn - kr * r - kb * bl) / kg
    return torch.stack((r, g, bl), dim=1).clamp_(0.0, 1.0)


def rgb_to_yuv420(rgb: torch.Tensor, info: VideoInfo) -> torch.Tensor:
    """float (B, 3, H, W) RGB in [0, 1] -> uint8 (B, H*W*3//2) I420; exact inverse of yuv420_to_rgb.

    Input is clipped to [0, 1] first (network outputs may overshoot; NaN from a hostile file's
    overflowing weights becomes 0, so the output never depends on the platform's NaN cast)."""
    w, h = info.width, info.height
    if rgb.ndim != 4 or rgb.shape[1] != 3 or rgb.shape[2] != h or rgb.shape[3] != w:
        raise ValueError(f"expected (B, 3, {h}, {w}) RGB, got {tuple(rgb.shape)}")
    b = rgb.shape[0]
    x = torch.nan_to_num(rgb.to(torch.float32), nan=0.0).clamp(0.0, 1.0)
    r, g, bl = x[:, 0], x[:, 1], x[:, 2]
    kr, kg, kb, y_off, y_scale, c_scale = _coeffs(info)
    yn = kr * r + kg * g + kb * bl
    pb = (bl - yn) / (2.0 * (1.0 - kb))
    pr = (r - yn) / (2.0 * (1.0 - kr))
    y = yn * y_scale + y_off
    # 2x2 mean of full-resolution chroma (linear, so the offset can be added after).
    pb = pb.reshape(b, h // 2, 2, w // 2, 2).mean(dim=(2, 4))
    pr = pr.reshape(b, h // 2, 2, w // 2, 2).mean(dim=(2, 4))
    u = pb * c_scale + 128.0
    v = pr * c_scale + 128.0
    out = torch.cat((y.reshape(b, -1), u.reshape(b, -1), v.reshape(b, -1)), dim=1)
    return out.round_().clamp_(0.0, 255.0).to(torch.uint8)


def through_420(rgb: torch.Tensor, info: VideoInfo) -> torch.Tensor:
    """float (B, 3, H, W) RGB as it comes back from I420 before rounding and clipping: luma kept per
    pixel, each chroma plane replaced by its 2x2 mean (what rgb_to_yuv420 keeps), then back to RGB
    with the chroma replicated (as yuv420_to_rgb). Linear and differentiable: fitting through it
    makes the loss the measured error of the decoded file, so the network is not asked for the
    2x2 chroma steps that 4:2:0 throws away. H must be even (a band of a frame starts on even rows).

    With Y' = Kr R + Kg G + Kb B, chroma is proportional to R - Y' and B - Y', so the mean of the
    chroma is the mean of those differences: R' = Y' + mean(R - Y'), B' = Y' + mean(B - Y'), and
    G' = (Y' - Kr R' - Kb B') / Kg."""
    b, c, h, w = rgb.shape
    if c != 3 or h % 2 or w % 2:
        raise ValueError(f"expected (B, 3, even H, even W) RGB, got {tuple(rgb.shape)}")
    kr, kg, kb, *_ = _coeffs(info)
    r, g, bl = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    yn = kr * r + kg * g + kb * bl

    def block_mean(x: torch.Tensor) -> torch.Tensor:
        m = x.reshape(b, h // 2, 2, w // 2, 2).mean(dim=(2, 4), keepdim=True)
        return m.expand(b, h // 2, 2, w // 2, 2).reshape(b, h, w)

    r2 = yn + block_mean(r - yn)
    b2 = yn + block_mean(bl - yn)
    g2 = (yn - kr * r2 - kb * b2) / kg
    return torch.stack((r2, g2, b2), dim=1)

