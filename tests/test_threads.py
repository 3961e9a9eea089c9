"""Thread policy (inrcodec/threads.py): counts from --threads / INRCODEC_THREADS / the CPUs this
process may use, the passive wait policy set before torch loads, and a fit's thread count fixed by
its options so the same options write the same bytes."""

import os
import subprocess
import sys

import pytest
import torch

from inrcodec import threads
from inrcodec.encoder import EncodeOptions, encode_clip
from inrcodec.errors import InputError
from inrcodec.fit.trainer import FitOptions

from .conftest import synthetic_clip


@pytest.mark.parametrize("bad", ["0", "1_0", "\u0663", "x", "-1", "2000", ""])
def test_thread_counts_must_be_ascii_whole_numbers_in_range(bad):
    with pytest.raises(InputError, match="from 1 to"):
        threads.parse_threads(bad, "--threads")


def test_requested_and_available_threads(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    assert threads.requested_threads() is None
    assert threads.requested_threads(3) == 3
    monkeypatch.setenv(threads.ENV, " 5 ")
    assert threads.requested_threads() == 5 and threads.decode_threads() == 5
    assert threads.requested_threads(2) == 2  # the option wins
    monkeypatch.setenv(threads.ENV, "lots")
    with pytest.raises(InputError, match=threads.ENV):
        threads.decode_threads()
    monkeypatch.delenv(threads.ENV)
    affinity = len(os.sched_getaffinity(0))
    assert 1 <= threads.available_cpus() <= affinity
    monkeypatch.setattr(threads, "_cgroup_cpus", lambda: 0.5)  # half a CPU of quota: one thread
    assert threads.available_cpus() == 1
    monkeypatch.setattr(threads, "_cgroup_cpus", lambda: None)
    assert threads.available_cpus() == affinity


def test_cli_sets_the_passive_wait_policy_before_torch_loads():
    code = ("import sys, os; import inrcodec; assert 'torch' not in sys.modules; "
            "import inrcodec.cli.main; print(os.environ['OMP_WAIT_POLICY'])")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "PASSIVE", out.stderr



def test_a_users_wait_policy_is_kept(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    threads.prepare_environment()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    threads.prepare_environment()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_the_fit_uses_its_options_thread_count_not_the_process_setting():
    clip = synthetic_clip(64, 48, frames=2)
    opts = EncodeOptions(preset="small", device="cpu", fit=FitOptions(epochs=1))
    assert opts.fit.threads == threads.FIT_THREADS
    before = torch.get_num_threads()
    try:
        got = []
        for n in (1, 3):
            torch.set_num_threads(n)
            got.append(encode_clip(clip, opts))
            assert torch.get_num_threads() == n  # restored after the fit
    finally:
        torch.set_num_threads(before)
    assert got[0] == got[1]
    with pytest.raises(InputError, match="--threads"):
        EncodeOptions(fit=FitOptions(threads=0)).validate()
