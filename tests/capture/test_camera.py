import os

import cv2
import numpy as np
import pytest

from vcam.capture import camera
from vcam.capture.base import SourceError
from vcam.capture.camera import CameraInfo, CameraSource, capture_backends, list_cameras
from vcam.config import Size
from vcam.errors import VcamError


@pytest.fixture
def linux(monkeypatch):
    monkeypatch.setattr(camera, "_platform", lambda: "linux")


def _node(sysfs, n, name, index="0", driver=None, modalias=None):
    d = sysfs / f"video{n}"
    (d / "device").mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    (d / "index").write_text(index + "\n")
    if driver:
        target = sysfs.parent / "drivers" / driver
        target.mkdir(parents=True, exist_ok=True)
        os.symlink(target, d / "device" / "driver")
    if modalias:
        (d / "device" / "modalias").write_text(modalias + "\n")


def test_list_cameras_reads_names_and_kinds_from_sysfs(tmp_path, linux):
    sysfs = tmp_path / "sys" / "video4linux"
    _node(sysfs, 0, "Integrated Camera: Integrated C", "0", driver="uvcvideo")
    _node(sysfs, 1, "Integrated Camera: Integrated C", "1", driver="uvcvideo")
    _node(sysfs, 10, "VirtualCam", "0", modalias="platform:v4l2loopback")
    _node(sysfs, 2, "USB Capture HDMI", "0", driver="uvcvideo")
    (sysfs / "vbi0").mkdir()
    cams = list_cameras(sysfs, dev=tmp_path / "dev")
    assert [c.index for c in cams] == [0, 1, 2, 10]
    assert [c.kind for c in cams] == ["camera", "metadata", "camera", "loopback"]
    assert cams[0].path == str(tmp_path / "dev" / "video0") and cams[0].name.startswith("Integrated Camera")
    assert cams[0].driver == "uvcvideo" and cams[0].usable and not cams[1].usable
    assert "metadata" in cams[1].describe() and "v4l2loopback" in cams[3].describe()


def test_list_cameras_without_sysfs_falls_back_to_device_nodes(tmp_path, linux):
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("video2", "video0", "vga_arbiter"):
        (dev / name).touch()
    cams = list_cameras(tmp_path / "no-sysfs", dev=dev)
    assert [(c.index, c.path) for c in cams] == [(0, str(dev / "video0")), (2, str(dev / "video2"))]


def test_backends_per_os(monkeypatch):
    for plat, expected in (("linux", [cv2.CAP_V4L2]), ("win32", [cv2.CAP_DSHOW, cv2.CAP_MSMF]),
                           ("darwin", [cv2.CAP_AVFOUNDATION])):
        monkeypatch.setattr(camera, "_platform", lambda p=plat: p)
        assert capture_backends() == expected


def test_missing_camera_names_the_cameras_that_exist(tmp_path, linux, monkeypatch):
    monkeypatch.setattr(camera, "list_cameras", lambda *a, **k: [CameraInfo(0, "/dev/video0", "Integrated Camera")])
    with pytest.raises(VcamError) as info:
        CameraSource(str(tmp_path / "video7")).open()
    assert "No camera at" in info.value.message
    assert "/dev/video0: Integrated Camera" in info.value.hint

    monkeypatch.setattr(camera, "list_cameras", lambda *a, **k: [])
    with pytest.raises(VcamError) as info:
        CameraSource(str(tmp_path / "video7")).open()
    assert "No cameras were found" in info.value.hint


def test_permission_denied_points_to_the_video_group(tmp_path, linux, monkeypatch):
    node = tmp_path / "video0"
    node.touch()
    monkeypatch.setattr(camera.os, "access", lambda *a, **k: False)
    with pytest.raises(VcamError, match="Permission denied") as info:
        CameraSource(str(node)).open()
    assert "video" in info.value.hint and "usermod" in info.value.hint


class FakeCapture:
    """Stands in for cv2.VideoCapture: records what was asked for, delivers ``frames`` good reads, then fails."""

    instances: list = []

    def __init__(self, target, api=None, opened=True, frames=0):
        self.target, self.api, self.opened, self.frames = target, api, opened, frames
        self.props: list[tuple[int, float]] = []
        self.released = False
        FakeCapture.instances.append(self)

    def isOpened(self):  # noqa: N802 - cv2's name
        return self.opened

    def set(self, prop, value):
        self.props.append((prop, value))
        return True

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def getBackendName(self):  # noqa: N802
        return "FAKE"

    def read(self):
        if self.frames > 0:
            self.frames -= 1
            return True, np.zeros((720, 1280, 3), np.uint8)
        return False, None

    def release(self):
        self.released = True


def _fake_cv2(monkeypatch, **kw):
    FakeCapture.instances = []
    monkeypatch.setattr(camera.cv2, "VideoCapture", lambda target, api=None: FakeCapture(target, api, **kw))


def test_open_asks_for_mjpg_size_fps_and_a_one_frame_buffer(tmp_path, linux, monkeypatch):
    node = tmp_path / "video0"
    node.touch()
    _fake_cv2(monkeypatch, frames=2)
    src = CameraSource(str(node), Size(1280, 720), 30.0)
    src.open()
    cap = FakeCapture.instances[0]
    assert cap.target == str(node) and cap.api == cv2.CAP_V4L2
    props = dict(cap.props)
    assert props[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter_fourcc(*"MJPG")
    assert props[cv2.CAP_PROP_FRAME_WIDTH] == 1280 and props[cv2.CAP_PROP_FRAME_HEIGHT] == 720
    assert props[cv2.CAP_PROP_FPS] == 30.0 and props[cv2.CAP_PROP_BUFFERSIZE] == 1
    assert [p for p, _ in cap.props].index(cv2.CAP_PROP_FOURCC) < [p for p, _ in cap.props].index(
        cv2.CAP_PROP_FRAME_WIDTH)
    assert src.size == Size(1280, 720) and src.nominal_fps == 30.0
    assert src.read().shape == (720, 1280, 3)     # the frame open() waited for
    assert src.read().shape == (720, 1280, 3)
    with pytest.raises(SourceError):
        src.read()
    src.close()
    assert cap.released


def test_a_camera_that_opens_but_sends_nothing_is_reported_busy_with_fuser(tmp_path, linux, monkeypatch):
    node = tmp_path / "video0"
    node.touch()
    _fake_cv2(monkeypatch, frames=0)
    with pytest.raises(VcamError, match="no picture") as info:
        CameraSource(str(node), first_frame_timeout_s=0.15).open()
    assert f"fuser -v {node}" in info.value.hint
    assert FakeCapture.instances[0].released


def test_a_node_that_will_not_open_is_reported_busy_or_not_a_camera(tmp_path, linux, monkeypatch):
    node = tmp_path / "video1"
    node.touch()
    _fake_cv2(monkeypatch, opened=False)
    monkeypatch.setattr(camera, "list_cameras", lambda *a, **k: [])
    with pytest.raises(VcamError, match="busy or not a capture device") as info:
        CameraSource(str(node)).open()
    assert "fuser" in info.value.hint

    monkeypatch.setattr(camera, "list_cameras",
                        lambda *a, **k: [CameraInfo(1, str(node), "Integrated Camera", "uvcvideo", "metadata")])
    with pytest.raises(VcamError, match="is not a camera"):
        CameraSource(str(node)).open()


def test_device_paths_on_windows_ask_for_an_index(monkeypatch):
    monkeypatch.setattr(camera, "_platform", lambda: "win32")
    with pytest.raises(VcamError, match="only on Linux") as info:
        CameraSource("/dev/video2").open()
    assert "--input 2" in info.value.hint


def test_windows_tries_directshow_then_media_foundation(monkeypatch):
    monkeypatch.setattr(camera, "_platform", lambda: "win32")
    monkeypatch.setattr(camera, "list_cameras", lambda *a, **k: [])
    _fake_cv2(monkeypatch, opened=False)
    with pytest.raises(VcamError, match="Could not open camera 3") as info:
        CameraSource(3).open()
    assert [(c.target, c.api) for c in FakeCapture.instances] == [(3, cv2.CAP_DSHOW), (3, cv2.CAP_MSMF)]
    assert "Teams" in info.value.hint
