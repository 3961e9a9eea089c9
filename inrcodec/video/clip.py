"""In-memory video: planar I420 uint8 frames plus the metadata needed to interpret them.

Frames stay uint8 (1.5 bytes/pixel); float conversions happen per batch in `colour`, never for the
whole video at once."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from inrcodec.errors import InputError

MATRICES = ("bt601", "bt709")


@dataclass(frozen=True)
class VideoInfo:
    """Geometry, rate and colour interpretation of an I420 video."""

    width: int
    height: int
    fps: Fraction
    matrix: str = "bt601"  # "bt601" or "bt709"
    full_range: bool = False  # False = limited (16-235 luma)

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise InputError(f"video size must be positive, got {self.width}x{self.height}")
        if self.width % 2 or self.height % 2:
            raise InputError(
                f"video size {self.width}x{self.height} is odd; 4:2:0 needs even width and height"
            )
        fps = Fraction(self.fps)
        if fps <= 0:
            raise InputError(f"frame rate must be positive, got {self.fps}")
        object.__setattr__(self, "fps", fps)
        if self.matrix not in MATRICES:
            raise InputError(f"unknown colour matrix {self.matrix!r} (use bt601 or bt709)")
        object.__setattr__(self, "full_range", bool(self.full_range))

    @property
    def frame_bytes(self) -> int:
        """Bytes in one I420 frame: W*H luma + 2 quarter-size chroma planes."""
        return self.width * self.height * 3 // 2


@dataclass
class Clip:
    """A decoded video: `frames[t]` is exactly one raw .yuv (I420) frame."""

    info: VideoInfo
    frames: np.ndarray  # uint8, (T, H*W*3//2)

    def __post_init__(self) -> None:
        f = self.frames
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8:
            raise TypeError("Clip.frames must be a uint8 numpy array")
        if f.ndim != 2 or f.shape[1] != self.info.frame_bytes:
            raise ValueError(
                f"Clip.frames must have shape (T, {self.info.frame_bytes}), got {f.shape}"
            )

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def frame_bytes(self) -> int:
        return self.info.frame_bytes

    def planes(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Views (no copy) of frame i's Y (H,W), U (H/2,W/2) and V (H/2,W/2) planes."""
        return split_planes(self.frames[i], self.info.width, self.info.height)


def split_planes(frame: np.ndarray, width: int, height: int):
    """Split one flat I420 frame into Y, U, V views."""
    ys = width * height
    cs = ys // 4
    y = frame[:ys].reshape(height, width)
    u = frame[ys : ys + cs].reshape(height // 2, width // 2)
    v = frame[ys + cs : ys + 2 * cs].reshape(height // 2, width // 2)
    return y, u, v
