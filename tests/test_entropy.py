import numpy as np
import pytest

from inrcodec.entropy.levels import decode_levels, encode_levels, level_counts
from inrcodec.errors import BitstreamError


def _roundtrip(levels, num_symbols):
    counts = level_counts(levels, num_symbols)
    words = encode_levels(levels, counts)
    assert words.dtype == np.uint32 and words.ndim == 1
    out = decode_levels(words, counts, levels.size)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, levels)
    return counts, words


def test_level_counts():
    counts = level_counts(np.array([0, 1, 1, 3, 3, 3], dtype=np.uint8), 4)
    assert counts.dtype == np.uint32
    assert counts.tolist() == [1, 2, 0, 3]
    with pytest.raises(ValueError):
        level_counts(np.array([4], dtype=np.uint8), 4)


@pytest.mark.parametrize("k", [1, 3, 8])
def test_roundtrip_uniform(k):
    rng = np.random.default_rng(k)
    levels = rng.integers(0, k + 1, 5000).astype(np.uint8)
    _roundtrip(levels, k + 1)


@pytest.mark.parametrize("k", [1, 3])
def test_roundtrip_skewed(k):
    rng = np.random.default_rng(10 + k)
    p = np.array([0.9] + [0.1 / k] * k)
    levels = rng.choice(k + 1, 20000, p=p).astype(np.uint8)
    _roundtrip(levels, k + 1)


def test_zero_count_symbols():
    rng = np.random.default_rng(3)
    levels = rng.choice([0, 2], 3000).astype(np.uint8)  # levels 1 and 3 never occur
    counts, _ = _roundtrip(levels, 4)
    assert counts[1] == 0 and counts[3] == 0


@pytest.mark.parametrize("level", [0, 2])
def test_constant_layer_costs_nothing(level):
    levels = np.full(100_000, level, dtype=np.uint8)
    counts, words = _roundtrip(levels, 4)
    assert words.size == 0
    assert counts[level] == 100_000


def test_single_weight_and_empty():
    _roundtrip(np.array([3], dtype=np.uint8), 4)
    counts = np.zeros(4, dtype=np.uint32)
    assert encode_levels(np.zeros(0, dtype=np.uint8), counts).size == 0
    assert decode_levels(np.zeros(0, dtype=np.uint32), counts, 0).size == 0


def test_size_near_entropy():
    rng = np.random.default_rng(42)
    p = np.array([0.55, 0.25, 0.12, 0.08])
    levels = rng.choice(4, 100_000, p=p).astype(np.uint8)
    counts, words = _roundtrip(levels, 4)
    c = counts.astype(np.float64)
    q = c / c.sum()
    entropy_bits = -(c * np.log2(q)).sum()
    coded_bits = 32 * words.size
    assert coded_bits >= entropy_bits * 0.999
    assert coded_bits <= entropy_bits * 1.001 + 32 * 4


def test_counts_must_match_on_encode():
    levels = np.array([0, 1, 1], dtype=np.uint8)
    with pytest.raises(ValueError):
        encode_levels(levels, np.array([2, 1], dtype=np.uint32))


def test_decode_with_wrong_counts_raises():
    rng = np.random.default_rng(5)
    levels = rng.integers(0, 4, 1000).astype(np.uint8)
    counts = level_counts(levels, 4)
    words = encode_levels(levels, counts)
    bad = counts.copy()
    bad[0] += 1
    bad[1] -= 1
    with pytest.raises(BitstreamError, match="counts|corrupt"):
        decode_levels(words, bad, 1000)
    with pytest.raises(BitstreamError, match="sum"):
        decode_levels(words, counts, 999)


def test_decode_corrupt_words_raises():
    rng = np.random.default_rng(6)
    levels = rng.integers(0, 4, 2000).astype(np.uint8)
    counts = level_counts(levels, 4)
    words = encode_levels(levels, counts)
    cases = [
        words[:-1],  # truncated
        words[1:],
        words[:1],
        np.zeros(0, dtype=np.uint32),
        np.zeros(3, dtype=np.uint32),  # ends in a zero word: invalid for ANS
        np.concatenate([words, words]),  # leftover data
    ]
    flipped = words.copy()
    flipped[len(words) // 2] ^= 0x10
    cases.append(flipped)
    for bad in cases:
        with pytest.raises(BitstreamError) as info:
            decode_levels(bad, counts, 2000, what="layer stem0")
        assert "\n" not in str(info.value)
        assert str(info.value).startswith("layer stem0:")


def test_constant_layer_with_spurious_words_raises():
    counts = np.array([0, 10, 0], dtype=np.uint32)
    with pytest.raises(BitstreamError):
        decode_levels(np.array([7], dtype=np.uint32), counts, 10)


def test_decode_random_garbage_never_crashes():
    rng = np.random.default_rng(7)
    counts = np.array([500, 300, 0, 200], dtype=np.uint32)
    for trial in range(300):
        words = rng.integers(0, 2**32, rng.integers(0, 40), dtype=np.uint64).astype(np.uint32)
        try:
            out = decode_levels(words, counts, 1000)
        except BitstreamError:
            continue
        # Accepted only if it is a valid level array with exactly these counts.
        assert out.shape == (1000,)
        assert np.bincount(out, minlength=4).tolist() == counts.tolist()
