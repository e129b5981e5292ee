"""The e2e guest's set-up says why it cannot run instead of failing obscurely (these run without QEMU)."""

from __future__ import annotations

import pytest

from . import vm


def test_missing_tools_without_root_is_a_skip_reason(monkeypatch):
    monkeypatch.setattr(vm, "_bin", lambda name: None if name == "qemu-system-x86_64" else f"/usr/bin/{name}")
    monkeypatch.setattr(vm.os, "geteuid", lambda: 1000)
    with pytest.raises(vm.Unavailable, match="needs root to apt-get install qemu-system-x86"):
        vm.ensure_host_tools()


def test_missing_tools_without_apt_is_a_skip_reason(monkeypatch):
    monkeypatch.setattr(vm, "_bin", lambda name: None if name == "busybox" else f"/usr/bin/{name}")
    monkeypatch.setattr(vm.os, "geteuid", lambda: 0)
    monkeypatch.setattr(vm.shutil, "which", lambda name, **kw: None)
    with pytest.raises(vm.Unavailable, match="no apt-get to install busybox-static"):
        vm.ensure_host_tools()


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VCAM_E2E_CACHE", str(tmp_path / "c"))
    assert vm.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("VCAM_E2E_CACHE")
    assert vm.cache_dir().parts[-2:] == (".cache", "vcam-e2e")
