"""NVIDIA FLIP (LDR-FLIP) mean error, through the optional `flip-evaluator` package (NVIDIA's own
implementation, a compiled extension that runs offline).

LDR-FLIP takes sRGB-encoded (gamma, not linear) RGB in [0, 1]; the R'G'B' that `yuv420_to_rgb`
produces is what is displayed, so it goes in as is. Viewing conditions are FLIP's defaults
(67 pixels per degree: a 0.7 m distance from a 0.7 m wide 3840-pixel monitor). 0 means identical,
1 is the largest error. For a video the result is the mean over frames of each frame's mean FLIP.

When `flip-evaluator` is not installed every function returns None; `flip_unavailable_reason()`
says why. Nothing here approximates FLIP.
"""

from __future__ import annotations

import numpy as np
import torch

try:  # optional dependency: pip install flip-evaluator
    import flip_evaluator as _flip
    _IMPORT_ERROR: str | None = None
except Exception as e:  # ImportError, or a broken binary wheel
    _flip = None
    _IMPORT_ERROR = f"flip-evaluator is not usable ({type(e).__name__}: {e}); pip install flip-evaluator"


def flip_available() -> bool:
    return _flip is not None


def flip_unavailable_reason() -> str | None:
    """None when FLIP can be computed, else a one-line reason."""
    return _IMPORT_ERROR


def _hwc_frames(x) -> np.ndarray:
    """(B, 3, H, W) or (3, H, W) torch/numpy -> float32 (B, H, W, 3) in [0, 1]."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float32).numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W) or (3, H, W) RGB, got {x.shape}")
    return np.clip(x.transpose(0, 2, 3, 1), 0.0, 1.0)


def flip_per_frame(reference, test) -> np.ndarray | None:
    """Mean LDR-FLIP of each frame pair -> float64 (B,), or None if FLIP is unavailable."""
    if _flip is None:
        return None
    ref, tst = _hwc_frames(reference), _hwc_frames(test)
    if ref.shape != tst.shape:
        raise ValueError(f"reference {ref.shape} and test {tst.shape} differ in shape")
    out = np.empty(ref.shape[0], dtype=np.float64)
    for i in range(ref.shape[0]):
        _, mean, _ = _flip.evaluate(
            np.ascontiguousarray(ref[i]), np.ascontiguousarray(tst[i]), "LDR", applyMagma=False
        )
        out[i] = float(mean)
    return out


def flip(reference, test) -> float | None:
    """Mean LDR-FLIP over all frames of two RGB batches in [0, 1]; None if FLIP is unavailable."""
    per = flip_per_frame(reference, test)
    return None if per is None else float(per.mean())


def flip_i420(reference: np.ndarray, test: np.ndarray, info, batch: int = 8) -> float | None:
    """Mean LDR-FLIP of two uint8 I420 frame arrays (T, W*H*3/2), converted to RGB a batch at a time
    with `info`'s matrix and range."""
    if _flip is None:
        return None
    from inrcodec.video.colour import yuv420_to_rgb

    if reference.shape != test.shape:
        raise ValueError(f"reference {reference.shape} and test {test.shape} differ in shape")
    total, n = 0.0, reference.shape[0]
    for s in range(0, n, batch):
        a = yuv420_to_rgb(torch.from_numpy(np.ascontiguousarray(reference[s : s + batch])), info)
        b = yuv420_to_rgb(torch.from_numpy(np.ascontiguousarray(test[s : s + batch])), info)
        total += float(flip_per_frame(a, b).sum())
    return total / n if n else None
