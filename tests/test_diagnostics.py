"""`vcam devices`: report() runs anywhere, has the expected shape, and says how to fix what is missing."""

from __future__ import annotations

import json
import platform
import sys
import types
from dataclasses import dataclass

import pytest

from vcam import diagnostics
from vcam.sinks import loopback


def test_report_runs_here_and_has_every_key() -> None:
    d = diagnostics.report()
    assert set(diagnostics.KEYS) <= set(d)
    json.dumps(d)                                    # plain data: the CLI may print it as JSON
    assert d["platform"]["system"] == platform.system()
    runtimes = d["cpu_runtimes"]["runtimes"]
    assert set(runtimes) == set(diagnostics.CPU_RUNTIMES)
    text = diagnostics.format_report(d)
    for title in ("Cameras", "Virtual camera", "Preview display", "GPU", "CPU runtimes"):
        assert title in text


@pytest.mark.skipif(platform.system() != "Linux", reason="v4l2loopback is Linux only")
def test_missing_v4l2loopback_says_how_to_install_it() -> None:
    if loopback.probe(with_caps=False).loopback_devices:
        pytest.skip("this machine has a v4l2loopback device")
    d = diagnostics.report()
    assert d["virtual_camera"]["ok"] is False
    fixes = "\n".join(d["fixes"])
    assert "sudo apt install v4l2loopback-dkms" in fixes
    assert "sudo modprobe v4l2loopback" in fixes and "exclusive_caps=1" in fixes
    assert "/etc/modules-load.d" in fixes
    assert "sudo apt install v4l2loopback-dkms" in diagnostics.format_report(d)


@pytest.mark.skipif(platform.system() != "Linux", reason="v4l2loopback is Linux only")
def test_old_module_with_exclusive_caps_is_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    dev = loopback.VideoDevice("/dev/video10", "vcam", True, ["capture"])
    state = loopback.LoopbackState(True, "0.12.7", [True, False], [dev])
    monkeypatch.setattr(diagnostics.loopback, "probe", lambda with_caps=True: state)
    d = diagnostics.report()
    vc = d["virtual_camera"]
    assert vc["module_version"] == "0.12.7" and vc["exclusive_caps"] is True
    assert any("only once" in w for w in vc["warnings"])
    assert any("accepts no writer now" in w for w in vc["warnings"])
    assert any("#470" in f and "sudo modprobe -r v4l2loopback" in f for f in d["fixes"])
    assert "0.12.7" in diagnostics.format_report(d)


def test_a_failing_probe_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a, **k):
        raise OSError("sysfs exploded")

    monkeypatch.setattr(diagnostics.loopback, "probe", boom)
    monkeypatch.setattr(diagnostics.loopback, "list_video_devices", boom)
    monkeypatch.setattr(diagnostics, "_virtual_obs", boom)
    d = diagnostics.report()
    assert "sysfs exploded" in d["virtual_camera"]["error"]
    assert "probe failed" in diagnostics.format_report(d)


def test_gpu_probe_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vcam.engines.gpu_probe", None)     # import raises ImportError
    d = diagnostics.report()
    assert d["gpu"]["ok"] is False and d["gpu"]["detail"] == "GPU probe unavailable"


@dataclass
class _FakeGpu:
    available: bool
    name: str
    fix: str


def test_gpu_probe_present(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = types.ModuleType("vcam.engines.gpu_probe")
    mod.probe = lambda: _FakeGpu(False, "NVIDIA Fake", "install the NVIDIA driver 550 or later")
    monkeypatch.setitem(sys.modules, "vcam.engines.gpu_probe", mod)
    d = diagnostics.report()
    assert d["gpu"]["name"] == "NVIDIA Fake" and d["gpu"]["ok"] is False
    assert "install the NVIDIA driver 550 or later" in d["fixes"]
    assert "NVIDIA Fake" in diagnostics.format_report(d)


def test_camera_list_from_the_capture_module(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = types.ModuleType("vcam.capture.camera")
    mod.list_cameras = lambda: [{"index": 0, "name": "Fake Cam", "sizes": ["1280x720"]}]
    monkeypatch.setitem(sys.modules, "vcam.capture.camera", mod)
    d = diagnostics.report()
    assert d["cameras"]["ok"] is True and d["cameras"]["source"] == "vcam.capture.camera.list_cameras"
    assert "Fake Cam" in diagnostics.format_report(d)
    assert not any(f.startswith("No camera found") for f in d["fixes"])


def test_no_camera_gives_an_os_specific_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = types.ModuleType("vcam.capture.camera")
    mod.list_cameras = lambda: []
    monkeypatch.setitem(sys.modules, "vcam.capture.camera", mod)
    d = diagnostics.report()
    assert d["cameras"]["ok"] is False
    assert any(f.startswith("No camera found") and "--input pattern" in f for f in d["fixes"])
