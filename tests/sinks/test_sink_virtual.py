"""VirtualCameraSink: format choice, YUV conversion against OpenCV, error texts mapped to fixes, and the real
failure on this machine (no v4l2loopback)."""

from __future__ import annotations

import platform

import cv2
import numpy as np
import pytest
import pyvirtualcam

from vcam.config import Size
from vcam.errors import VcamError
from vcam.sinks import loopback
from vcam.sinks import virtual as vmod
from vcam.sinks.base import FrameInfo
from vcam.sinks.virtual import VirtualCameraSink, YuvConverter, even_size, explain_open_error

# pyvirtualcam 0.15's own failure texts (see ../shared/notes/virtual-camera-vm.md and its native sources).
NO_DEVICE = ("'v4l2loopback' backend: No v4l2 loopback device found at /dev/video[0-99]. Did you run "
             "'modprobe v4l2loopback'? See also pyvirtualcam's documentation.")
NOT_OUTPUT = "'v4l2loopback' backend: Device /dev/video10 is not a video output device."
NO_SUCH = "'v4l2loopback' backend: Device /dev/video10 does not exist."
NO_PERM = ("'v4l2loopback' backend: Could not access /dev/video10 due to missing permissions. Did you add your "
           "user to the 'video' group? Run 'usermod -a -G video myusername' and log out and in again.")
OBS_WIN = "'obs' backend: OBS Virtual Camera device not found! Did you install OBS?"
OBS_MAC = ("'obs' backend: OBS Virtual Camera is not installed in your system. Use the Virtual Camera function in "
           "OBS 30.0 or later to trigger the installation and activate the System Extension in System Settings. "
           "You may need to restart your machine after that. [Device not found]")


def _state(version: str | None, excl: bool, devices: list[loopback.VideoDevice] | None = None,
           loaded: bool = True) -> loopback.LoopbackState:
    return loopback.LoopbackState(loaded, version, [excl, False], devices or [])


LOOP10 = loopback.VideoDevice("/dev/video10", "vcam", True, ["capture"])
WEBCAM0 = loopback.VideoDevice("/dev/video0", "Integrated Camera", False, ["capture"])


def _bgr(size: Size, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size.height, size.width, 3), dtype=np.uint8)


# --- sizes and formats -------------------------------------------------------------------------------------------

def test_even_size() -> None:
    assert even_size(Size(640, 480)) == (Size(640, 480), None)
    fixed, warning = even_size(Size(641, 361))
    assert fixed == Size(640, 360)
    assert warning and "640x360" in warning and "641x361" in warning


def test_i420_matches_opencv_and_reuses_the_buffer() -> None:
    size = Size(64, 48)
    conv = YuvConverter("I420", size)
    buf_addr = conv.buffer.ctypes.data
    for seed in range(3):
        img = _bgr(size, seed)
        out = conv.convert(img)
        assert out.ctypes.data == buf_addr                     # same memory every frame
        np.testing.assert_array_equal(out, cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420))
        assert out.size == size.width * size.height * 3 // 2


def test_nv12_matches_the_i420_reference_and_reuses_the_buffer() -> None:
    size = Size(64, 48)
    w, h = size.width, size.height
    conv = YuvConverter("NV12", size)
    buf_addr = conv.buffer.ctypes.data
    for seed in range(3):
        img = _bgr(size, seed)
        out = conv.convert(img)
        assert out.ctypes.data == buf_addr
        ref = cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420).reshape(-1)
        u = ref[w * h: w * h * 5 // 4].reshape(h // 2, w // 2)
        v = ref[w * h * 5 // 4:].reshape(h // 2, w // 2)
        expected = np.concatenate([ref[: w * h], np.stack([u, v], axis=-1).reshape(-1)])
        np.testing.assert_array_equal(out.reshape(-1), expected)
        # OpenCV's own NV12 decoder must read it back as the I420 reference decodes.
        np.testing.assert_array_equal(cv2.cvtColor(out, cv2.COLOR_YUV2BGR_NV12),
                                      cv2.cvtColor(ref.reshape(h * 3 // 2, w), cv2.COLOR_YUV2BGR_I420))


def test_converter_rejects_odd_sizes_and_wrong_frames() -> None:
    with pytest.raises(ValueError):
        YuvConverter("I420", Size(65, 48))
    conv = YuvConverter("I420", Size(64, 48))
    with pytest.raises(ValueError):
        conv.convert(np.zeros((48, 66, 3), np.uint8))


def test_preferred_format_per_backend() -> None:
    assert vmod._preferred_fmt("v4l2loopback", "Linux") == "I420"
    assert vmod._preferred_fmt("obs", "Windows") == "NV12"
    assert vmod._preferred_fmt("obs", "Darwin") == "BGR"
    assert vmod._preferred_fmt("unitycapture", "Windows") == "BGR"
    assert vmod._backend_order(["unitycapture", "obs"], "Windows") == ["obs", "unitycapture"]


# --- a fake pyvirtualcam.Camera that records what the sink does --------------------------------------------------

class FakeCamera:
    instances: list[FakeCamera] = []

    def __init__(self, width, height, fps, *, fmt, device=None, backend=None) -> None:
        self.width, self.height, self.fps, self.fmt, self.backend_name = width, height, fps, fmt, backend
        self._device = device or "/dev/video10"
        self.sent: list[np.ndarray] = []
        self.sleeps = 0
        self.closed = False
        FakeCamera.instances.append(self)

    @property
    def device(self) -> str:
        return self._device

    @property
    def native_fmt(self):
        return pyvirtualcam.PixelFormat.I420

    def send(self, frame: np.ndarray) -> None:
        self.sent.append(frame.copy())

    def sleep_until_next_frame(self) -> None:
        self.sleeps += 1

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_camera(monkeypatch: pytest.MonkeyPatch) -> type[FakeCamera]:
    FakeCamera.instances = []
    monkeypatch.setattr(pyvirtualcam, "Camera", FakeCamera)
    return FakeCamera


@pytest.mark.skipif(platform.system() != "Linux", reason="the v4l2loopback backend exists only on Linux")
def test_sends_i420_paced_and_keeps_the_device_open(fake_camera: type[FakeCamera]) -> None:
    size = Size(64, 48)
    sink = VirtualCameraSink()
    sink.open(size, 30.0)
    cam = fake_camera.instances[0]
    assert cam.fmt == pyvirtualcam.PixelFormat.I420 and sink.fmt == "I420" and sink.native_fmt == "I420"
    assert sink.device == "/dev/video10" and sink.backend == "v4l2loopback"
    imgs = [_bgr(size, s) for s in range(3)]
    for i, img in enumerate(imgs):
        sink.send(img, FrameInfo(index=i))
    assert [f.tobytes() for f in cam.sent] == [cv2.cvtColor(i, cv2.COLOR_BGR2YUV_I420).tobytes() for i in imgs]
    assert cam.sleeps == 3
    sink.open(size, 30.0)                      # the same settings again: no second open of the device
    assert len(fake_camera.instances) == 1 and not cam.closed
    sink.close()
    assert cam.closed


def test_pacing_can_be_disabled(fake_camera: type[FakeCamera]) -> None:
    sink = VirtualCameraSink(backend=next(iter(pyvirtualcam.camera.BACKENDS)), pace=False)
    sink.open(Size(64, 48), 30.0)
    sink.send(_bgr(Size(64, 48), 0), FrameInfo(index=0))
    assert fake_camera.instances[0].sleeps == 0
    sink.close()


def test_odd_size_is_refused_before_opening(fake_camera: type[FakeCamera]) -> None:
    with pytest.raises(VcamError, match="even"):
        VirtualCameraSink().open(Size(65, 48), 30.0)
    assert fake_camera.instances == []


def test_unknown_backend_lists_the_available_ones() -> None:
    with pytest.raises(VcamError) as err:
        VirtualCameraSink(backend="nosuch").open(Size(64, 48), 30.0)
    for name in pyvirtualcam.camera.BACKENDS:
        assert name in (err.value.hint or "")


@pytest.mark.skipif(platform.system() != "Linux", reason="Linux texts")
@pytest.mark.parametrize("text, device, state, expect", [
    (NO_DEVICE, None, _state(None, False, loaded=False), ["sudo apt install v4l2loopback-dkms",
                                                          "modprobe v4l2loopback devices=1 video_nr=10",
                                                          "exclusive_caps=1", "/etc/modules-load.d",
                                                          "/etc/modprobe.d"]),
    (NOT_OUTPUT, "/dev/video10", _state("0.12.7", True, [LOOP10]), ["#470", "0.13",
                                                                    "sudo modprobe -r v4l2loopback && sudo modprobe",
                                                                    "exclusive_caps=0"]),
    # pyvirtualcam's scan skips devices that refuse a writer and then says "not found": still write-once.
    (NO_DEVICE, None, _state("0.12.7", True, [LOOP10]), ["#470", "sudo modprobe -r v4l2loopback"]),
    (NOT_OUTPUT, "/dev/video10", _state("0.13.2", True, [LOOP10]), ["Another program"]),
    (NOT_OUTPUT, "/dev/video0", _state("0.13.2", True, [WEBCAM0, LOOP10]), ["real camera", "/dev/video10"]),
    (NO_SUCH, "/dev/video10", _state(None, False, loaded=False), ["sudo apt install v4l2loopback-dkms"]),
    (NO_PERM, "/dev/video10", _state("0.13.2", True, [LOOP10]), ["usermod -aG video"]),
])
def test_linux_errors_map_to_fixes(monkeypatch: pytest.MonkeyPatch, text, device, state, expect) -> None:
    monkeypatch.setattr(vmod.loopback, "probe", lambda with_caps=True: state)

    def raising(*a, **k):
        raise RuntimeError(text)

    monkeypatch.setattr(pyvirtualcam, "Camera", raising)
    with pytest.raises(VcamError) as err:
        VirtualCameraSink(device=device).open(Size(64, 48), 30.0)
    hint = err.value.hint or ""
    for piece in expect:
        assert piece in hint, (piece, hint)


def test_windows_and_macos_texts_map_to_obs_fixes() -> None:
    win = explain_open_error([OBS_WIN], None, "Windows")
    assert "OBS Studio 26" in win.hint and "Start Virtual Camera" in win.hint
    mac = explain_open_error([OBS_MAC], None, "Darwin")
    assert "OBS Studio 30" in mac.hint and "system extension" in mac.hint
    busy = explain_open_error(["'obs' backend: virtual camera output could not be started"], None, "Windows")
    assert "stop the Virtual Camera in OBS" in busy.hint


@pytest.mark.skipif(platform.system() != "Linux", reason="this machine's case")
def test_opening_here_explains_v4l2loopback() -> None:
    if loopback.probe(with_caps=False).loopback_devices:
        pytest.skip("this machine has a v4l2loopback device")
    sink = VirtualCameraSink()
    with pytest.raises(VcamError) as err:
        sink.open(Size(64, 48), 30.0)
    assert "v4l2loopback" in str(err.value)
    assert "modprobe v4l2loopback" in (err.value.hint or "")
    assert sink.device is None
