"""The architecture's promises: every registered method runs end to end without being named, a
segment is a picklable unit of work whose payloads assemble into the same file, resume skips
finished segments, and the reader dispatches on the file's version."""

import os
import pickle
import signal
from dataclasses import replace

import numpy as np
import pytest

from inrcodec import api, methods
from inrcodec.bitstream import assemble, format as fmt, read_slt
from inrcodec.encoder import CheckpointOptions, EncodeOptions, encode_clip, file_header
from inrcodec.errors import BitstreamError
from inrcodec.fit.checkpoint import Interrupted
from inrcodec.fit.trainer import FitOptions
from inrcodec.metrics.quality import psnr_uint8
from inrcodec.segment import SegmentResult, fit_segment, segment_jobs, segment_payload


def _options(method: str, epochs: int = 3, **kw) -> EncodeOptions:
    return EncodeOptions(method=method, preset="tiny", device="cpu", seed=3, fit=FitOptions(epochs=epochs, eval_every=1), **kw)


def test_the_registry_is_the_only_list_and_ids_are_positions():
    assert [m.id for m in methods.REGISTRY] == list(range(len(methods.REGISTRY)))
    assert len(set(methods.names())) == len(methods.REGISTRY)
    for m in methods.REGISTRY:
        assert methods.get(m.name) is m and methods.from_id(m.id) is m
    with pytest.raises(BitstreamError, match="unknown method id"):
        methods.from_id(len(methods.REGISTRY))


@pytest.mark.parametrize("method", methods.names())
def test_every_registered_method_encodes_to_a_file_that_decodes(method, tmp_path, y4m_file, clip):
    """Runs whatever the registry holds through the public API: file in, .slt, video out."""
    out, video = tmp_path / "x.slt", tmp_path / "x.y4m"
    report = api.encode(str(y4m_file), str(out), options=_options(method, epochs=4), quiet=True)
    assert report["frames"] == len(clip) and report["bytes"] == out.stat().st_size
    assert api.info(str(out))["method"] == method
    dec = api.decode(str(out), str(video), quiet=True)
    assert dec["frames"] == len(clip)
    from inrcodec.video.io import read_video

    decoded = read_video(str(video)).frames
    assert decoded.shape == clip.frames.shape
    assert psnr_uint8(decoded, clip.frames) > 12.0  # a picture of the clip, not noise
    assert report["psnr_rgb"] > 12.0


@pytest.mark.parametrize("method", ["slt", "sparse"])
def test_segments_fitted_alone_assemble_into_the_encoders_file(method, clip):
    """fit_segment needs only the segment's frames, the options and its job; its result pickles
    (a job on another machine returns it), and payloads put together in any finishing order make
    the very file encode_clip writes."""
    opts = _options(method, epochs=2, segment_frames=2)
    expected = encode_clip(clip, opts)
    header = file_header(clip.info, len(clip), opts)
    jobs = segment_jobs(len(clip), opts.segment_frames, opts.seed)
    assert len(jobs) == 2
    results = {}
    for job in reversed(jobs):  # finish out of order
        frames = clip.frames[job.first_frame : job.first_frame + job.frame_count].copy()
        result = pickle.loads(pickle.dumps(fit_segment(job, frames, clip.info, opts)))
        assert isinstance(result, SegmentResult) and result.job == job
        results[job.index] = segment_payload(header, result)
    data = assemble(header, [(j.first_frame, j.frame_count, j.seed, results[j.index]) for j in jobs])
    assert data == expected


def test_resume_skips_finished_segments(clip, tmp_path):
    opts = _options("slt", epochs=3, segment_frames=2)
    expected = encode_clip(clip, opts)
    ckpt = str(tmp_path / "x.ckpt")
    fitted = []

    def ctrl_c_in_the_second_segment(segment, segments, report):
        fitted.append(segment)
        if segment == 1 and report.epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        encode_clip(clip, opts, on_epoch=ctrl_c_in_the_second_segment, checkpoint=CheckpointOptions(ckpt, minutes=60))
    assert sorted(set(fitted)) == [0, 1]
    fitted.clear()
    resumed = encode_clip(clip, opts, on_epoch=lambda s, n, r: fitted.append((s, r.epoch)),
                          checkpoint=CheckpointOptions(ckpt, resume=True))
    assert resumed == expected
    assert fitted == [(1, 2), (1, 3)]  # segment 0 was not fitted again; segment 1 went on from epoch 1


def test_resume_refuses_a_segment_whose_frames_changed(clip, tmp_path):
    opts = _options("slt", epochs=3, segment_frames=2)
    ckpt = str(tmp_path / "x.ckpt")

    def ctrl_c(segment, segments, report):
        if segment == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        encode_clip(clip, opts, on_epoch=ctrl_c, checkpoint=CheckpointOptions(ckpt, minutes=60))
    other = replace(clip, frames=clip.frames.copy())
    other.frames[0, 0] ^= 1  # a pixel of the finished segment 0
    with pytest.raises(Exception, match="different input frames"):
        encode_clip(other, opts, checkpoint=CheckpointOptions(ckpt, resume=True))


def test_the_reader_dispatches_on_the_files_version(clip, monkeypatch):
    data = encode_clip(clip, _options("slt", epochs=1))
    assert read_slt(data)[0].version == fmt.VERSION == 5
    bumped = bytearray(data)
    bumped[4] = 6
    with pytest.raises(BitstreamError, match="unsupported .slt format version 6 .*reads version 1, 2, 3, 4, 5"):
        fmt.open_slt(bytes(bumped))

    class V6:  # a later layout beside v5: here v5's with another number
        def __getattr__(self, name):
            return getattr(fmt.READERS[5], name)

    monkeypatch.setitem(fmt.READERS, 6, V6())
    header, segments, sizes = fmt.open_slt(bytes(bumped)[:-4] + _crc(bytes(bumped)[:-4]))
    assert header.version == 6 and sum(sizes.values()) == len(bumped)
    np.testing.assert_array_equal(segments[0].layers[0].levels, read_slt(data)[1][0].layers[0].levels)


def test_a_nerv_methods_version_2_header_is_version_1s_but_for_the_number(clip):
    from inrcodec.bitstream import v1

    data = encode_clip(clip, _options("slt", epochs=1))
    header = read_slt(data)[0]
    assert fmt.header_bytes(header)[5:] == v1.header_bytes(header)[5:]
    old = bytearray(data)
    old[4] = 1
    old = bytes(old[:-4]) + _crc(bytes(old[:-4]))
    assert read_slt(old)[0].version == 1


def _crc(body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack("<I", zlib.crc32(body))
