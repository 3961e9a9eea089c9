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


class Comparison:
    """The figures of `compare`, accumulated batch by batch in any order (a streamed encode
    measures each segment as it finishes): sums of squared errors, MS-SSIM and FLIP per frame."""

    def __init__(self, info, with_flip: bool = False) -> None:
        self.info, self.with_flip = info, with_flip
        self.ysize = info.width * info.height
        self.se_rgb = self.se_y = self.se_uv = self.ssim_sum = self.flip_sum = 0.0
        self.ssim_ok = min(info.width, info.height) >= 11
        self.flip_ok = with_flip
        self.frames = 0

    def add(self, src: np.ndarray, out: np.ndarray) -> None:
        """Source and decoded uint8 (B, N) I420 frames, the same B frames."""
        info, ysize = self.info, self.ysize
        dy = src[:, :ysize].astype(np.float64) - out[:, :ysize].astype(np.float64)
        self.se_y += float((dy * dy).sum())
        duv = src[:, ysize:].astype(np.float64) - out[:, ysize:].astype(np.float64)
        self.se_uv += float((duv * duv).sum())
        a = yuv420_to_rgb(torch.from_numpy(np.ascontiguousarray(src)), info)
        b = yuv420_to_rgb(torch.from_numpy(np.ascontiguousarray(out)), info)
        for c in range(3):  # one channel of float64 differences at a time
            d = a[:, c].double() - b[:, c].double()
            self.se_rgb += float(torch.dot(d.view(-1), d.view(-1)))
        if self.ssim_ok:
            self.ssim_sum += float(ms_ssim(a, b).sum())
        if self.flip_ok:
            per_frame = flip_per_frame(a, b)
            if per_frame is None:
                self.flip_ok = False
            else:
                self.flip_sum += float(np.sum(per_frame))
        self.frames += out.shape[0]

    def result(self) -> dict[str, float | None]:
        n = self.frames
        result = {
            "psnr_rgb": mse_to_psnr(self.se_rgb / (n * 3 * self.ysize)),
            "psnr_y": mse_to_psnr(self.se_y / (n * self.ysize), 255.0),
            # YUV PSNR weighted as video coding reports it (6:1:1, as in JVET's common test
            # conditions): (6 MSE_Y + MSE_U + MSE_V) / 8, where U and V each hold a quarter of Y's
            # samples, so MSE_U + MSE_V = 4 se_uv / (frames x Y samples)
            "psnr_yuv": mse_to_psnr((6 * self.se_y + 4 * self.se_uv) / (8 * n * self.ysize), 255.0),
            "ms_ssim": self.ssim_sum / n if self.ssim_ok else None,
        }
        if self.with_flip:
            result["flip"] = self.flip_sum / n if self.flip_ok else None
        return result


def compare(clip: Clip, decoded: Iterable[np.ndarray], with_flip: bool = False) -> dict[str, float | None]:
    """psnr_rgb, psnr_y, ms_ssim (and flip when asked and available) of `decoded` — uint8 (B, N)
    batches covering the clip's frames in order — against the clip."""
    acc = Comparison(clip.info, with_flip)
    for out in decoded:
        acc.add(clip.frames[acc.frames : acc.frames + out.shape[0]], out)
    if acc.frames != len(clip):
        raise ValueError(f"decoded {acc.frames} frames, the clip has {len(clip)}")
    return acc.result()
