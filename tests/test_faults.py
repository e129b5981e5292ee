"""Faults a live filter meets, driven through the real runner and pipeline (and the CLI where the user sees them):
a camera that drops out and comes back (at another size), a sink slower than the source, Ctrl-C / SIGTERM,
a file sink that cannot write, broken model files, and frames of unusual shapes."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from vcam import runner
from vcam.capture.base import SourceError
from vcam.capture.grabber import LiveFeed
from vcam.config import RunConfig, Size
from vcam.errors import ModelError, VcamError
from vcam.sinks.base import FrameInfo

REPO = Path(__file__).resolve().parents[1]


# -- fakes -----------------------------------------------------------------------------------------------------------
class CountingSource:
    """A live source whose frame n carries n in its pixels (B = n % 256, G = n // 256, R = 128) and remembers when it
    was read. ``fail_at``: the read that raises SourceError (unplugged); the next ``open_failures`` reopens fail, then
    it comes back, at ``size_after`` if given. ``shape_fn(h, w)`` gives the delivered array shape."""

    def __init__(self, size=(320, 240), fps=50.0, fail_at=None, open_failures=0, size_after=None, shape_fn=None,
                 dtype=np.uint8):
        self.name, self.nominal_fps, self.live = "fake camera", fps, True
        self.size, self.fail_at, self.open_failures, self.size_after = size, fail_at, open_failures, size_after
        self.shape_fn, self.dtype = shape_fn, dtype
        self.period = 1.0 / fps
        self.reads = 0
        self.read_times: dict[int, float] = {}
        self.t_unplugged = self.t_back = 0.0
        self.unplugged = False
        self._next = None

    def open(self) -> None:
        if self.unplugged:
            if self.open_failures > 0:
                self.open_failures -= 1
                raise VcamError("fake camera is unplugged")
            if self.size_after is not None:
                self.size = self.size_after
            self.unplugged = False
            self.t_back = time.perf_counter()

    def read(self) -> np.ndarray:
        now = time.perf_counter()
        self._next = now if self._next is None else max(self._next, now - self.period)
        time.sleep(max(0.0, self._next - now))
        self._next += self.period
        n = self.reads
        self.reads += 1
        if n == self.fail_at:
            self.unplugged = True
            self.t_unplugged = time.perf_counter()
            raise SourceError("fake camera unplugged")
        self.read_times[n] = time.perf_counter()
        w, h = self.size
        img = np.empty((h, w, 3), np.uint8)
        img[..., 0], img[..., 1], img[..., 2] = n % 256, n // 256, 128
        if self.shape_fn is not None:
            shape = self.shape_fn(h, w)
            img = np.full(shape, n % 256, np.uint8) if len(shape) == 2 or shape[2] != 4 else \
                np.dstack([img, np.full((h, w), 255, np.uint8)])
        return img.astype(self.dtype)

    def close(self) -> None:
        pass


class RecordingSink:
    """Keeps a copy of every frame with its FrameInfo and the time it was sent; optionally slow."""

    name = "recorder"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.frames: list[tuple[float, np.ndarray, FrameInfo]] = []
        self.size: Size | None = None
        self.closed = False

    def open(self, size: Size, fps: float) -> None:
        self.size = size

    def send(self, image: np.ndarray, info: FrameInfo) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        self.frames.append((time.perf_counter(), image.copy(), info))

    def close(self) -> None:
        self.closed = True


def _run(monkeypatch, source, sink, **cfg_kw) -> dict:
    """The real runner with ``source`` behind the real live feed and ``sink`` as the only output."""
    feeds = []

    def open_feed(cfg, start=True):
        feeds.append(LiveFeed(source, watchdog_s=1.0, backoff_s=(0.1, 0.4)))
        return feeds[-1]

    monkeypatch.setattr(runner, "open_feed", open_feed)
    monkeypatch.setattr(runner, "open_sinks", lambda cfg, **kw: [sink] if sink.open(cfg.size, cfg.fps) is None else [])
    cfg = RunConfig(**{"input": "fake", "outputs": ("null",), "style": "none", "engine": "passthrough",
                       "size": Size(320, 240), "fps": 50.0, "quiet": True, **cfg_kw})
    summary = runner.run(cfg, say=lambda m: None)
    assert sink.closed, "the runner must close its sinks"
    return summary


def _value(img: np.ndarray) -> int:
    """The frame number a CountingSource frame carries (read from the middle, away from any overlay)."""
    h, w = img.shape[:2]
    b, g = (int(v) for v in np.median(img[h // 3: 2 * h // 3, w // 3: 2 * w // 3, :2].reshape(-1, 2), axis=0))
    return b + 256 * g


# -- the camera goes away and comes back -----------------------------------------------------------------------------
@pytest.mark.parametrize("size_after", [None, (160, 96)], ids=["same-size", "new-size"])
def test_camera_unplugged_mid_stream_output_never_stalls(monkeypatch, size_after):
    # ~0.1+0.2+0.4+0.4+0.4+0.4 s of failed reopens: long enough that a stalled output shows as a gap
    src = CountingSource(fps=50.0, fail_at=25, open_failures=6, size_after=size_after)
    sink = RecordingSink()
    _run(monkeypatch, src, sink, frames=150)

    times = [t for t, _, _ in sink.frames]
    flags = [info.reconnecting for _, _, info in sink.frames]
    assert len(sink.frames) == 150
    assert True in flags, "no frame was marked reconnecting while the camera was gone"
    first_down = flags.index(True)
    back = flags.index(False, first_down)
    assert not any(flags[back:]), "after the camera came back, frames must be live again"
    # The output kept going through the outage: no gap anywhere near the outage's length (the bound is loose
    # because the machine that runs the tests may be busy).
    outage = src.t_back - src.t_unplugged
    gaps = np.diff(times[max(first_down - 3, 1):back + 3])
    assert outage > 1.5 and max(gaps) < 0.5 * outage, f"the output stalled {max(gaps):.2f} s in a {outage:.2f} s outage"
    last_live = sink.frames[first_down - 1][1]
    down = [img for _, img, _ in sink.frames[first_down:back]]
    assert len(down) >= 10
    # The newest picture the camera gave before it went (on a busy machine the mailbox may have replaced the last one
    # sent with a newer one that was never shown), re-sent, with a visible "reconnecting" mark on it: the viewer of a
    # video call sees only pixels.
    frozen = _value(down[0])
    assert 0 <= frozen - _value(last_live) <= 3 and frozen < 25, "the outage shows a picture the camera never gave"
    clean = np.empty_like(last_live)
    clean[..., 0], clean[..., 1], clean[..., 2] = frozen % 256, frozen // 256, 128
    for img in down:
        same = np.mean(np.all(img == clean, axis=2))
        assert same > 0.5, "the frame shown during the outage is not the last live picture"
        assert not np.array_equal(img, clean), "the re-sent frame carries no visible reconnecting mark"
    # Live again: new frame numbers from after the reopen, at the configured output size whatever the camera sends.
    after = [_value(img) for _, img, _ in sink.frames[back:]]
    assert after[0] > 25 and all(b > a for a, b in zip(after, after[1:], strict=False))
    assert all(img.shape == (240, 320, 3) for _, img, _ in sink.frames)


def test_camera_that_comes_back_at_another_size_is_rescaled_not_crashed(monkeypatch):
    src = CountingSource(size=(320, 240), fps=50.0, fail_at=10, open_failures=1, size_after=(200, 150))
    sink = RecordingSink()
    _run(monkeypatch, src, sink, frames=40)
    shapes = {img.shape for _, img, _ in sink.frames}
    assert shapes == {(240, 320, 3)}
    assert src.size == (200, 150) and not sink.frames[-1][2].reconnecting
    # the upscaled new frames still carry their own (uniform) content
    assert _value(sink.frames[-1][1]) > 10


# -- a sink slower than the source: the newest frame wins --------------------------------------------------------------
def test_slow_sink_latency_stays_bounded(monkeypatch):
    src = CountingSource(size=(160, 120), fps=200.0)
    delay = 0.1                            # the sink takes 20 source periods per frame
    sink = RecordingSink(delay_s=delay)
    summary = _run(monkeypatch, src, sink, frames=30, size=Size(160, 120), fps=200.0)
    numbers = [_value(img) for _, img, _ in sink.frames]
    assert all(b > a for a, b in zip(numbers, numbers[1:], strict=False))
    ages = [t - src.read_times[n] for (t, _, _), n in zip(sink.frames, numbers, strict=True)]
    # Through a queue every frame would be ~95 ms older than the one before (2.8 s by the end); newest-wins keeps
    # the age near one sink period (loose bounds: the test machine may be busy).
    assert np.mean(ages[-10:]) < np.mean(ages[:10]) + delay
    assert max(ages) < 10 * delay
    assert summary["dropped_frames"] > 0 and numbers[-1] - numbers[0] > 2 * len(numbers)


# -- Ctrl-C and SIGTERM -----------------------------------------------------------------------------------------------
def _vcam_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "vcam", *args]


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "VCAM_CONFIG_DIR": str(tmp_path / "config"), "VCAM_RUNTIME_DIR": str(tmp_path / "run"),
            "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}   # a native crash prints its stack


def _token(runtime: Path) -> str:
    """The secret the run wrote for its user, beside its port (in the test's own runtime folder)."""
    try:
        return json.loads((runtime / "control.json").read_text())["token"]
    except (OSError, ValueError, KeyError):
        return ""


def _wait_streaming(proc: subprocess.Popen, lines: list[str], runtime: Path, timeout: float = 60.0) -> int:
    """Wait for the control endpoint's line, then until its /status counts frames; returns the port."""
    deadline = time.monotonic() + timeout
    port = None
    while port is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        for line in lines:
            if "Control endpoint on http://127.0.0.1:" in line:
                port = int(line.split("127.0.0.1:")[1].split()[0].strip("/ )"))
    assert port is not None, f"vcam never started its endpoint:\n{''.join(lines)}"
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/status",
                                         headers={"Authorization": f"Bearer {_token(runtime)}"})
            with urllib.request.urlopen(req, timeout=2) as r:
                if json.loads(r.read()).get("stats", {}).get("frames", 0) > 5:
                    return port
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("vcam never reported streamed frames")


def _pump(stream, lines: list[str]) -> threading.Thread:
    t = threading.Thread(target=lambda: lines.extend(iter(stream.readline, "")), daemon=True)
    t.start()
    return t


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_streaming_exits_cleanly_with_stats(tmp_path, sig):
    stats = tmp_path / "stats.json"
    proc = subprocess.Popen(
        _vcam_cmd("run", "--input", "pattern", "--output", "null", "--style", "none", "--size", "160x120",
                  "--fps", "30", "--stats-json", str(stats), "--control-port", "0"),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path),
        cwd=tmp_path)
    err_lines: list[str] = []
    out_lines: list[str] = []
    pumps = [_pump(proc.stderr, err_lines), _pump(proc.stdout, out_lines)]
    try:
        _wait_streaming(proc, err_lines, tmp_path / "run")
        proc.send_signal(sig)
        rc = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for t in pumps:
        t.join(timeout=5)
    err = "".join(err_lines)
    assert rc == 0, f"exit code {rc}:\n{err}"
    assert "Traceback" not in err
    data = json.loads(stats.read_text())
    assert data["frames"] > 5 and data["fps"] > 0
    # the endpoint's runtime file is removed and the process is gone
    assert not list((tmp_path / "run").glob("*.json"))
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


# -- a file sink that cannot write ---------------------------------------------------------------------------------
def _squeeze(text: str) -> str:
    """Without whitespace: the CLI's console wraps long lines (even inside a path) when stderr is not a terminal."""
    return re.sub(r"\s", "", text)


def _cli(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(_vcam_cmd(*args), capture_output=True, text=True, timeout=timeout, env=_env(tmp_path),
                          cwd=tmp_path, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_disk_full_while_recording_is_a_clear_error(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    out = tmp_path / "full.avi"
    out.symlink_to("/dev/full")        # every write fails with ENOSPC, as on a full disk
    p = _cli(tmp_path, "run", "--input", "pattern", "--output", str(out), "--style", "none", "--size", "160x120",
             "--frames", "60", "--fps", "60")
    assert p.returncode != 0, "writing to a full disk was reported as success"
    assert "Traceback" not in p.stderr
    assert "error:" in p.stderr and _squeeze(str(out)) in _squeeze(p.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["missing-folder", "is-a-folder", "read-only-fs"])
def test_unwritable_output_path_is_a_clear_error(tmp_path, where):
    target = {"missing-folder": tmp_path / "nope" / "out.mp4", "is-a-folder": tmp_path / "dir.mp4",
              "read-only-fs": Path("/proc/vcam-test-out.mp4")}[where]
    if where == "is-a-folder":
        target.mkdir()
    p = _cli(tmp_path, "run", "--input", "pattern", "--output", str(target), "--style", "none", "--size", "160x120",
             "--frames", "5")
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert _squeeze(str(target)) in _squeeze(p.stderr)


def test_full_disk_found_by_the_space_check_stops_the_run(monkeypatch, tmp_path):
    import shutil as _shutil

    from vcam.sinks import file as file_sink

    real = _shutil.disk_usage
    monkeypatch.setattr(file_sink.shutil, "disk_usage",
                        lambda p: real(p)._replace(free=1024) if Path(p) == tmp_path else real(p))
    cfg = RunConfig(input="pattern", outputs=(str(tmp_path / "out.avi"),), style="none", engine="passthrough",
                    size=Size(160, 120), frames=10, realtime=False, quiet=True)
    with pytest.raises(VcamError, match="disk is full") as info:
        runner.run(cfg, say=lambda m: None)
    assert str(tmp_path / "out.avi") in info.value.message


# -- real disk faults, as root: a 256 KiB tmpfs that fills up, a read-only bind mount (fixtures in conftest.py) -----
class TrackedCamera(CountingSource):
    """A fake webcam that counts being opened and closed: its light going on, and off again."""

    def __init__(self, noise: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.opened = self.closed = 0
        w, h = self.size
        # Noise compresses badly: a recording of it fills a small disk in a second, not in many.
        self._noise = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8) if noise else None

    def read(self) -> np.ndarray:
        img = super().read()
        return img if self._noise is None else img ^ self._noise

    def open(self) -> None:
        self.opened += 1
        super().open()

    def close(self) -> None:
        self.closed += 1


class FakeVirtualCamera:
    """pyvirtualcam.Camera as the virtual sink uses it; counts frames and whether it was closed."""

    instances: list[FakeVirtualCamera] = []

    def __init__(self, width, height, fps, *, fmt, device=None, backend=None) -> None:
        self.device, self.native_fmt, self.frames, self.closed = device or "/dev/video10", fmt, 0, False
        FakeVirtualCamera.instances.append(self)

    def send(self, frame) -> None:
        self.frames += 1

    def sleep_until_next_frame(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _fake_devices(monkeypatch, camera: TrackedCamera) -> None:
    import pyvirtualcam

    FakeVirtualCamera.instances = []
    monkeypatch.setattr(pyvirtualcam, "Camera", FakeVirtualCamera)
    monkeypatch.setattr(runner, "open_feed",
                        lambda cfg, start=True: LiveFeed(camera, watchdog_s=1.0, backoff_s=(0.1, 0.4)))


@pytest.mark.root
def test_a_real_disk_filling_up_mid_run_releases_everything(monkeypatch, tiny_disk, tmp_path):
    """The recording fills the tmpfs while a camera and a virtual camera are open: the run stops with the disk-full
    error, the camera and the device are closed, the stats land on another disk, and the recording is closed
    (tiny_disk's umount fails on an open file)."""
    camera = TrackedCamera(size=(160, 120), fps=60.0, noise=True)
    _fake_devices(monkeypatch, camera)
    out, stats = tiny_disk / "out.avi", tmp_path / "stats.json"
    cfg = RunConfig(input="fake camera", outputs=("virtual", str(out)), style="none", engine="passthrough",
                    size=Size(160, 120), fps=60.0, quiet=True, stats_json=stats)
    with pytest.raises(VcamError) as info:
        runner.run(cfg, say=lambda m: None)
    msg = info.value.message
    assert "disk is full" in msg and str(out) in msg, msg
    written = int(re.search(r"stopped after (\d+) frames", msg).group(1))
    assert written >= 10, f"it stopped at the start, not mid-run: {msg}"
    assert camera.opened == 1 and camera.closed == 1, "the camera was not released"
    [device] = FakeVirtualCamera.instances
    assert device.closed, "the virtual camera was not released"
    data = json.loads(stats.read_text())
    assert written - 1 <= data["frames"] <= written and device.frames >= data["frames"], (data["frames"], written)


@pytest.mark.root
@pytest.mark.slow
def test_cli_disk_full_mid_run_is_one_clear_error_and_the_stats_are_reported(tiny_disk, tmp_path):
    """The same through the CLI, with --stats-json on the full disk too: no traceback, the disk-full error, and the
    stats the disk could not take printed instead (no half-written JSON left)."""
    out, stats = tiny_disk / "out.avi", tiny_disk / "stats.json"
    p = _cli(tmp_path, "run", "--input", "pattern", "--output", str(out), "--style", "none", "--engine",
             "passthrough", "--size", "160x120", "--fps", "60", "--stats-json", str(stats), "--no-control")
    err = _squeeze(p.stderr)
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    assert "error:" in p.stderr and "diskisfull" in err and _squeeze(str(out)) in err, p.stderr
    written = int(re.search(r"stoppedafter(\d+)frames", err).group(1))
    assert written >= 10, p.stderr
    reported = re.search(r"Couldnotwritethestatsto" + re.escape(_squeeze(str(stats))) + r".*?Theywere:(\d+)frames", err)
    assert reported and int(reported.group(1)) >= written - 1, p.stderr
    assert not stats.exists(), "a truncated stats file was left behind"
    assert out.stat().st_size > 0


@pytest.mark.root
def test_a_read_only_mount_fails_before_the_camera_opens(monkeypatch, read_only_dir):
    camera = TrackedCamera(size=(160, 120))
    _fake_devices(monkeypatch, camera)
    out = read_only_dir / "out.mp4"
    cfg = RunConfig(input="fake camera", outputs=("virtual", str(out)), style="none", engine="passthrough",
                    size=Size(160, 120), quiet=True)
    with pytest.raises(VcamError) as info:
        runner.run(cfg, say=lambda m: None)
    assert "Cannot write" in info.value.message and "read-only file system" in info.value.message
    assert camera.opened == 0, "the webcam was opened although the output could not be written"
    assert all(d.closed for d in FakeVirtualCamera.instances), "the output opened before it was not closed"
    assert not any(read_only_dir.iterdir())


@pytest.mark.root
@pytest.mark.slow
def test_cli_read_only_mount_is_a_clear_error(read_only_dir, tmp_path):
    out = read_only_dir / "out.mp4"
    p = _cli(tmp_path, "run", "--input", "pattern", "--output", str(out), "--style", "none", "--engine",
             "passthrough", "--size", "160x120", "--frames", "5", "--no-control")
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    err = _squeeze(p.stderr)
    assert "error:Cannotwrite" in err and _squeeze(str(out)) in err and "read-onlyfilesystem" in err, p.stderr
    assert "frames in" not in p.stdout, "it streamed"
    assert not any(read_only_dir.iterdir())


# -- broken models ---------------------------------------------------------------------------------------------------
STYLES = ["a", "b"]


def _model_dir(tmp_path: Path, manifest: dict | str | None = None, onnx: bytes | None = None) -> Path:
    d = tmp_path / "model"
    d.mkdir(exist_ok=True)
    if onnx is not None:
        (d / "vcam.onnx").write_bytes(onnx)
    if manifest is None:
        from vcam.styles import sha256_file

        manifest = {"format": "vcam-model", "version": 1, "styles": STYLES, "onnx": "vcam.onnx",
                    "onnx_sha256": sha256_file(d / "vcam.onnx") if onnx is not None else "",
                    "weights": "vcam.safetensors", "state_channels": 8, "size_multiple": 8}
    (d / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return d


def _styled_cfg(model_dir: Path) -> RunConfig:
    return RunConfig(input="pattern", outputs=("null",), style="a", engine="cpu", size=Size(64, 48), frames=2,
                     realtime=False, model_dir=model_dir, quiet=True)


@pytest.mark.parametrize("manifest", [
    "{not json", '{"format": "vcam-model", "version": 1, "styles": ["a", "b"], "onnx": "vc',  # truncated
    json.dumps({"format": "vcam-model", "version": 99, "styles": STYLES, "onnx": "vcam.onnx",
                "state_channels": 8, "size_multiple": 8}),
    json.dumps({"format": "something-else", "version": 1}),
    json.dumps({"format": "vcam-model", "version": 1, "styles": STYLES}),                      # fields missing
    "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),                               # not UTF-8
], ids=["not-json", "truncated", "wrong-version", "wrong-format", "missing-fields", "binary"])
def test_bad_manifest_names_the_file(tmp_path, manifest):
    d = _model_dir(tmp_path, manifest=manifest, onnx=b"x")
    with pytest.raises(ModelError) as info:
        runner.run(_styled_cfg(d), say=lambda m: None)
    assert str(d / "manifest.json") in str(info.value)


def _valid_onnx_bytes() -> bytes:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("damage", ["truncated-with-hash", "garbage-without-hash", "missing"])
def test_corrupt_or_missing_onnx_names_the_file(tmp_path, damage):
    good = _valid_onnx_bytes()
    if damage == "truncated-with-hash":
        d = _model_dir(tmp_path, onnx=good)
        (d / "vcam.onnx").write_bytes(good[: len(good) // 2])
    elif damage == "garbage-without-hash":
        d = _model_dir(tmp_path, onnx=b"\x08\x07garbage" * 10)
        m = json.loads((d / "manifest.json").read_text())
        m["onnx_sha256"] = ""
        (d / "manifest.json").write_text(json.dumps(m))
    else:
        d = _model_dir(tmp_path, onnx=good)
        (d / "vcam.onnx").unlink()
    with pytest.raises(ModelError) as info:
        runner.run(_styled_cfg(d), say=lambda m: None)
    assert str(d / "vcam.onnx") in str(info.value)


class _Tripwire:
    """Unpickling this touches a file: proof that something called pickle on model data."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_pickle_posing_as_the_model_is_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Tripwire(str(marker)))
    d = _model_dir(tmp_path, onnx=payload)
    (d / "vcam.safetensors").write_bytes(payload)
    (d / "vcam.pt").write_bytes(payload)
    with pytest.raises(ModelError) as info:
        runner.run(_styled_cfg(d), say=lambda m: None)
    assert not marker.exists(), "model data was unpickled"
    assert str(d) in str(info.value)


@pytest.mark.slow
def test_cli_reports_a_bad_model_without_traceback(tmp_path):
    d = _model_dir(tmp_path, manifest="{not json", onnx=b"x")
    p = _cli(tmp_path, "run", "--input", "pattern", "--output", "null", "--style", "a", "--engine", "cpu",
             "--model-dir", str(d), "--size", "64x48", "--frames", "1")
    assert p.returncode == 1
    assert "Traceback" not in p.stderr and _squeeze(str(d / "manifest.json")) in _squeeze(p.stderr)


# -- frames of unusual shapes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("shape_fn", "dtype"), [
    (lambda h, w: (h, w), np.uint8),
    (lambda h, w: (h, w, 1), np.uint8),
    (lambda h, w: (h, w, 4), np.uint8),
    (None, np.uint16),
], ids=["gray", "gray-1ch", "bgra", "16-bit"])
@pytest.mark.parametrize("source_size", [(33, 17), (320, 240), (641, 359)], ids=["tiny-odd", "same", "big-odd"])
def test_odd_frames_come_out_at_the_output_size(monkeypatch, shape_fn, dtype, source_size):
    src = CountingSource(size=source_size, fps=100.0, shape_fn=shape_fn, dtype=dtype)
    sink = RecordingSink()
    _run(monkeypatch, src, sink, frames=5, size=Size(320, 240), fps=100.0)
    assert len(sink.frames) == 5
    for _, img, _ in sink.frames:
        assert img.shape == (240, 320, 3) and img.dtype == np.uint8
        if shape_fn is not None and shape_fn(2, 2) != (2, 2, 4):
            # gray in, gray out: all three channels equal
            assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2])


def test_odd_output_size_for_a_virtual_camera_is_made_even():
    cfg, _, _ = runner.prepare(RunConfig(input="pattern", outputs=("virtual",), style="none", size=Size(641, 359)),
                               say=lambda m: None)
    assert cfg.size == Size(640, 358)
