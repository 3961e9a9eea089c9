"""The NeRV baselines `dense` and `sparse`: trained weights, (pruning,) quantisation and entropy coding
into real .slt files that `decode` reads."""

import json
import math
import os
import signal
import struct
import zlib
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
import torch

import inrcodec
from inrcodec.bitstream import Header, Segment, read_slt, write_slt
from inrcodec.bitstream import format as fmt
from inrcodec.bitstream.format import QuantLayer
from inrcodec.cli.main import main as cli_main
from inrcodec.decoder import Decoder
from inrcodec.encoder import CheckpointOptions, EncodeOptions, encode_clip
from inrcodec.methods.trained import epoch_split, global_prune_masks
from inrcodec.entropy.values import decode_values, dequantize, encode_values, qmax, quantize, value_histogram
from inrcodec.errors import BitstreamError, InputError
from inrcodec.fit import parts as fit_parts
from inrcodec.fit import schedule
from inrcodec.fit import trainer as fit_trainer
from inrcodec.fit.checkpoint import Interrupted
from inrcodec.fit.trainer import Fitter, FitOptions
from inrcodec.model.config import plan_network
from inrcodec.model.nerv import build_dense_nerv, build_supermask_nerv, dense_layers, frame_positions
from inrcodec.video.colour import rgb_to_yuv420

CPU = torch.device("cpu")
NET = plan_network(32, 24, "tiny")


def options(method, epochs=3, **kw):
    return EncodeOptions(method=method, preset="tiny", device="cpu", seed=kw.pop("seed", 2),
                         fit=FitOptions(epochs=epochs, batch_size=2), **kw)


@pytest.fixture(scope="module")
def files():
    from .conftest import synthetic_clip

    clip = synthetic_clip()
    return clip, {m: encode_clip(clip, options(m)) for m in ("dense", "sparse")}


# ---------------------------------------------------------------- quantisation and entropy coding


@pytest.mark.parametrize("bits", [2, 4, 8, 12, 16])
def test_quantise_code_decode_is_exact(bits):
    rng = np.random.default_rng(bits)
    for w in (rng.normal(0, 0.05, (40, 30)), rng.laplace(0, 1, 5000), np.zeros(7), np.full(9, -3.0), rng.normal(size=1)):
        step, q = quantize(w, bits)
        assert np.float32(step) == step and step > 0
        assert q.dtype == np.int16 and q.shape == np.shape(w)
        assert np.abs(q).max(initial=0) <= qmax(bits)
        w32 = np.asarray(w, dtype=np.float32)
        err = np.abs(dequantize(q, step).astype(np.float64) - w32)
        assert err.max(initial=0) <= step / 2 + np.abs(w32).max(initial=0) * 2.0**-22
        lo, counts = value_histogram(q)
        words = encode_values(q.reshape(-1), lo, counts)
        out = decode_values(words, lo, counts, q.size)
        assert out.dtype == np.int16 and np.array_equal(out, q.reshape(-1))


def test_value_coding_across_chunks_and_wider_ranges():
    rng = np.random.default_rng(3)
    q = np.clip(np.rint(rng.laplace(0, 6, 150_000)), -127, 127).astype(np.int16)
    lo, counts = value_histogram(q)
    wide = np.concatenate([[0, 0], counts, [0]]).astype(np.uint32)  # zero counts around the range
    for a, c in ((lo, counts), (lo - 2, wide)):
        assert np.array_equal(decode_values(encode_values(q, a, c), a, c, q.size), q)
    with pytest.raises(ValueError, match="histogram"):
        encode_values(q, lo + 1, counts)


def test_value_decoding_rejects_inconsistent_data():
    q = np.array([1, 2, 2, 3, 3, 3, -1], dtype=np.int16)
    lo, counts = value_histogram(q)
    words = encode_values(q, lo, counts)
    with pytest.raises(BitstreamError, match="sum to"):
        decode_values(words, lo, counts, q.size + 1)
    other = counts.copy()
    other[0], other[-1] = other[-1], other[0]
    with pytest.raises(BitstreamError):
        decode_values(words, lo, other, q.size)
    with pytest.raises(BitstreamError):
        decode_values(np.concatenate([words, [12345]]).astype(np.uint32), lo, counts, q.size)
    with pytest.raises(BitstreamError, match="constant"):
        decode_values(np.array([1], np.uint32), 0, np.array([5], np.uint32), 5)


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_writer_and_reader_round_trip_quantised_layers(method):
    rng = np.random.default_rng(0)
    layers = []
    for i, (_, shape) in enumerate(NET.layer_shapes()):
        w = rng.normal(0, 0.1, shape).astype(np.float32)
        if method == "sparse":
            w[rng.random(shape) < 0.4] = 0
        if i == len(NET.layer_shapes()) - 1:
            w[:] = 0  # an all-zero layer (sparse: nothing coded but the pattern)
        step, q = quantize(w, 6)
        layers.append(QuantLayer(step, q, 6))
    h = Header(width=32, height=24, frames=4, fps=Fraction(25), method=method,
               sparsity=(0.4,) if method == "sparse" else (), network=NET)
    data = write_slt(h, [Segment(0, 4, 7, layers)])
    header, segments, sizes = read_slt(data)
    assert header.method == method and segments[0].layers == layers
    assert sum(sizes.values()) == len(data)
    assert all(f"values/{name}" in sizes for name, _ in NET.layer_shapes())
    assert any(k.startswith("masks/") for k in sizes) == (method == "sparse")
    # wrong payload type, wrong K, values outside the bits' range are refused by the writer
    with pytest.raises(ValueError, match="QuantLayer"):
        write_slt(replace(h, method="slt", sparsity=(0.5,)), [Segment(0, 4, 7, layers)])
    with pytest.raises(BitstreamError, match="K"):
        write_slt(replace(h, sparsity=(0.4, 0.5)), [Segment(0, 4, 7, layers)])
    bad = [QuantLayer(layers[0].step, layers[0].values, 2)] + layers[1:]
    with pytest.raises(ValueError, match="lie in"):
        write_slt(h, [Segment(0, 4, 7, bad)])
    with pytest.raises(ValueError, match="step"):
        write_slt(h, [Segment(0, 4, 7, [QuantLayer(0.0, layers[0].values, 6)] + layers[1:])])


# ---------------------------------------------------------------- fitting and decoding


def _decode_yuv(data, tmp_path, frames):
    path = tmp_path / "x.slt"
    path.write_bytes(data)
    inrcodec.decode(str(path), str(tmp_path / "x.yuv"), device="cpu", overwrite=True)
    return np.fromfile(tmp_path / "x.yuv", dtype=np.uint8).reshape(frames, -1)


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_decoded_frames_equal_the_in_memory_dequantised_model(method, clip, tmp_path):
    """Fit directly, quantise, write; the decoded file equals the fitted net with the dequantised
    weights installed (within one level, as for the supermask methods)."""
    net = build_dense_nerv(NET, 32, 24, seed=4)
    fitter = Fitter(net, clip.frames, clip.info, FitOptions(epochs=2, lr_weights=2e-3), CPU)
    fitter.run()
    weights = fitter.result().weights
    if method == "sparse":
        masks = global_prune_masks(weights, 0.5)
        tune = Fitter(net, clip.frames, clip.info, FitOptions(epochs=1), CPU, masks=[torch.from_numpy(m) for m in masks])
        tune.run()
        weights = tune.result().weights
        assert all(np.all(w[~m] == 0) for w, m in zip(weights, masks))
    layers = [QuantLayer(*quantize(w, 8), 8) for w in weights]
    with torch.no_grad():
        for m, layer in zip(dense_layers(net), layers):
            m.weight.copy_(torch.from_numpy(dequantize(layer.values, layer.step)))
        expected = rgb_to_yuv420(net(frame_positions(torch.arange(len(clip)), len(clip))), clip.info).numpy()
    h = Header(width=32, height=24, frames=len(clip), fps=clip.info.fps, method=method,
               sparsity=(0.5,) if method == "sparse" else (), network=NET)
    decoded = _decode_yuv(write_slt(h, [Segment(0, len(clip), 4, layers)]), tmp_path, len(clip))
    diff = np.abs(decoded.astype(int) - expected.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_encode_clip_files_decode(method, files, tmp_path):
    clip, data = files[0], files[1][method]
    header, segments, _ = read_slt(data)
    assert header.method == method
    assert header.sparsity == ((np.float32(0.4),) if method == "sparse" else ())
    assert all(layer.bits == 8 for layer in segments[0].layers)
    decoded = _decode_yuv(data, tmp_path, len(clip))
    assert decoded.shape == clip.frames.shape and decoded.std() > 0
    rendered = np.concatenate(list(Decoder(*read_slt(data)[:2], CPU).render(range(len(clip)))))
    assert np.array_equal(decoded, rendered)


def test_sparse_files_have_the_target_fraction_of_zeros(clip):
    for prune in (0.4, 0.75):
        _, segments, sizes = read_slt(encode_clip(clip, options("sparse", prune=prune)))
        values = np.concatenate([layer.values for layer in segments[0].layers])
        zeros = float(np.mean(values == 0))
        # exactly floor(prune * N) weights are pruned; quantisation may round a few more to zero
        assert math.floor(prune * values.size) / values.size <= zeros < prune + 0.02
        assert any(k.startswith("masks/") and v > 0 for k, v in sizes.items())


def test_options_and_determinism(clip):
    with pytest.raises(InputError, match="quant-bits"):
        options("dense", quant_bits=1).validate()
    with pytest.raises(InputError, match="quant-bits"):
        options("dense", quant_bits=17).validate()
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(InputError, match="prune"):
            options("sparse", prune=bad).validate()
    with pytest.raises(InputError, match="finetune"):
        options("sparse", finetune=1.0).validate()
    options("dense", levels=3, sparsity=(0.9, 0.1)).validate()  # ignored by the baselines
    def split(method, epochs):
        return epoch_split(epochs, options(method, epochs=epochs).method_config().finetune)

    assert split("sparse", 10) == (8, 2)
    assert split("sparse", 1) == (1, 0)
    assert split("dense", 10) == (10, 0)
    a = encode_clip(clip, options("dense", epochs=1, quant_bits=5))
    assert a == encode_clip(clip, options("dense", epochs=1, quant_bits=5))
    assert a != encode_clip(clip, options("dense", epochs=1, quant_bits=5, seed=3))
    assert all(layer.bits == 5 for layer in read_slt(a)[1][0].layers)


def test_the_weights_learning_rate_follows_the_fit_length_unless_given():
    def lr(epochs, given=None, table=None):
        return schedule.weights_lr(FitOptions(epochs=epochs, lr_weights=given), table)

    assert lr(1) == lr(30) == lr(100) == 1e-2  # dense: the measured best of short fits
    assert lr(300) == pytest.approx(3e-3) and lr(1000) == pytest.approx(3e-3)  # and of 300-epoch fits
    assert 1e-2 > lr(150) > lr(200) > lr(250) > 3e-3
    assert lr(300, given=0.05) == 0.05
    sparse = schedule.SPARSE_LR_BY_EPOCHS
    assert lr(30, table=sparse) == 1e-2 and lr(100, table=sparse) == pytest.approx(5.5e-3)
    assert lr(300, table=sparse) == pytest.approx(3e-3) and 1e-2 > lr(60, table=sparse) > 5.5e-3
    assert inrcodec.methods.get("sparse").lr_by_epochs == sparse
    assert inrcodec.methods.get("dense").lr_by_epochs == schedule.DENSE_LR_BY_EPOCHS
    assert schedule.describe(sparse) == "0.01 up to 30 epochs, 0.0055 at 100, 0.003 from 300"  # as --help says it
    net = build_dense_nerv(NET, 32, 24, seed=1)
    groups = fit_parts.WeightParts(dense_layers(net), None, CPU).param_groups(FitOptions(epochs=300))
    assert groups[0]["lr"] == groups[0]["base_lr"] == pytest.approx(3e-3)


def test_sparse_fine_tuning_keeps_the_whole_fits_learning_rate(clip, monkeypatch):
    monkeypatch.setattr(inrcodec.methods.get("sparse"), "lr_by_epochs", ((2, 1e-2), (6, 3e-3)))
    seen = []

    class Recording(fit_trainer.Fitter):
        def __init__(self, net, frames, info, opts, *args, **kw):
            seen.append((opts.epochs, opts.lr_weights))
            super().__init__(net, frames, info, opts, *args, **kw)

    monkeypatch.setattr(fit_trainer, "Fitter", Recording)
    encode_clip(clip, options("sparse", epochs=6))
    assert [e for e, _ in seen] == [5, 1]  # training, then the fine-tuning
    assert all(lr == pytest.approx(3e-3) for _, lr in seen)  # a 1-epoch stage on its own would get 1e-2


def test_dense_fitting_improves_quality(clip):
    net = build_dense_nerv(NET, 32, 24, seed=1)
    fitter = Fitter(net, clip.frames, clip.info, FitOptions(epochs=15, eval_every=1), CPU)
    first = fitter.evaluate()
    fitter.run()
    assert fitter.best_psnr > first + 3.0
    result = fitter.result()
    assert result.psnr == max(r.psnr for r in fitter.history if r.psnr is not None)
    assert result.levels == [] and [w.shape for w in result.weights] == [s for _, s in NET.layer_shapes()]
    state = fitter.state_dict()  # a dense fitter's checkpoint: plain tensors, masks none
    assert state["masks"] == [] and set(state["best"]) == {"weights"}


def test_fitter_masks_only_for_dense_networks(clip):
    slt = build_supermask_nerv(NET, 32, 24, seed=1, sparsity=(0.5,))
    with pytest.raises(ValueError, match="dense"):
        Fitter(slt, clip.frames, clip.info, FitOptions(epochs=1), CPU, masks=[torch.ones(1, dtype=torch.bool)])
    dense = build_dense_nerv(NET, 32, 24, seed=1)
    with pytest.raises(ValueError, match="mask"):
        Fitter(dense, clip.frames, clip.info, FitOptions(epochs=1), CPU, masks=[torch.ones(1, dtype=torch.bool)])


@pytest.mark.parametrize("method,stop_at", [("dense", 2), ("sparse", 2), ("sparse", 4)])
def test_interrupt_and_resume_give_the_same_file(method, stop_at, clip, tmp_path):
    """Ctrl-C in the training (epoch 2) or the fine-tuning stage (epoch 4 of 5) and --resume."""
    opts = options(method, epochs=5, finetune=0.4)
    expected = encode_clip(clip, opts)
    ckpt = str(tmp_path / "x.ckpt")

    def press_ctrl_c(segment, segments, report):
        assert report.epochs == 5
        if report.epoch == stop_at:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match="--resume"):
        encode_clip(clip, opts, on_epoch=press_ctrl_c, checkpoint=CheckpointOptions(ckpt, minutes=60))
    assert encode_clip(clip, opts, checkpoint=CheckpointOptions(ckpt, resume=True)) == expected


# ---------------------------------------------------------------- info, CLI, corruption


def test_info_and_cli(files, tmp_path, y4m_file, capsys):
    for method, data in files[1].items():
        path = tmp_path / f"{method}.slt"
        path.write_bytes(data)
        info = inrcodec.info(str(path))
        assert info["method"] == method and info["bytes"] == len(data)
        assert sum(info["sections"].values()) == len(data)
        assert info["levels"] == (1 if method == "sparse" else 0)
    out = tmp_path / "cli.slt"
    cli_main(["encode", str(y4m_file), "-o", str(out), "--method", "dense", "--preset", "tiny", "--epochs", "1",
              "--quant-bits", "6", "--lr", "0.003", "--device", "cpu", "-q"])
    capsys.readouterr()
    cli_main(["info", str(out), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert info["method"] == "dense" and sum(info["sections"].values()) == out.stat().st_size
    assert read_slt(out.read_bytes())[1][0].layers[0].bits == 6
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["encode", str(y4m_file), "-o", str(tmp_path / "p.slt"), "--method", "sparse", "--prune", "1.5", "-q"])
    assert exit_info.value.code == 2 and "--prune" in capsys.readouterr().err


def _with_crc(body: bytes) -> bytes:
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


def _payload_start(data: bytes) -> int:
    return fmt.parse(data)[2]


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_corrupt_payloads_raise_bitstream_error(method, files):
    data = files[1][method]
    start, end = _payload_start(data), len(data) - 4
    first = start  # the first layer (stem0): bits u8, step f32, ...
    cases = [
        (first, "B", 1, "bits"), (first, "B", 17, "bits"),
        (first + 1, "f", float("nan"), "step"), (first + 1, "f", 0.0, "step"), (first + 1, "f", -1.0, "step"),
    ]
    if method == "sparse":
        zeros = struct.unpack_from("<I", data, first + 5)[0]
        cases += [(first + 5, "I", zeros + 1, "zero / non-zero counts"), (first + 13, "I", 2**30, "mask words")]
    for offset, code, value, pattern in cases:
        b = bytearray(data[:-4])
        struct.pack_into("<" + code, b, offset, value)
        with pytest.raises(BitstreamError, match=pattern):
            read_slt(_with_crc(b))
    rng = np.random.default_rng(1)
    outcomes = {"ok": 0, "rejected": 0}
    for _ in range(300):
        b = bytearray(data[:-4])
        for p in rng.integers(start, end, int(rng.integers(1, 4))):
            b[p] = int(rng.integers(0, 256))
        try:
            header, segments, _ = read_slt(_with_crc(b))
            for batch in Decoder(header, segments, CPU).render(range(header.frames)):
                assert batch.dtype == np.uint8
            outcomes["ok"] += 1
        except BitstreamError as e:
            assert "\n" not in str(e)
            outcomes["rejected"] += 1
    assert outcomes["rejected"] > 150
    for cut in (start + 1, (start + end) // 2, end - 1):
        with pytest.raises(BitstreamError):
            read_slt(_with_crc(data[:cut]))
