"""Allocator thresholds: applied once per process on glibc, never over the user's own settings."""

import platform

import pytest

from inrcodec import allocator


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are glibc's")
def test_thresholds_apply_on_glibc(fresh):
    assert allocator.tune_allocator() is True
    assert allocator._applied is True
    assert allocator.tune_allocator() is True  # once per process


def test_the_users_malloc_environment_wins(fresh, monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert allocator.tune_allocator() is False
    assert allocator._applied is False
