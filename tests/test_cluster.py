"""Segments on Ray (cluster.py): the same bytes as the sequential encode, a dead worker's task
retried, Ctrl-C keeping the finished segments for --resume, a pipe input, and a clear error
without Ray. A local Ray runtime of 2 CPUs is started once for the module."""

import os
import signal
import subprocess
import sys
from dataclasses import replace

import pytest

ray = pytest.importorskip("ray")

from inrcodec import cluster  # noqa: E402
from inrcodec.encoder import CheckpointOptions, EncodeOptions, encode_clip  # noqa: E402
from inrcodec.errors import InputError  # noqa: E402
from inrcodec.fit.checkpoint import Interrupted  # noqa: E402
from inrcodec.fit.trainer import FitOptions  # noqa: E402

from .conftest import synthetic_clip  # noqa: E402


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    hook = tmp_path_factory.mktemp("hook")
    os.environ[cluster.TEST_EXIT_HOOK] = str(hook)  # inherited by the workers
    ray.init(address="local", num_cpus=2, object_store_memory=80 << 20, include_dashboard=False,
             log_to_driver=False, logging_level="ERROR")
    yield hook
    ray.shutdown()
    os.environ.pop(cluster.TEST_EXIT_HOOK, None)


@pytest.fixture(scope="module")
def clip6():
    return synthetic_clip(frames=6)


def options(**kw) -> EncodeOptions:
    return EncodeOptions(preset="tiny", device="cpu", seed=11, segment_frames=2,
                         fit=FitOptions(epochs=2, threads=1), **kw)


@pytest.fixture(scope="module")
def sequential(clip6):
    return encode_clip(clip6, options())


def test_three_segments_on_ray_are_byte_identical_to_the_sequential_encode(local_ray, clip6, sequential):
    fitted = []
    data = encode_clip(clip6, options(workers=2), on_segment=lambda i, psnr: fitted.append(i))
    assert data == sequential
    assert sorted(fitted) == [0, 1, 2]


def test_a_worker_killed_mid_task_is_retried_and_the_file_is_the_same(local_ray, clip6, sequential):
    (local_ray / "exit-segment-1").touch()
    data = encode_clip(clip6, options(workers=2))
    assert not (local_ray / "exit-segment-1").exists()  # the first attempt ran and died
    assert data == sequential


def test_ctrl_c_keeps_finished_segments_and_resume_fits_only_the_missing(local_ray, clip6, sequential, tmp_path):
    ckpt = str(tmp_path / "x.ckpt")
    first = []

    def ctrl_c_after_one(index, psnr):
        first.append(index)
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match="--resume"):
        encode_clip(clip6, options(workers=1), checkpoint=CheckpointOptions(ckpt, minutes=60),
                    on_segment=ctrl_c_after_one)
    assert len(first) >= 1
    again = []
    data = encode_clip(clip6, options(workers=2), checkpoint=CheckpointOptions(ckpt, resume=True),
                       on_segment=lambda i, psnr: again.append(i))
    assert data == sequential
    assert sorted(again) == sorted(set(range(3)) - set(first))  # finished segments were not fitted again


def test_a_pipe_input_on_ray_gives_the_sequential_file(tmp_path, clip6):
    from inrcodec.video.io import write_video

    y4m = tmp_path / "in.y4m"
    write_video(str(y4m), clip6, "y4m")
    env = {**os.environ, "INRCODEC_THREADS": "1", "OMP_NUM_THREADS": "1"}
    env.pop(cluster.TEST_EXIT_HOOK, None)
    env.pop("RAY_ADDRESS", None)  # both runs local: the first in order, the second on its own Ray
    common = ["--preset", "tiny", "--epochs", "2", "--device", "cpu", "--segment-frames", "2", "--seed", "11", "-q"]
    outs = []
    for extra in ([], ["--workers", "2"]):
        out = tmp_path / f"out{len(outs)}.slt"
        with open(y4m, "rb") as stdin:
            r = subprocess.run([sys.executable, "-m", "inrcodec", "encode", "-", "-o", str(out), *common, *extra],
                               stdin=stdin, capture_output=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr.decode()
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_without_ray_the_options_give_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match=r"inrcodec\[cluster\]"):
        options(workers=2).validate()
    with pytest.raises(InputError, match="--workers must be between"):
        replace(options(), workers=0).validate()
