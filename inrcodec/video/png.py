"""PNG image sequences (`-o frames/%04d.png`): one RGB PNG per frame, for looking at frames.

Names follow ffmpeg's image2 muxer: a printf-style `%d` / `%0Nd` in the name is replaced by the
frame's number in the sequence, counting from 1; a name without one takes a single frame. Frames
are converted to RGB with the clip's matrix and range (the same conversion the metrics use), and
each file appears atomically."""

from __future__ import annotations

import re

import av
import numpy as np
import torch

from inrcodec.atomic import atomic_output
from inrcodec.errors import InputError

from .clip import VideoInfo
from .colour import yuv420_to_rgb
from .raw import check_frames

_PATTERN = re.compile(r"%0?(\d*)d")


def sequence_paths(pattern: str, count: int) -> list[str]:
    """The files a sequence of `count` frames writes."""
    found = _PATTERN.findall(pattern)
    if len(found) > 1 or pattern.replace("%%", "").count("%") > len(found):
        raise InputError(f"{pattern}: a PNG name takes one %d or %0Nd for the frame number")
    if not found:
        if count != 1:
            raise InputError(f"{pattern}: {count} frames need a numbered name such as frames/%04d.png")
        return [pattern]
    return [_PATTERN.sub(lambda m: f"{i:0{m.group(1) or 1}d}", pattern).replace("%%", "%") for i in range(1, count + 1)]


class PngSink:
    """Writes each frame it receives to the next of `paths` (sequence_paths' names)."""

    def __init__(self, paths: list[str], info: VideoInfo) -> None:
        self.info = info
        self.paths = paths
        self.index = 0

    def write(self, frames: np.ndarray) -> None:
        frames = check_frames(frames, self.info)
        rgb = yuv420_to_rgb(torch.from_numpy(np.ascontiguousarray(frames)), self.info)
        pixels = rgb.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for image in pixels:
            if self.index >= len(self.paths):
                raise ValueError(f"more frames than the {len(self.paths)} names of the sequence")
            cc = av.CodecContext.create("png", "w")
            cc.width, cc.height, cc.pix_fmt = self.info.width, self.info.height, "rgb24"
            packets = cc.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24"))
            packets += cc.encode(None)
            with atomic_output(self.paths[self.index]) as f:
                for packet in packets:
                    f.write(bytes(packet))
            self.index += 1

    def finish(self) -> None:
        if self.index != len(self.paths):
            raise ValueError(f"{self.index} frames written, the sequence has {len(self.paths)} names")
