"""One measurement for every codec: compare decoded uint8 I420 frames with the source, batch by
batch (no float copy of the whole video). RGB figures use the same exact conversion on both sides."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from ..video.clip import Clip
from ..video.colour import yuv420_to_rgb
from .flip import flip_per_frame
from .quality import ms_ssim, mse_to_psnr


def compare(clip: Clip, decoded: Iterable[np.ndarray], with_flip: bool = False) -> dict[str, float | None]:
    """psnr_rgb, psnr_y, ms_ssim (and flip when asked and available) of `decoded` — uint8 (B, N)
    batches covering the clip's frames in order — against the clip."""
    info = clip.info
    ysize = info.width * info.height
    se_rgb = se_y = ssim_sum = flip_sum = 0.0
    ssim_ok = min(info.width, info.height) >= 11
    flip_ok = with_flip
    index = 0
    for out in decoded:
        src = clip.frames[index : index + out.shape[0]]
        dy = src[:, :ysize].astype(np.float64) - out[:, :ysize].astype(np.float64)
        se_y += float((dy * dy).sum())
        a = yuv420_to_rgb(torch.from_numpy(np.ascontiguousarray(src)), info)
        b = yuv420_to_rgb(torch.from_numpy(np.ascontiguousarray(out)), info)
        for c in range(3):  # one channel of float64 differences at a time
            d = a[:, c].double() - b[:, c].double()
            se_rgb += float(torch.dot(d.view(-1), d.view(-1)))
        if ssim_ok:
            ssim_sum += float(ms_ssim(a, b).sum())
        if flip_ok:
            per_frame = flip_per_frame(a, b)
            if per_frame is None:
                flip_ok = False
            else:
                flip_sum += float(np.sum(per_frame))
        index += out.shape[0]
    if index != len(clip):
        raise ValueError(f"decoded {index} frames, the clip has {len(clip)}")
    n = len(clip)
    result = {
        "psnr_rgb": mse_to_psnr(se_rgb / (n * 3 * ysize)),
        "psnr_y": mse_to_psnr(se_y / (n * ysize), 255.0),
        "ms_ssim": ssim_sum / n if ssim_ok else None,
    }
    if with_flip:
        result["flip"] = flip_sum / n if flip_ok else None
    return result
