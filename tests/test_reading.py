"""Reading a .slt by its own sizes (bitstream/stream.py) and decoding segments lazily: the magic
first, then only the bytes the header describes; `info` and a frame range decode no more levels
than they need."""

import io
import struct

import numpy as np
import pytest
import torch

from inrcodec import api
from inrcodec.bitstream import format as fmt
from inrcodec.bitstream import read_slt
from inrcodec.bitstream.stream import read_slt_bytes
from inrcodec.decoder import Decoder
from inrcodec.errors import BitstreamError
from inrcodec.model.masked import fold_weight

from . import fuzz_structured as fs


@pytest.fixture(scope="module")
def three_segments():
    return fs.crafted_file(32, 24, fs.TINY, frames=6, segments=3)


class Endless(io.RawIOBase):
    """/dev/zero as a stream: counts what is read from it."""

    def __init__(self, prefix=b""):
        self.prefix, self.served = prefix, 0

    def readable(self):
        return True

    def readinto(self, b):
        n = len(b)
        chunk = (self.prefix + bytes(n))[:n]
        self.prefix = self.prefix[n:]
        b[:n] = chunk
        self.served += n
        return n


def test_not_an_slt_is_refused_after_a_few_bytes():
    z = Endless()
    with pytest.raises(BitstreamError, match="wrong magic number"):
        read_slt_bytes(io.BufferedReader(z, 4096))
    assert z.served <= 8192


def test_a_valid_header_followed_by_endless_bytes_reads_no_more_than_it_describes(three_segments):
    z = Endless(three_segments)
    with pytest.raises(BitstreamError, match="trailing garbage"):
        read_slt_bytes(io.BufferedReader(z, 4096))
    assert z.served < len(three_segments) + (1 << 17)


def test_stream_shorter_or_longer_than_its_header(three_segments):
    assert read_slt_bytes(io.BytesIO(three_segments)) == three_segments
    for cut in (3, 5, 30, 60, len(three_segments) - 1):
        with pytest.raises(BitstreamError, match="truncated|too short"):
            read_slt_bytes(io.BytesIO(three_segments[:cut]))
    with pytest.raises(BitstreamError, match="trailing garbage"):
        read_slt_bytes(io.BytesIO(three_segments + b"x"))


def test_huge_declared_payloads_are_refused_before_reading_them(three_segments):
    header_len = len(fmt.header_bytes(read_slt(three_segments)[0]))
    b = bytearray(three_segments)
    for s in range(3):  # three 4 GiB payloads: 12 GiB described by 200 bytes
        struct.pack_into("<I", b, header_len + 2 + 20 * s + 16, 2**32 - 1)
    with pytest.raises(BitstreamError, match="more than 4294967296"):
        read_slt_bytes(io.BytesIO(bytes(b)))


def _count_decodes(monkeypatch):
    calls = []
    from inrcodec.methods import supermask

    real = supermask.decode_levels

    def counting(*a, **kw):
        calls.append(kw.get("what"))
        return real(*a, **kw)

    monkeypatch.setattr(supermask, "decode_levels", counting)
    return calls


def test_info_decodes_no_levels_and_a_range_only_its_segment(tmp_path, three_segments, monkeypatch):
    path = tmp_path / "x.slt"
    path.write_bytes(three_segments)
    calls = _count_decodes(monkeypatch)
    report = api.info(str(path))
    assert report["bytes"] == len(three_segments) and len(report["segments"]) == 3
    assert sum(report["sections"].values()) == len(three_segments)
    assert calls == []
    out = tmp_path / "o.y4m"
    api.decode(str(path), str(out), frames="2:4", device="cpu")  # segment 1 only
    n_layers = len(fs.TINY.layer_shapes())
    assert len(calls) == n_layers and all(c.startswith("segment 1 ") for c in calls)


def test_lazy_segments_decode_the_same_as_read_slt(three_segments):
    header, eager, sizes = read_slt(three_segments)
    h2, lazy, sizes2 = fmt.open_slt(three_segments)
    assert h2 == header and sizes2 == sizes
    assert [s.layers for s in lazy] == [s.layers for s in eager]
    a = np.concatenate(list(Decoder(header, eager, torch.device("cpu")).render(range(6))))
    b = np.concatenate(list(Decoder(h2, lazy, torch.device("cpu")).render(range(6))))
    assert np.array_equal(a, b)


def test_folding_in_chunks_is_exact(monkeypatch):
    from inrcodec.model import masked

    g = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, (5, 7, 3, 3), generator=g).float() * 2 - 1
    level = torch.randint(0, 4, (5, 7, 3, 3), generator=g).to(torch.uint8)
    scales = torch.tensor([0.5, 0.25, 0.125])
    whole = fold_weight(signs, level, scales)
    monkeypatch.setattr(masked, "FOLD_CHUNK", 16)
    chunked = fold_weight(signs, level, scales)
    assert chunked.shape == whole.shape and torch.equal(chunked, whole)
