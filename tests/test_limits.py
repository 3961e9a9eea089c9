"""The decoder's cost limits (inrcodec/bitstream/limits.py): every header the encoder can write
passes them with room, and the disproportionate ones are refused with a line naming the limit."""

import itertools
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from inrcodec.bitstream import Header, validate_header
from inrcodec.bitstream import limits as lim
from inrcodec.encoder import EncodeOptions
from inrcodec.errors import BitstreamError
from inrcodec.model.config import PRESETS, plan_network

SIZES = [2, 4, 16, 30, 144, 480, 1080, 2160, 4320, 7680]
METHOD_SPARSITY = {"slt": (0.5, 0.8, 0.92), "slt-fixed": (0.5, 0.8, 0.92), "supermask": (0.9,), "dense": (),
                   "sparse": (0.4,)}


def _header(w, h, net, method="slt"):
    return Header(width=w, height=h, frames=1, fps=Fraction(25), method=method, sparsity=METHOD_SPARSITY[method],
                  network=net)


def test_every_preset_and_method_passes_up_to_8k_with_room():
    worst = 0.0
    for preset, (w, h) in itertools.product(PRESETS, itertools.product(SIZES, SIZES)):
        net = plan_network(w, h, preset)
        for method in METHOD_SPARSITY if w == h else ("slt",):
            validate_header(_header(w, h, net, method))
        if max(w, h) <= 16 * min(w, h):
            worst = max(worst, lim.decode_cost("slt", net, w, h).macs_per_pixel)
    assert worst * 10 < lim.MAX_MACS_PER_PIXEL  # ordinary aspect ratios: an order of magnitude of room
    # the large preset at 8K: 13 k multiply-adds per pixel whole, 30 k in the CPU's row strips
    # (thin bands recompute their halos), ~40 MiB per output row
    c = lim.decode_cost("slt", plan_network(7680, 4320, "large"), 7680, 4320)
    assert 20_000 < c.macs_per_pixel < 40_000 and c.band_bytes < lim.MAX_BAND_BYTES // 8


def test_wider_networks_pass_up_to_8k():
    """Four times the large preset's widths, at aspect ratios up to 16:1."""
    for w, h in itertools.product(SIZES, SIZES):
        if max(w, h) <= 16 * min(w, h):
            validate_header(_header(w, h, plan_network(w, h, "large", stem_hidden=1024, c0=384, c_min=128)))


def test_every_method_has_a_cost_model():
    from inrcodec import methods
    from inrcodec.encoder import EncodeOptions

    for m in methods.REGISTRY:
        net = m.network(EncodeOptions(method=m.name, preset="tiny"), 64, 48)  # the method's own config
        cost = m.decode_cost(net, 64, 48)
        assert cost.macs_per_pixel > 0 and cost.weights == net.num_weights()


@pytest.mark.parametrize("w,h,net_kw,match", [
    (2, 2, dict(grid_h=4096, grid_w=4096, strides=(8,), channels=(1, 1), stem_hidden=1), "exceeds the 2x2 frame by 32766 rows"),
    (16384, 16384, dict(grid_h=64, grid_w=64, strides=(2,) * 8, channels=(1,) * 9), "pixels exceeds the limit"),
    (128, 128, dict(grid_h=64, grid_w=64, kernel=15, strides=(2,), channels=(1165, 64), stem_hidden=1),
     r"network needs 16\.8 M multiply-adds per pixel \(limit 2\.1 M, 8\.0x over\)"),
    (4096, 8, dict(grid_h=1, grid_w=512, strides=(8,), channels=(1, 8192), stem_hidden=1), "activations per output row"),
])
def test_disproportionate_headers_are_refused_naming_the_limit(w, h, net_kw, match):
    net = replace(plan_network(32, 24, "tiny"), **net_kw)
    with pytest.raises(BitstreamError, match=match) as e:
        validate_header(_header(w, h, net))
    assert "\n" not in str(e.value)


def test_encoder_refuses_before_the_fit():
    from inrcodec.encoder import encode_clip
    from tests.conftest import synthetic_clip

    opts = EncodeOptions(preset="tiny", device="cpu", c0=512, c_min=512)
    with pytest.raises(BitstreamError, match="multiply-adds per pixel"):
        encode_clip(synthetic_clip(frames=1), opts)


def test_scale_and_step_peaks():
    assert lim.scale_peak(np.array([0.5, 0.25], np.float32)) == 0.75
    assert lim.scale_peak(np.array([3e38, 3e38], np.float32)) == float("inf")  # the sum overflows
    assert lim.scale_peak(np.array([np.nan], np.float32)) == float("inf")
    assert lim.quant_peak(0.5, -7, 3) == 3.5
    assert lim.quant_peak(3e38, -2, 2) == float("inf")


def test_memory_bound_of_the_largest_admitted_file_is_documented():
    """docs/bitstream.md states the bound for the worst file the limits admit."""
    worst = lim.DecodeCost(lim.MAX_MACS_PER_PIXEL, lim.MAX_BAND_BYTES, 2**27, lim.MAX_FRAME_PIXELS)
    bound = lim.memory_bound(worst, 16 << 20, 2**27 * 2)
    assert bound < 7 << 30
    with open("docs/bitstream.md", encoding="utf-8") as f:
        assert f"{bound / 2**30:.1f} GiB" in f.read()
