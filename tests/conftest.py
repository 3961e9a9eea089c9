"""Shared fixtures: tiny synthetic clips (a few frames, tens of pixels) so tests stay fast."""

from fractions import Fraction

import numpy as np
import pytest

from inrcodec.video.clip import Clip, VideoInfo


def synthetic_clip(width=32, height=24, frames=4, seed=0) -> Clip:
    """A smooth moving pattern with some noise, as planar I420 uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for t in range(frames):
        y = 128 + 60 * np.sin(xx / 5.0 + t * 0.7) * np.cos(yy / 7.0) + rng.normal(0, 3, (height, width))
        u = 128 + 30 * np.sin(xx[::2, ::2] / 6.0 - t * 0.3)
        v = 128 + 30 * np.cos(yy[::2, ::2] / 4.0 + t * 0.2)
        planes = [np.clip(p, 16, 235).astype(np.uint8).ravel() for p in (y, u, v)]
        out.append(np.concatenate(planes))
    return Clip(VideoInfo(width=width, height=height, fps=Fraction(25)), np.stack(out))


@pytest.fixture
def clip() -> Clip:
    return synthetic_clip()


@pytest.fixture
def y4m_file(tmp_path, clip):
    from inrcodec.video.io import write_video

    path = tmp_path / "clip.y4m"
    write_video(str(path), clip, "y4m")
    return path


@pytest.fixture
def yuv_file(tmp_path, clip):
    path = tmp_path / "clip.yuv"
    path.write_bytes(clip.frames.tobytes())
    return path
