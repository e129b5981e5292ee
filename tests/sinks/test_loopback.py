"""The v4l2loopback sysfs reader, on a fake sysfs tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcam.sinks import loopback


def _fake_sysfs(root: Path, version: str | None, excl: str | None) -> None:
    mod = root / "module" / "v4l2loopback"
    (mod / "parameters").mkdir(parents=True)
    if version:
        (mod / "version").write_text(version + "\n")
    if excl:
        (mod / "parameters" / "exclusive_caps").write_text(excl + "\n")
    cls = root / "class" / "video4linux"
    cls.mkdir(parents=True)
    for node, parent, name in [("video0", "pci0000:00/usb1/1-1/video4linux", "Integrated Camera"),
                               ("video10", "virtual/video4linux", "vcam")]:
        target = root / "devices" / parent / node
        target.mkdir(parents=True)
        (target / "name").write_text(name + "\n")
        (cls / node).symlink_to(target)


@pytest.mark.parametrize("version, excl, risk", [("0.12.7", "Y,N,N", True), ("0.12.7", "N,N", False),
                                                 ("0.13.2", "Y,N", False), (None, "Y", False)])
def test_probe_reads_version_caps_and_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              version, excl, risk) -> None:
    _fake_sysfs(tmp_path, version, excl)
    monkeypatch.setattr(loopback, "SYS_MODULE", tmp_path / "module" / "v4l2loopback")
    monkeypatch.setattr(loopback, "SYS_V4L", tmp_path / "class" / "video4linux")
    monkeypatch.setattr(loopback, "_installed_version", lambda: None)    # ignore this machine's modinfo/dkms
    state = loopback.probe(with_caps=False)
    assert state.module_loaded and state.version == version
    assert [d.path for d in state.devices] == ["/dev/video0", "/dev/video10"]
    assert [d.path for d in state.loopback_devices] == ["/dev/video10"]
    assert state.loopback_devices[0].name == "vcam"
    assert state.write_once_risk is risk
    assert state.write_once_possible is (risk or (version is None and "Y" in excl))


def test_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loopback, "SYS_MODULE", tmp_path / "nope")
    monkeypatch.setattr(loopback, "SYS_V4L", tmp_path / "nope2")
    state = loopback.probe()
    assert not state.module_loaded and state.devices == [] and not state.write_once_risk


def test_version_rule() -> None:
    assert loopback.version_is_write_once("0.12.5")
    assert loopback.version_is_write_once("0.12.7")
    assert not loopback.version_is_write_once("0.13.0")
    assert not loopback.version_is_write_once("0.15.1")
    assert not loopback.version_is_write_once(None)
    assert not loopback.version_is_write_once("garbage")


def test_query_caps_on_a_missing_node() -> None:
    assert loopback.query_caps("/dev/video-does-not-exist") == []


def test_query_caps_on_a_device_that_is_not_v4l2() -> None:
    assert loopback.query_caps("/dev/null") == []      # QUERYCAP fails (ENOTTY): no capabilities claimed
