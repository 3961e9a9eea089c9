"""Decoding a parsed .slt: each segment's network rebuilt once by the file's method (the supermask
methods regenerate the weights from the seed and fold levels and scales into them; the trained
ones dequantise their stored weights), and frames rendered by index (the network is a function of the frame index, so a range touches no other frame)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from .allocator import tune_allocator
from . import methods
from .bitstream import Header, Segment
from .frame_range import decode_range
from .model.nerv import frame_positions, inference_batch
from .model.strips import activation_budget
from .video.colour import rgb_to_yuv420

RENDER_BATCH = None  # frames per forward pass: None = as many as the memory budget allows (nerv.inference_batch)


def parse_frame_range(spec: str | None, total: int) -> range:
    """The frames a decode renders (frame_range.decode_range: 'a:b', one index, or all)."""
    return decode_range(spec, total)


class Decoder:
    """Renders frames of a parsed .slt. Each segment's network is built (weights regenerated and
    folded) only when one of its frames is first needed, so a range touches no other segment."""

    def __init__(self, header: Header, segments: list[Segment], device: torch.device) -> None:
        self.header, self.segments, self.device = header, segments, device
        self.info = header.video_info()
        self.method = methods.get(header.method)
        self._nets: dict[int, torch.nn.Module] = {}
        tune_allocator()

    def _net(self, si: int) -> torch.nn.Module:
        if si not in self._nets:
            self._nets.clear()  # one segment's network at a time: drop the last before building the next
            seg = self.segments[si]
            layers = seg.layers  # a lazily read segment decodes its levels here, once
            self._nets = {si: self.method.decoder_network(self.header, seg.seed, layers, self.device).eval()}
        return self._nets[si]

    @torch.inference_mode()
    def render_rgb(self, frames: range, batch: int | None = RENDER_BATCH) -> Iterator[torch.Tensor]:
        """RGB float batches (B, 3, H, W) for the given frame indices, in order."""
        budget = activation_budget(self.device, training=False)
        h = self.header
        band = self.method.decode_cost(h.network, h.width, h.height).band_bytes
        # frames per pass: within the frame buffers' budget, and one frame when a band of several
        # frames would not fit the activation budget (the band's memory grows with the batch)
        batch = max(1, min(batch or inference_batch(h.width, h.height), budget // max(1, band)))
        for si, seg in enumerate(self.segments):
            lo = max(frames.start, seg.first_frame)
            hi = min(frames.stop, seg.first_frame + seg.frame_count)
            for start in range(lo, hi, batch):
                idx = torch.arange(start, min(hi, start + batch), device=self.device) - seg.first_frame
                yield self.method.render(self._net(si), frame_positions(idx, seg.frame_count), budget)

    def render(self, frames: range, batch: int | None = RENDER_BATCH) -> Iterator[np.ndarray]:
        """uint8 I420 batches (B, H*W*3/2), exactly what every output format receives."""
        for rgb in self.render_rgb(frames, batch):
            yield rgb_to_yuv420(rgb, self.info).cpu().numpy()


def payload_frames(header: Header, job, payload: bytes, device: torch.device) -> Iterator[np.ndarray]:
    """uint8 I420 batches of one segment decoded from its payload bytes (a streamed encode
    measures each segment so, as it finishes); `job` gives its place (first frame, count, seed)."""
    from .bitstream.format import segment_layers

    seg = Segment(job.first_frame, job.frame_count, job.seed, segment_layers(header, job.index, payload, job.frame_count))
    return Decoder(header, [seg], device).render(range(job.first_frame, job.first_frame + job.frame_count))
