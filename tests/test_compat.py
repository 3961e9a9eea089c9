"""A codec never orphans its users' files: every bitstream version ever released has committed
files in tests/compat/v<N>/ (written by tests/compat/make_files.py), and each must still decode to
the frames it decoded to when it was written, within ±1 per sample (float results may differ
across CPUs and torch versions; on the machine that wrote them they match exactly)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import inrcodec
from inrcodec.video.io import read_video

COMPAT = Path(__file__).resolve().parent / "compat"
CASES = [(d, name) for d in sorted(COMPAT.glob("v*")) for name in json.loads((d / "manifest.json").read_text())["files"]]


def test_every_released_version_has_files():
    from inrcodec.bitstream import VERSION

    versions = {json.loads((d / "manifest.json").read_text())["version"] for d, _ in CASES}
    assert versions == set(range(1, VERSION + 1))


@pytest.mark.parametrize("folder, name", CASES, ids=[f"{d.name}-{n}" for d, n in CASES])
def test_old_files_still_decode_to_their_frames(tmp_path, folder, name):
    entry = json.loads((folder / "manifest.json").read_text())["files"][name]
    expected = np.load(folder / "frames.npz")[name.replace("-", "_")]
    slt = folder / f"{name}.slt"
    assert inrcodec.info(str(slt))["method"] == entry["method"]
    inrcodec.decode(str(slt), str(tmp_path / "out.y4m"), device="cpu")
    got = read_video(str(tmp_path / "out.y4m")).frames
    assert got.shape == expected.shape == (entry["frames"], expected.shape[1])
    diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    assert diff.max() <= 1, f"{name}: {int((diff > 1).sum())} samples differ by more than 1"
