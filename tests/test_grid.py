"""slt-grid (issue 14): the latents' integer probability tables against hand-computed values, the
round trip through the file, the same bytes for the same seed, corrupt payloads refused with one
line, and its place in the bitstream (version 2 on)."""

import struct
import zlib

import numpy as np
import pytest

from inrcodec import api, methods
from inrcodec.bitstream import format as fmt, read_slt
from inrcodec.encoder import EncodeOptions, encode_clip
from inrcodec.entropy import geometric as geo
from inrcodec.errors import BitstreamError, InputError
from inrcodec.fit.trainer import FitOptions

from .conftest import synthetic_clip


def _options(epochs: int = 2, **kw) -> EncodeOptions:
    return EncodeOptions(method="slt-grid", device="cpu", seed=5, fit=FitOptions(epochs=epochs, threads=1), **kw)


@pytest.fixture(scope="module")
def grid_file() -> bytes:
    return encode_clip(synthetic_clip(frames=3), _options(epochs=8, lmbda=0.001))


def test_tables_are_the_documented_integers():
    # theta = 1/2: q_k = 2^30 / 2^k exactly, weight = q_|v| + 1
    np.testing.assert_array_equal(geo.table_weights(32768, 2),
                                  [2**28 + 1, 2**29 + 1, 2**30 + 1, 2**29 + 1, 2**28 + 1])
    # theta_q = 12345: q_1 = 12345 * 2^14 = 202260480, q_2 = floor(202260480 * 12345 / 2^16) = 38099756
    # (2496905625600 / 65536 = 38099756.25), q_3 = floor(38099756 * 12345 / 2^16) = 7176841
    # (470341487820 / 65536 = 7176841.04)
    w = geo.table_weights(12345, 3)
    np.testing.assert_array_equal(w, [7176842, 38099757, 202260481, 2**30 + 1, 202260481, 38099757, 7176842])
    p = geo.probabilities(12345, 3)
    # sum = 2^30 + 1 + 2 * (202260481 + 38099757 + 7176842) = 1568815985
    assert int(w.sum()) == 1568815985 and p[3] == (2**30 + 1) / 1568815985 and p[0] == 7176842 / 1568815985
    np.testing.assert_array_equal(geo.table_weights(1, 2), [1, 2**14 + 1, 2**30 + 1, 2**14 + 1, 1])  # tails floor to 0 (+1)
    np.testing.assert_array_equal(geo.table_weights(40000, 0), [2**30 + 1])
    with pytest.raises(ValueError):
        geo.table_weights(0, 2)
    with pytest.raises(ValueError):
        geo.table_weights(65536, 2)


def test_latents_round_trip_and_corrupt_words_fail_in_one_line():
    rng = np.random.default_rng(1)
    a = np.rint(rng.laplace(0, 3, 5000)).astype(np.int16)
    b = np.zeros(7, np.int16)
    m = int(np.abs(a).max())
    t = geo.fit_theta(a)
    words = geo.encode_grids([(a, t, m), (b, t, 0), (a[:9], 999, m)])
    got = geo.decode_grids(words, [(a.size, t, m), (7, t, 0), (9, 999, m)], "x")
    assert all(np.array_equal(g, e) for g, e in zip(got, (a, b, a[:9])))
    assert 32 * words.size / a.size < 1.02 * float(-np.log2(geo.probabilities(t, m)[a + m]).mean()) + 0.01
    with pytest.raises(BitstreamError, match="not fully consumed|invalid|out of range") as e:
        geo.decode_grids(words[1:], [(a.size, t, m), (7, t, 0), (9, 999, m)], "x")
    assert "\n" not in str(e.value)


def test_round_trip_through_the_file_and_the_same_bytes(grid_file, tmp_path):
    header, segments, sizes = read_slt(grid_file)
    assert header.version == fmt.VERSION == 5 and header.method == "slt-grid" and header.network.levels >= 1
    assert header.network.context and header.network.residual
    assert sum(sizes.values()) == len(grid_file) and any(k.startswith("latents/") for k in sizes)
    assert {"model", "scales", "counts", "masks/in", "masks/out"} <= set(sizes)
    lat = segments[0].layers[-1]
    assert lat.grids[0].shape[0] == 3 and lat.grids[0].dtype == np.int16 and any(g.any() for g in lat.grids)
    # writing the decoded segments again gives the same file; the same seed gives the same bytes
    assert fmt.write_slt(header, [fmt.Segment(s.first_frame, s.frame_count, s.seed, s.layers) for s in segments]) == grid_file
    assert encode_clip(synthetic_clip(frames=3), _options(epochs=8, lmbda=0.001)) == grid_file
    path = tmp_path / "g.slt"
    path.write_bytes(grid_file)
    api.decode(str(path), str(tmp_path / "all.y4m"), device="cpu")
    api.decode(str(path), str(tmp_path / "one.y4m"), device="cpu", frames="1:2")
    from inrcodec.video.io import read_video

    all_frames, one = read_video(str(tmp_path / "all.y4m")).frames, read_video(str(tmp_path / "one.y4m")).frames
    assert all_frames.shape[0] == 3 and np.array_equal(one[0], all_frames[1])
    assert api.info(str(path))["network"]["grid_levels"] == header.network.levels


def test_row_bands_render_the_whole_frame_exactly(grid_file):
    import torch

    header, segments, _ = read_slt(grid_file)
    net = methods.get("slt-grid").decoder_network(header, segments[0].seed, segments[0].layers, torch.device("cpu"))
    t = torch.tensor([0.0, 0.5, 1.0])
    whole = net(t)
    banded = net.render(t, 4 * 3 * header.width * 60)  # a few rows per band
    torch.testing.assert_close(banded, whole, rtol=1e-5, atol=1e-5)


def _recrc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_corrupt_payloads_fail_in_one_line(grid_file):
    header, table, start = fmt.parse(grid_file)
    body = grid_file[:-4]
    rng = np.random.default_rng(0)
    failures = 0
    for pos in list(range(start, len(body))) + list(rng.integers(start, len(body), 50)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(body)
            bad[pos] ^= flip
            try:
                fmt.read_slt(_recrc(bytes(bad)))
            except BitstreamError as e:
                assert "\n" not in str(e)
                failures += 1
    assert failures > 0
    for cut in (1, 5, 40):  # a payload shorter than its contents, with the table's length fixed up
        short = bytearray(body[: len(body) - cut])
        struct.pack_into("<I", short, start - 4, table[0][3] - cut)
        with pytest.raises(BitstreamError) as e:
            fmt.read_slt(_recrc(bytes(short)))
        assert "\n" not in str(e.value)


def test_a_version_1_file_cannot_hold_slt_grid(grid_file):
    from inrcodec.bitstream import v1

    header = read_slt(grid_file)[0]
    # version 1's layout cannot even declare the grid config: a v1 file with method id 5 is refused
    data = bytearray(fmt.write_slt(*_slt_file()))
    data[4], data[5] = 1, methods.get("slt-grid").id
    with pytest.raises(BitstreamError, match="slt-grid.*version 2|needs a grid network config") as e:
        fmt.read_slt(_recrc(bytes(data[:-4])))
    assert "\n" not in str(e.value)
    assert v1.VERSION == 1 and header.version == fmt.VERSION


def _slt_file():
    clip = synthetic_clip(frames=2)
    data = encode_clip(clip, EncodeOptions(method="slt", preset="tiny", device="cpu", fit=FitOptions(epochs=1, threads=1)))
    h, segs, _ = read_slt(data)
    return h, segs


def test_option_values_are_checked():
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="--lambda"):
            _options(lmbda=bad).validate()
    with pytest.raises(InputError, match="--channels"):
        _options(c0=1000).validate()
    assert _options(lmbda=0.5).method_config().lmbda == 0.5


def test_rate_search_moves_lambda_the_right_way():
    m = methods.get("slt-grid")
    first = m.rate_overrides(0.1, [])["lmbda"]
    assert m.rate_overrides(0.05, [])["lmbda"] > first  # a lower rate asks for a larger lambda
    too_big = m.rate_overrides(0.1, [({"lmbda": first}, 0.2)])["lmbda"]
    assert too_big > first
    between = m.rate_overrides(0.1, [({"lmbda": first}, 0.2), ({"lmbda": too_big}, 0.05)])["lmbda"]
    assert first < between < too_big


def test_shared_coarse_grids_round_trip(monkeypatch, tmp_path):
    """The temporal path: the coarsest grids held once per segment (grid_shared in the header)."""
    from inrcodec.methods import grid

    monkeypatch.setattr(grid, "SHARED", 1)
    data = encode_clip(synthetic_clip(64, 48, frames=3), _options(epochs=6, lmbda=0.001, segment_frames=2))  # 2 grids
    header, segments, sizes = read_slt(data)
    assert header.network.shared == 1 and len(segments) == 2
    for seg in segments:
        g = seg.layers[-1].grids
        assert g[-1].shape[0] == 1 and g[0].shape[0] == seg.frame_count
    assert fmt.write_slt(header, [fmt.Segment(s.first_frame, s.frame_count, s.seed, s.layers) for s in segments]) == data
    path = tmp_path / "s.slt"
    path.write_bytes(data)
    api.decode(str(path), str(tmp_path / "s.y4m"), device="cpu")
    bad = replace_grid(segments[0].layers, -1, np.zeros((2,) + segments[0].layers[-1].grids[-1].shape[1:], np.int16))
    with pytest.raises(ValueError, match="latent grid"):
        fmt.payload_bytes(header, 0, bad, 2)


def replace_grid(layers, li, array):
    from inrcodec.methods.grid import GridLatents

    grids = list(layers[-1].grids)
    grids[li] = array
    return layers[:-1] + [GridLatents(theta=layers[-1].theta, grids=grids, laws=layers[-1].laws, offsets=layers[-1].offsets)]


@pytest.mark.parametrize("inner", [1, 2])
def test_an_interrupted_fit_resumes_to_the_same_payload(monkeypatch, inner):
    from inrcodec.encoder import file_header
    from inrcodec.methods import grid
    from inrcodec.segment import FitHooks, Stopped, fit_segment, segment_jobs, segment_payload

    monkeypatch.setattr(grid, "INNER", inner)  # stopped between two frame visits of INNER steps each

    clip = synthetic_clip(frames=3)
    opts = _options(epochs=3, lmbda=0.001)
    job = segment_jobs(3, None, opts.seed)[0]
    whole = fit_segment(job, clip.frames, clip.info, opts)
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] == 5  # in the middle of the second epoch

    with pytest.raises(Stopped) as stopped:
        fit_segment(job, clip.frames, clip.info, opts, hooks=FitHooks(should_stop=stop))
    resumed = fit_segment(job, clip.frames, clip.info, opts, state=stopped.value.state)
    header = file_header(clip.info, 3, opts)
    assert segment_payload(header, resumed) == segment_payload(header, whole)


def test_inner_steps_and_the_warm_start(monkeypatch):
    """Each frame visit takes INNER optimiser steps (an epoch still visits every frame once), and
    the warm start's first epoch starts frame i's own latents from frame i - 1's."""
    import torch
    from inrcodec.methods import grid

    monkeypatch.setattr(grid, "INNER", 3)
    monkeypatch.setattr(grid, "WARM", True)
    monkeypatch.setattr(grid, "RESIDUAL", False)  # a residual grid's frames start at zero difference instead
    clip = synthetic_clip(64, 48, frames=3)
    opts = _options(epochs=2, lmbda=0.001)
    net = grid.build_grid_synthesis(opts.network(64, 48), 64, 48, 5, (0.5, 0.8, 0.92), torch.device("cpu"))
    fitter = grid.GridFitter(net, clip.frames, clip.info, opts.fit, 0.001, torch.device("cpu"))
    seen = []
    real_step = fitter.train_step
    monkeypatch.setattr(fitter, "train_step", lambda i: (seen.append(i), real_step(i))[1])
    with torch.no_grad():
        fitter.latents[fitter.slot[0]].fill_(2.0)  # frame 0's finest grid, before any step
    copied = []
    real_warm = fitter._warm_start
    monkeypatch.setattr(fitter, "_warm_start", lambda i: (real_warm(i), copied.append(
        torch.equal(fitter.latents[fitter.slot[0] + i], fitter.latents[fitter.slot[0] + i - 1])))[0])
    assert fitter.run()
    assert fitter.step == 3 * 2 * 3 == fitter.total_steps and fitter.steps_per_epoch == 3
    assert seen[:9] == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # the warm epoch in frame order, INNER steps per visit
    assert sorted(seen[9:]) == [0, 0, 0, 1, 1, 1, 2, 2, 2] and seen[9:12] == [seen[9]] * 3
    assert copied == [True, True]  # frames 1 and 2 started from their predecessor's latents


def test_residual_grids_code_frame_differences():
    """Version 3's grid_residual: a per-frame grid is coded as its first frame, then each frame's
    difference from the one before; the decoder's running sum gives the grid back, and shared
    grids are coded as they are."""
    from inrcodec.model.grid import GridConfig

    cfg = GridConfig(first=1, levels=2, channels=1, hidden=4, layers=0, kernel=1, shared=1, residual=True)
    g = np.array([3, 5, 5, -2], np.int64).reshape(4, 1, 1, 1) * np.ones((1, 1, 2, 3), np.int64)
    coded = cfg.coded(0, g)
    np.testing.assert_array_equal(coded[:, 0, 0, 0], [3, 2, 0, -7])
    np.testing.assert_array_equal(cfg.uncoded(0, coded), g)
    np.testing.assert_array_equal(cfg.coded(1, g[:1]), g[:1])  # the shared grid
    np.testing.assert_array_equal(cfg.uncoded(1, g[:1]), g[:1])
    plain = GridConfig(first=1, levels=2, channels=1, hidden=4, layers=0, kernel=1, shared=1)
    np.testing.assert_array_equal(plain.coded(0, g), g)


def test_residual_grids_round_trip_and_need_version_3(monkeypatch, tmp_path):
    from inrcodec.bitstream import v2
    from inrcodec.methods import grid

    monkeypatch.setattr(grid, "RESIDUAL", True)
    monkeypatch.setattr(grid, "CONTEXT", False)  # version 3's one geometric law per grid and channel
    monkeypatch.setattr(grid, "SHARED", 1)
    opts = _options(epochs=6, lmbda=0.001)
    data = encode_clip(synthetic_clip(64, 48, frames=4), opts)
    header, segments, sizes = read_slt(data)
    assert header.version == fmt.VERSION and header.network.residual and not header.network.context and header.network.shared == 1
    lat = segments[0].layers[-1]
    assert lat.grids[0].shape[0] == 4 and np.abs(lat.grids[0]).max() > 0  # per-frame latents, not all zero
    assert fmt.write_slt(header, [fmt.Segment(s.first_frame, s.frame_count, s.seed, s.layers) for s in segments]) == data
    assert encode_clip(synthetic_clip(64, 48, frames=4), opts) == data  # the same bytes for the same seed
    # what is coded is the differences: their law (theta) is fitted on them, not on the grid
    coded = header.network.coded(0, lat.grids[0].astype(np.int64))
    assert int(lat.theta[0, 0]) == geo.fit_theta(coded[:, 0])
    path = tmp_path / "r.slt"
    path.write_bytes(data)
    api.decode(str(path), str(tmp_path / "r.y4m"), device="cpu")
    with pytest.raises(ValueError, match="version 3"):
        v2.header_bytes(header)
    # a frame difference the coder cannot hold is refused when writing
    big = lat.grids[0].astype(np.int16).copy()
    big[0], big[1] = -geo.MAX_MAGNITUDE, geo.MAX_MAGNITUDE
    with pytest.raises(ValueError, match="frame differences"):
        fmt.payload_bytes(header, 0, replace_grid(segments[0].layers, 0, big), 4)
    # a payload whose running sums leave the codable range is refused when reading, in one line
    from dataclasses import replace

    plain = replace(header, network=replace(header.network, residual=False))
    high = np.full_like(lat.grids[0], 3000)
    payload = fmt.payload_bytes(plain, 0, replace_grid(segments[0].layers, 0, high), 4)
    with pytest.raises(BitstreamError, match="sums to more than 4095") as e:
        fmt.segment_layers(header, 0, payload, 4)
    assert "\n" not in str(e.value)


def test_residual_fit_codes_each_frames_own_difference(monkeypatch):
    """A residual grid's parameters are the frame differences: frame i renders from the rounded
    differences of frames 0..i-1 plus its own (quantised), the rate is charged on its own
    difference only, and the stored latents are the running sums."""
    import torch
    from inrcodec.methods import grid

    monkeypatch.setattr(grid, "RESIDUAL", True)
    clip = synthetic_clip(64, 48, frames=3)
    opts = _options(epochs=1, lmbda=0.001)
    cfg = opts.network(64, 48)
    assert cfg.residual and cfg.shared < cfg.levels
    net = grid.build_grid_synthesis(cfg, 64, 48, 5, (0.5, 0.8, 0.92), torch.device("cpu"))
    fitter = grid.GridFitter(net, clip.frames, clip.info, opts.fit, 0.001, torch.device("cpu"))
    base = fitter.slot[0]
    fitter.step = fitter.total_steps  # the straight-through phase: quantised = rounded
    with torch.no_grad():
        for i, v in enumerate((1.2, -0.3, 2.6)):
            fitter.latents[base + i].fill_(v)
        shown, coded = fitter._frame_grids(2)[0]
    assert torch.all(shown == 1 + 0 + 3) and torch.all(coded == 3)
    assert torch.all(fitter._frame_grids(0)[0][1] == 1)
    g = fitter.payload()[-1].grids[0]
    assert g.shape[0] == 3 and (g[:, 0] == np.array([1, 1, 4])[:, None, None]).all()


def test_slt_grid_groups_are_planned_unless_told():
    """slt-grid's default segments are content-adaptive groups of at most 32 frames (gop.py; a
    residual chain over a whole clip fitted worse); --segment-frames fixes them, and the other
    methods keep one segment."""
    clip = synthetic_clip(32, 24, frames=20)
    header, segments, _ = read_slt(encode_clip(clip, _options(epochs=1, lmbda=0.01)))
    assert sum(s.frame_count for s in segments) == 20 and all(s.frame_count <= 32 for s in segments)
    header, segments, _ = read_slt(encode_clip(clip, _options(epochs=1, lmbda=0.01, segment_frames=16)))
    assert [(s.first_frame, s.frame_count) for s in segments] == [(0, 16), (16, 4)]
    assert EncodeOptions(method="slt").segment_length is None and _options().segment_length == 32
    assert _options(segment_frames=16).segment_length == 16


# -- version 4: zero-inflated laws chosen by temporal context -----------------------------------

def test_zero_inflated_law_table_by_hand():
    """p0_q = 3/4, theta_q = 1/2, m = 2: w_1 = 2^30 + 1, w_2 = 2^29 + 1, S = 2 (w_1 + w_2);
    P(0) = 3/4 exactly and P(+-k) = (2^16 - p0_q) w_k / (2^16 S), each one correctly rounded division."""
    from fractions import Fraction

    from inrcodec.entropy import inflated

    p = inflated.law_probabilities(49152, 32768, 2)
    s = 2 * ((2**30 + 1) + (2**29 + 1))
    p1, p2 = float(Fraction(16384 * (2**30 + 1), 65536 * s)), float(Fraction(16384 * (2**29 + 1), 65536 * s))
    assert p.tolist() == [p2, p1, 0.75, p1, p2]
    assert abs(p1 - 0.25 * 2 / 3 / 2) < 1e-9 and abs(p.sum() - 1) < 1e-12
    assert inflated.law_probabilities(1, 65535, 1).tolist() == [65535 / 131072, 1 / 65536, 65535 / 131072]
    for bad in ((0, 10, 3), (10, 0, 3), (10, 10, 0), (10, 10, geo.MAX_MAGNITUDE + 1)):
        with pytest.raises(ValueError):
            inflated.law_probabilities(*bad)
    # the encoder's law: P(0) from the zeros' share, theta from the mean of |v| - 1 over the rest
    assert inflated.fit_law(np.array([0, 0, 0, 1, -2, 3])) == (32768, 32768)
    assert inflated.fit_law(np.zeros(5, np.int64)) == (65535, 1)


def test_runs_under_several_laws_round_trip_at_their_entropy():
    from inrcodec.entropy import inflated

    rng = np.random.default_rng(3)
    sparse = rng.integers(-3, 4, 4000) * (rng.random(4000) < 0.1)
    dense = rng.integers(-9, 10, 500)
    laws = [(*inflated.fit_law(v), int(np.abs(v).max())) for v in (sparse, dense)]
    enc = inflated.RunEncoder()
    enc.add(sparse[:1000], laws[0])
    enc.add(dense, laws[1])
    enc.add(np.zeros(7, np.int64), (5, 5, 0))  # a law of m = 0 codes nothing
    enc.add(sparse[1000:], laws[0])
    words = enc.words()
    dec = inflated.RunDecoder(words, "x")
    got = [dec.take(1000, laws[0]), dec.take(500, laws[1]), dec.take(7, (5, 5, 0)), dec.take(3000, laws[0])]
    dec.finish()
    assert all(np.array_equal(g, e) for g, e in zip(got, (sparse[:1000], dense, np.zeros(7), sparse[1000:])))
    ideal = sum(inflated.law_bits(law[0] / 65536, law[1] / 65536, v) for law, v in zip(laws, (sparse, dense)))
    assert 32 * words.size < 1.02 * ideal + 64
    with pytest.raises(BitstreamError, match="not fully consumed|invalid|out of range") as e:
        bad = inflated.RunDecoder(words[1:], "x")
        bad.take(1000, laws[0]), bad.take(500, laws[1]), bad.take(3000, laws[0])
        bad.finish()
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="magnitude"):
        enc.add(np.array([4]), (10, 10, 3))


def test_difference_contexts_by_hand_and_on_both_array_kinds():
    import torch
    from inrcodec.model.grid import difference_contexts

    prev = np.zeros((4, 5), np.int64)
    prev[0, 0] = 2
    prev[2, 2], prev[2, 3], prev[3, 3] = -1, 1, 1
    want = np.array([[1, 1, 0, 0, 0],
                     [1, 1, 1, 1, 1],
                     [0, 1, 2, 2, 1],
                     [0, 1, 2, 2, 1]])
    np.testing.assert_array_equal(difference_contexts(prev), want)
    rnd = np.random.default_rng(1).integers(-1, 2, (2, 3, 6, 7)) * (np.random.default_rng(2).random((2, 3, 6, 7)) < 0.3)
    np.testing.assert_array_equal(difference_contexts(torch.from_numpy(rnd).float()).numpy(), difference_contexts(rnd))


def test_the_fits_rate_is_the_files_law_at_integers():
    """inflated_bits (the fit's rate term) equals the coded law's ideal bits at integer latents."""
    import torch
    from inrcodec.entropy.inflated import law_bits
    from inrcodec.methods.grid import inflated_bits

    y = torch.tensor([0.0, 0.0, 1.0, -1.0, 2.0, -4.0]).view(1, 1, 2, 3)
    logits = torch.tensor([[[1.5, -0.5], [0.0, 0.0]]])  # one channel, laws 0 and 1
    p0, theta = torch.sigmoid(logits[0, 0]).tolist()
    assert abs(float(inflated_bits(y, logits, 0)) - law_bits(p0, theta, y.numpy())) < 1e-4
    law = torch.tensor([[[0, 1, 1], [0, 0, 1]]])
    want = law_bits(p0, theta, np.array([0.0, -1.0, 2.0])) + law_bits(0.5, 0.5, np.array([0.0, 1.0, -4.0]))
    assert abs(float(inflated_bits(y, logits, law)) - want) < 1e-4


def test_context_coded_grids_round_trip_and_need_version_4(tmp_path):
    """The default (grid_context 1): every law zero-inflated, fitted to exactly the values it codes
    (law_runs: d_0, d_1, then each later frame's cells by context), the same bytes again, and a
    version-3 layout refuses to write it."""
    from inrcodec.bitstream import v3
    from inrcodec.entropy.inflated import fit_law
    from inrcodec.methods.grid import law_runs

    data = encode_clip(synthetic_clip(64, 48, frames=5), _options(epochs=6, lmbda=0.001, segment_frames=5))
    header, segments, sizes = read_slt(data)
    net = header.network
    assert header.version == fmt.VERSION and net.context and net.laws(0) == 5 and net.laws(net.levels - 1) == 1
    lat = segments[0].layers[-1]
    assert lat.theta is None and [p.shape for p in lat.laws] == [(net.channels, net.laws(li), 2) for li in range(net.levels)]
    coded = net.coded(0, lat.grids[0].astype(np.int64))
    runs = list(law_runs(net, 0, coded[:, 0]))
    assert [j for j, _ in runs[:2]] == [0, 1] and [j for j, _ in runs[2:5]] == [2, 3, 4] and len(runs) == 2 + 3 * 3
    for law in range(5):
        values = np.concatenate([v for j, v in runs if j == law])
        assert tuple(int(x) for x in lat.laws[0][0, law]) == fit_law(values)
    assert sizes["model"] == 6 * sum(net.channels * net.laws(li) for li in range(net.levels))
    assert fmt.write_slt(header, [fmt.Segment(s.first_frame, s.frame_count, s.seed, s.layers) for s in segments]) == data
    assert encode_clip(synthetic_clip(64, 48, frames=5), _options(epochs=6, lmbda=0.001, segment_frames=5)) == data
    path = tmp_path / "c.slt"
    path.write_bytes(data)
    api.decode(str(path), str(tmp_path / "c.y4m"), device="cpu", frames="3:5")
    with pytest.raises(ValueError, match="version 4"):
        v3.header_bytes(header)
    # a law of p0 0 (the model's first u16, after the synthesis layers) is refused in one line
    from inrcodec.methods.supermask import SupermaskMethod

    synth = len(SupermaskMethod.write_payload(methods.get("slt-grid"), header, 0, segments[0].layers[:-1]))
    body = bytearray(data[:-4])
    at = fmt.parse(data)[2] + synth + sizes["motion"]  # after the motion block (version 5)
    body[at : at + 2] = b"\0\0"
    with pytest.raises(BitstreamError, match="p0 or theta 0") as e:
        read_slt(_recrc(bytes(body)))
    assert "\n" not in str(e.value)
