import math
import struct
import time
import tracemalloc
import zlib
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from inrcodec.bitstream import (
    GENERATORS,
    METHODS,
    Header,
    LayerPayload,
    Segment,
    read_header,
    read_slt,
    to_float32,
    validate_header,
    write_slt,
)
from inrcodec.bitstream import format as fmt
from inrcodec.errors import BitstreamError
from inrcodec.model.config import NetworkConfig, plan_network

NET = plan_network(32, 24, "tiny")


def make_segments(header, bounds, seed0=1, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    k = len(header.sparsity)
    segs = []
    for i, (first, count) in enumerate(bounds):
        layers = []
        for j, (_, shape) in enumerate(header.network.layer_shapes()):
            n = math.prod(shape)
            if j == len(header.network.layer_shapes()) - 1:
                levels = np.zeros(n, dtype=np.uint8)  # a constant layer
            else:
                p = np.array([0.5] + [0.5 / k] * k)
                levels = rng.choice(k + 1, n, p=p).astype(np.uint8)
            scales = rng.normal(size=k).astype(np.float32)
            layers.append(LayerPayload(scales=scales, levels=levels))
        segs.append(Segment(first_frame=first, frame_count=count, seed=seed0 + 977 * i, layers=layers))
    return segs


def base_header(**kw):
    args = dict(width=32, height=24, frames=10, fps=Fraction(25), network=NET)
    args.update(kw)
    return Header(**args)


def sample_file(segments=1):
    h = base_header(frames=5 * segments)
    segs = make_segments(h, [(5 * i, 5) for i in range(segments)])
    return h, segs, write_slt(h, segs)


def header_len(h):
    n = len(h.network.strides)
    return 43 + 4 * len(h.sparsity) + n + 4 * (n + 1)


def patch(data, offset, fmt_, value, fix_crc=True):
    b = bytearray(data)
    struct.pack_into("<" + fmt_, b, offset, value)
    if fix_crc:
        b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
    return bytes(b)


def with_crc(body):
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


# ---------------------------------------------------------------- round trips


def test_roundtrip_default_header():
    h, segs, data = sample_file()
    h2, segs2, sizes = read_slt(data)
    assert data[:4] == b"SLTv" and data[4] == fmt.VERSION == 5
    assert h2 == replace(h, sparsity=tuple(to_float32(s) for s in h.sparsity))
    assert h2.sparsity == (to_float32(0.5), to_float32(0.8), to_float32(0.92))
    assert all(type(s) is float for s in h2.sparsity)
    assert h2.network == NET
    assert segs2 == segs
    for a, b in zip(segs, segs2):
        for la, lb in zip(a.layers, b.layers):
            assert lb.scales.dtype == np.float32 and lb.levels.dtype == np.uint8
            np.testing.assert_array_equal(la.levels, lb.levels)
            np.testing.assert_array_equal(la.scales, lb.scales)
    assert read_header(data) == h2


def test_roundtrip_all_fields():
    net = NetworkConfig(
        pe_levels=5, pe_base=1.5, stem_hidden=7, grid_h=3, grid_w=5, kernel=5, strides=(2, 3), channels=(6, 5, 4)
    )
    h = Header(
        width=28,
        height=18,
        frames=7,
        fps=Fraction(30000, 1001),
        pix_fmt="yuv420p",
        matrix="bt709",
        full_range=True,
        method="supermask",
        generator="pcg64-sign-v1",
        sparsity=(0.75,),
        network=net,
    )
    segs = make_segments(h, [(0, 3), (3, 1), (4, 3)], seed0=2**64 - 5000)
    segs[-1].seed = 2**64 - 1
    data = write_slt(h, segs)
    h2, segs2, sizes = read_slt(data)
    assert h2 == h
    assert h2.fps == Fraction(30000, 1001)
    assert h2.matrix == "bt709" and h2.full_range is True and h2.method == "supermask"
    assert [(s.first_frame, s.frame_count, s.seed) for s in segs2] == [
        (s.first_frame, s.frame_count, s.seed) for s in segs
    ]
    assert segs2 == segs
    assert sum(sizes.values()) == len(data)


@pytest.mark.parametrize("method", ["slt", "slt-fixed", "supermask"])
def test_methods_roundtrip(method):
    h = base_header(method=method, frames=2)
    segs = make_segments(h, [(0, 2)])
    h2, segs2, _ = read_slt(write_slt(h, segs))
    assert h2.method == method and segs2 == segs


def test_several_segments_and_size_breakdown():
    h, segs, data = sample_file(segments=4)
    h2, segs2, sizes = read_slt(data)
    assert len(segs2) == 4
    assert segs2 == segs
    assert [s.seed for s in segs2] == [s.seed for s in segs]
    assert sum(sizes.values()) == len(data)
    names = [name for name, _ in NET.layer_shapes()]
    assert set(sizes) == {"header", "segment_table", "scales", "counts", "crc"} | {f"masks/{n}" for n in names}
    assert sizes["header"] == header_len(h)
    assert sizes["segment_table"] == 2 + 20 * 4
    assert sizes["crc"] == 4
    assert sizes["scales"] == 4 * 3 * len(names) * 4
    assert sizes["masks/head"] == 0  # constant layer: no coded words
    assert sizes["masks/stem1"] > sizes["masks/stem0"] > 0


def test_mask_bits_near_entropy():
    h, segs, data = sample_file()
    _, _, sizes = read_slt(data)
    k = len(h.sparsity)
    for (name, _), layer in zip(NET.layer_shapes(), segs[0].layers):
        c = np.bincount(layer.levels, minlength=k + 1).astype(np.float64)
        nz = c[c > 0]
        entropy_bytes = -(nz * np.log2(nz / nz.sum())).sum() / 8
        assert sizes[f"masks/{name}"] <= entropy_bytes * 1.001 + 16


def test_writer_accepts_weight_shaped_levels():
    h, segs, data = sample_file()
    shaped = [
        replace(segs[0], layers=[
            LayerPayload(l.scales, l.levels.reshape(shape).astype(np.int64))
            for l, (_, shape) in zip(segs[0].layers, NET.layer_shapes())
        ])
    ]
    assert write_slt(h, shaped) == data


def test_write_is_deterministic():
    h, segs, data = sample_file(segments=2)
    assert write_slt(h, segs) == data


# ---------------------------------------------------------------- writer checks


def test_writer_rejects_bad_input():
    h = base_header(frames=5)
    segs = make_segments(h, [(0, 5)])
    with pytest.raises(BitstreamError, match="K must be 0"):
        write_slt(replace(h, method="dense"), segs)
    with pytest.raises(ValueError, match="QuantLayer"):
        write_slt(replace(h, method="dense", sparsity=()), segs)
    with pytest.raises(BitstreamError, match="contiguous"):
        write_slt(h, [replace(segs[0], first_frame=1)])
    with pytest.raises(BitstreamError, match="cover"):
        write_slt(replace(h, frames=6), segs)
    bad = [replace(segs[0], layers=[LayerPayload(segs[0].layers[0].scales, segs[0].layers[0].levels[:-1])] + segs[0].layers[1:])]
    with pytest.raises(ValueError, match="levels"):
        write_slt(h, bad)
    too_high = segs[0].layers[0].levels.copy()
    too_high[0] = 4
    bad = [replace(segs[0], layers=[LayerPayload(segs[0].layers[0].scales, too_high)] + segs[0].layers[1:])]
    with pytest.raises(ValueError):
        write_slt(h, bad)
    with pytest.raises(ValueError, match="float32"):
        write_slt(replace(h, network=replace(NET, pe_base=1.1)), segs)
    with pytest.raises(BitstreamError, match="width"):
        write_slt(replace(h, width=33), segs)


def test_validate_header_limits():
    validate_header(base_header())
    for kw, pat in [
        (dict(width=16386), "width"),
        (dict(height=0), "height"),
        (dict(frames=0), "frame count"),
        (dict(frames=10**7 + 1), "frame count"),
        (dict(fps=Fraction(0)), "frame rate"),
        (dict(sparsity=()), "K=0"),
        (dict(sparsity=tuple(np.linspace(0.1, 0.9, 9))), "K=9"),
        (dict(sparsity=(0.5, 0.5)), "increasing"),
        (dict(sparsity=(0.5, 1.0)), "increasing"),
        (dict(matrix="bt2020"), "matrix"),
        (dict(generator="mt19937"), "generator"),
        (dict(width=64), "does not cover"),
    ]:
        with pytest.raises(BitstreamError, match=pat):
            validate_header(base_header(**kw))


# ---------------------------------------------------------------- corruption


def test_wrong_magic():
    _, _, data = sample_file()
    with pytest.raises(BitstreamError, match="not an .slt file"):
        read_slt(b"RIFF" + data[4:])
    with pytest.raises(BitstreamError, match="not an .slt file"):
        read_slt(b"")
    with pytest.raises(BitstreamError, match="not an .slt file"):
        read_slt(b"\x00\x00")


def test_bad_version():
    _, _, data = sample_file()
    with pytest.raises(BitstreamError, match="version 7"):
        read_slt(patch(data, 4, "B", 7))


def test_crc_flip_everywhere():
    _, _, data = sample_file()
    for pos in list(range(5, 80)) + list(range(80, len(data), 97)) + [len(data) - 1]:
        b = bytearray(data)
        b[pos] ^= 0x04
        with pytest.raises(BitstreamError, match="CRC mismatch: file is corrupt|truncated|trailing"):
            read_slt(bytes(b))


def test_crc_flip_in_payload_says_crc():
    _, _, data = sample_file()
    b = bytearray(data)
    b[len(data) // 2] ^= 1
    with pytest.raises(BitstreamError, match="^CRC mismatch: file is corrupt$"):
        read_slt(bytes(b))


def test_truncation_at_several_points():
    h, _, data = sample_file(segments=2)
    hl = header_len(h)
    points = [1, 3, 4, 5, 9, 12, 26, 30, hl - 1, hl, hl + 1, hl + 21, hl + 42, hl + 100, len(data) // 2, len(data) - 4, len(data) - 1]
    for n in points:
        with pytest.raises(BitstreamError, match="^truncated: ") as info:
            read_slt(data[:n])
        assert "\n" not in str(info.value)


def test_trailing_bytes():
    _, _, data = sample_file()
    with pytest.raises(BitstreamError, match="trailing garbage"):
        read_slt(data + b"\x00")
    # Even with a CRC recomputed over the garbage the length check fires.
    with pytest.raises(BitstreamError, match="trailing garbage"):
        read_slt(with_crc(data[:-4] + b"junk"))


@pytest.mark.parametrize(
    "offset,fmt_,value,pattern",
    [
        (5, "B", len(METHODS), "unknown method id"),
        (5, "B", METHODS.index("dense"), "method 'dense' stores no sparsities"),
        (5, "B", METHODS.index("sparse"), "method 'sparse' stores one sparsity"),
        (6, "B", len(GENERATORS), "unknown weight generator id"),
        (7, "B", 1, "unknown pixel format id"),
        (8, "B", 2, "unknown colour matrix id"),
        (9, "B", 2, "unknown header flags"),
        (10, "H", 31, "width 31"),
        (10, "H", 0, "width 0"),
        (12, "H", 65534, "height 65534"),
        (14, "I", 10**9, "frame count 1000000000"),
        (18, "I", 0, "frame rate"),
        (22, "I", 0, "frame rate"),
        (27 + 4, "f", 0.4, "increasing"),  # sparsity[1] < sparsity[0]
        (27 + 8, "f", 1.0, "increasing"),
        (27, "f", float("nan"), "increasing"),
        (27 + 12 + 0, "H", 0, "pe_levels"),
        (27 + 12 + 2, "f", float("inf"), "pe_base"),
        (27 + 12 + 6, "I", 2**32 - 1, "stem_hidden"),
        (27 + 12 + 10, "H", 5000, "grid"),
        (27 + 12 + 14, "B", 4, "kernel"),
        (27 + 12 + 16, "B", 9, "strides"),
        (27 + 12 + 17, "I", 0, "channels"),
    ],
)
def test_invalid_fields_with_valid_crc(offset, fmt_, value, pattern):
    _, _, data = sample_file()
    bad = patch(data, offset, fmt_, value)
    with pytest.raises(BitstreamError, match=pattern) as info:
        read_slt(bad)
    assert "\n" not in str(info.value)
    assert "CRC" not in str(info.value)


def _big_header_file(**net_kw):
    """A structurally valid file whose header describes an absurd video, with a valid CRC."""
    h = base_header(frames=5)
    body = bytearray(fmt.header_bytes(replace(h, network=replace(NET, **net_kw)) if net_kw else h))
    return h, body


def assert_rejected_fast(data: bytes, match: str) -> None:
    """read_slt refuses `data` with a BitstreamError matching `match`, in < 0.5 s and < 1 MiB."""
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(BitstreamError, match=match):
        read_slt(data)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 1 << 20


def test_absurd_frame_count_rejected_fast():
    h, body = _big_header_file()
    struct.pack_into("<I", body, 14, 10**9)
    body += struct.pack("<H", 1) + struct.pack("<IIQI", 0, 10**9, 1, 0)
    assert_rejected_fast(with_crc(body), "frame count")


def test_absurd_layer_size_rejected_fast():
    # stem1 = channels[0] * grid * stem_hidden = 65536 * 48 * 65536 ~ 2e11 weights (each field in range).
    net_kw = dict(stem_hidden=65536, channels=(65536, 4))
    h, body = _big_header_file(**net_kw)
    body += struct.pack("<H", 1) + struct.pack("<IIQI", 0, 5, 1, 0)
    assert_rejected_fast(with_crc(body), "layer stem1 has")


def test_too_many_levels_in_file_rejected():
    # A legal network (stem1 = 682 * 48 * 2048, just under 2^26 weights) over 20 one-frame segments.
    n_seg = 20
    h = base_header(frames=n_seg)
    body = bytearray(fmt.header_bytes(replace(h, network=replace(NET, stem_hidden=2048, channels=(682, 4)))))
    body += struct.pack("<H", n_seg)
    for i in range(n_seg):
        body += struct.pack("<IIQI", i, 1, 1, 0)
    with pytest.raises(BitstreamError, match="mask levels, more than"):
        read_slt(with_crc(body))


def test_segment_table_errors():
    h, _, data = sample_file(segments=2)
    table = header_len(h) + 2
    with pytest.raises(BitstreamError, match="segment 1 starts at frame 6"):
        read_slt(patch(data, table + 20, "I", 6))
    with pytest.raises(BitstreamError, match="segment 0 has no frames"):
        read_slt(patch(patch(data, table + 4, "I", 0), table + 20, "I", 0))
    with pytest.raises(BitstreamError, match="cover 11 frames"):
        read_slt(patch(data, table + 24, "I", 6))
    with pytest.raises(BitstreamError, match="segment count 0"):
        body = bytearray(data[: table - 2]) + struct.pack("<H", 0)
        read_slt(with_crc(body))
    # Moving 4 bytes of payload length from segment 0 to segment 1 keeps the total consistent.
    (len0,) = struct.unpack_from("<I", data, table + 16)
    (len1,) = struct.unpack_from("<I", data, table + 36)
    bad = patch(patch(data, table + 16, "I", len0 - 4), table + 36, "I", len1 + 4)
    with pytest.raises(BitstreamError, match="segment 0"):
        read_slt(bad)


def test_counts_not_matching():
    h, segs, data = sample_file()
    k = len(h.sparsity)
    payload = header_len(h) + 2 + 20
    counts_at = payload + 4 * k
    counts = struct.unpack_from(f"<{k + 1}I", data, counts_at)
    # Sum no longer equals the layer's weight count.
    with pytest.raises(BitstreamError, match="segment 0 layer stem0: level counts sum"):
        read_slt(patch(data, counts_at, "I", counts[0] + 1))
    # Same sum, different histogram: the decoded levels cannot match.
    assert counts[0] != counts[1]
    bad = patch(patch(data, counts_at, "I", counts[1]), counts_at + 4, "I", counts[0])
    with pytest.raises(BitstreamError, match="segment 0 layer stem0") as info:
        read_slt(bad)
    assert "\n" not in str(info.value)


def test_corrupt_words_with_valid_crc():
    h, segs, data = sample_file()
    k = len(h.sparsity)
    words_at = header_len(h) + 2 + 20 + 4 * k + 4 * (k + 1) + 4
    for delta in (0, 5, 11):
        b = bytearray(data)
        b[words_at + delta] ^= 0x5A
        with pytest.raises(BitstreamError, match="segment 0 layer stem0"):
            read_slt(with_crc(b[:-4]))


def test_word_count_beyond_payload():
    h, _, data = sample_file()
    k = len(h.sparsity)
    nwords_at = header_len(h) + 2 + 20 + 4 * k + 4 * (k + 1)
    with pytest.raises(BitstreamError, match="exceed the segment payload"):
        read_slt(patch(data, nwords_at, "I", 2**32 - 1))


def test_non_finite_scale():
    h, _, data = sample_file()
    with pytest.raises(BitstreamError, match="non-finite scale"):
        read_slt(patch(data, header_len(h) + 2 + 20, "f", float("nan")))


def test_random_corruption_never_escapes():
    _, _, data = sample_file(segments=2)
    rng = np.random.default_rng(1)
    for _ in range(200):
        b = bytearray(data)
        for pos in rng.integers(0, len(b) - 4, rng.integers(1, 4)):
            b[pos] = int(rng.integers(0, 256))
        b = with_crc(b[:-4])  # defeat the CRC so the deeper checks run
        try:
            read_slt(b)
        except BitstreamError as e:
            assert "\n" not in str(e)
