"""FileSink: exact frame count and size read back with OpenCV, and the errors users hit."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from vcam.config import Size
from vcam.errors import VcamError
from vcam.sinks import file as file_mod
from vcam.sinks.base import FrameInfo
from vcam.sinks.file import FileSink


def _frames(n: int, size: Size) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = np.zeros((size.height, size.width, 3), np.uint8)
        img[:] = rng.integers(0, 255, 3, dtype=np.uint8)
        cv2.putText(img, str(i), (4, size.height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        out.append(img)
    return out


def _read_back(path: Path) -> tuple[int, int, int]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    n = 0
    w = h = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        h, w = img.shape[:2]
        n += 1
    cap.release()
    return n, w, h


@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_writes_exactly_the_frames_sent(tmp_path: Path, ext: str) -> None:
    size, n = Size(96, 64), 17
    path = tmp_path / f"out{ext}"
    sink = FileSink(path, check_every=5)
    sink.open(size, 25.0)
    for i, img in enumerate(_frames(n, size)):
        sink.send(img, FrameInfo(index=i))
    sink.close()
    assert sink.frames == n
    assert _read_back(path) == (n, size.width, size.height)


def test_content_survives(tmp_path: Path) -> None:
    size = Size(64, 48)
    path = tmp_path / "flat.avi"
    sink = FileSink(path)
    sink.open(size, 30.0)
    colour = np.array([30, 140, 220], np.uint8)
    sink.send(np.broadcast_to(colour, (48, 64, 3)).copy(), FrameInfo(index=0))
    sink.close()
    ok, img = cv2.VideoCapture(str(path)).read()
    assert ok
    assert np.abs(img.reshape(-1, 3).mean(0) - colour).max() < 6    # MJPG is lossy, the colour is not lost


def test_wrong_frame_size_is_refused(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "x.mp4")
    sink.open(Size(64, 48), 30.0)
    with pytest.raises(ValueError, match="64x48"):
        sink.send(np.zeros((50, 64, 3), np.uint8), FrameInfo(index=0))
    sink.close()


def test_unknown_extension_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(VcamError) as err:
        FileSink(tmp_path / "out.mkv")
    assert ".mp4" in str(err.value) and ".avi" in str(err.value)


def test_missing_folder_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "out.mp4"
    with pytest.raises(VcamError) as err:
        FileSink(path).open(Size(64, 48), 30.0)
    assert str(path) in err.value.message and "mkdir -p" in (err.value.hint or "")


def test_parent_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(VcamError, match="not a folder"):
        FileSink(blocker / "out.avi").open(Size(64, 48), 30.0)


def test_path_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "dir.mp4"
    folder.mkdir()
    with pytest.raises(VcamError, match="it is a folder"):
        FileSink(folder).open(Size(64, 48), 30.0)


def _open_as_nobody(path: Path) -> str:
    """FileSink.open(path) in a forked child that has dropped root for nobody: what an ordinary user gets.
    Returns the error message, or "opened"."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # the child: no pytest machinery from here on, only os._exit
        os.close(read_fd)
        result = "child failed"
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            try:
                FileSink(path).open(Size(64, 48), 30.0)
                result = "opened"
            except VcamError as exc:
                result = exc.message
        except BaseException as exc:               # reported to the parent, whatever it is
            result = f"child failed: {exc!r}"
        finally:
            os.write(write_fd, result.encode())
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


def test_read_only_folder(tmp_path: Path) -> None:
    """A folder the user may not write to. As root (who may write anywhere) the same check runs in a child that
    drops to nobody, in a root-owned folder under /tmp that nobody can reach."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(VcamError, match="permission denied"):
                FileSink(ro / "out.mp4").open(Size(64, 48), 30.0)
        finally:
            ro.chmod(0o700)
        return
    folder = Path(tempfile.mkdtemp(prefix="vcam-perm-"))
    try:
        folder.chmod(0o755)                        # nobody may look inside, not write
        message = _open_as_nobody(folder / "out.mp4")
        assert "permission denied" in message and str(folder / "out.mp4") in message, message
        assert not any(folder.iterdir())
    finally:
        shutil.rmtree(folder)


@pytest.mark.root
def test_read_only_mount(read_only_dir: Path) -> None:
    """A read-only file system, which stops root too: the error says so, before any frame, and creates nothing."""
    path = read_only_dir / "out.mp4"
    with pytest.raises(VcamError) as err:
        FileSink(path).open(Size(64, 48), 30.0)
    assert "read-only file system" in err.value.message and str(path) in err.value.message
    assert not any(read_only_dir.iterdir())


@pytest.mark.root
@pytest.mark.parametrize("ext", [".avi", ".mp4"])
def test_a_real_disk_fills_up_mid_recording(tiny_disk: Path, ext: str) -> None:
    """A 256 KiB tmpfs: recording starts (the reserve scales down for so small a disk), the disk fills, the sink
    stops with the disk-full error, and close() still releases the file (the fixture's umount fails otherwise)."""
    from vcam.capture.pattern import PatternSource

    size = Size(160, 120)
    src = PatternSource(size, 30.0, paced=False)
    path = tiny_disk / f"out{ext}"
    sink = FileSink(path, check_every=10)
    sink.open(size, 30.0)
    with pytest.raises(VcamError) as err:
        for i in range(2000):                      # ~5 KB a frame: full long before this
            sink.send(src.render(i), FrameInfo(index=i))
    assert "disk is full" in err.value.message and str(path) in err.value.message, err.value.message
    assert sink.frames >= 10, "it stopped at the start, not mid-recording"
    assert f"stopped after {sink.frames} frames" in err.value.message
    sink.close()
    assert path.stat().st_size > 0


def test_writer_that_cannot_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed:
        def __init__(self, *a) -> None: ...
        def isOpened(self) -> bool: return False  # noqa: N802, E704
        def release(self) -> None: ...  # noqa: E704

    monkeypatch.setattr(file_mod.cv2, "VideoWriter", Closed)
    path = tmp_path / "out.mp4"
    with pytest.raises(VcamError) as err:
        FileSink(path).open(Size(64, 48), 30.0)
    assert str(path) in err.value.message


def test_disk_full_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.avi"
    sink = FileSink(path, check_every=3)
    sink.open(Size(64, 48), 30.0)
    frame = np.zeros((48, 64, 3), np.uint8)
    for i in range(3):
        sink.send(frame, FrameInfo(index=i))
    usage = file_mod.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(file_mod.shutil, "disk_usage", lambda p: usage._replace(free=4096))
    with pytest.raises(VcamError) as err:
        for i in range(3, 6):
            sink.send(frame, FrameInfo(index=i))
    assert "disk is full" in err.value.message and str(path) in err.value.message
    sink.close()


def test_rejected_write_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = FileSink(tmp_path / "out.mp4")
    sink.open(Size(64, 48), 30.0)
    real = sink._writer

    class Failing:
        def write(self, img) -> bool:
            return False

        def release(self) -> None:
            real.release()

    sink._writer = Failing()
    with pytest.raises(VcamError, match="out.mp4"):
        sink.send(np.zeros((48, 64, 3), np.uint8), FrameInfo(index=0))
    sink.close()


def test_file_deleted_while_recording(tmp_path: Path) -> None:
    path = tmp_path / "out.avi"
    sink = FileSink(path, check_every=2)
    sink.open(Size(64, 48), 30.0)
    frame = np.zeros((48, 64, 3), np.uint8)
    sink.send(frame, FrameInfo(index=0))
    path.unlink()
    with pytest.raises(VcamError, match="disappeared"):
        sink.send(frame, FrameInfo(index=1))
    with pytest.raises(VcamError, match="missing or empty"):   # close() checks the result too
        sink.close()
