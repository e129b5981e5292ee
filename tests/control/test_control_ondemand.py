"""On-demand reader detection, with a plain file standing in for /dev/videoN and a subprocess as the reader."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from vcam.control import ondemand
from vcam.control.ondemand import ReaderWatcher, reader_pids, readers

pytestmark = pytest.mark.skipif(not ondemand.supported(), reason="needs Linux /proc")

READER = "import sys; f = open(sys.argv[1], 'rb'); print('open', flush=True); sys.stdin.read()"


class ReaderProcess:
    """Another process holding the 'device' open until told to exit."""

    def __init__(self, path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "open"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


@pytest.fixture
def device(tmp_path):
    path = tmp_path / "video10"
    path.write_bytes(b"")
    return path


def test_readers_go_0_1_0(device):
    assert readers(device) == 0
    with open(device, "rb"):               # our own handle (the pyvirtualcam writer) never counts
        assert readers(device) == 0
        r = ReaderProcess(device)
        try:
            assert readers(device) == 1
            assert reader_pids(device) == {r.proc.pid}
            assert readers(device, exclude=[r.proc.pid]) == 0
        finally:
            r.close()
        assert readers(device) == 0


def test_symlinked_device_path_is_matched(device, tmp_path):
    link = tmp_path / "by-id-camera"
    link.symlink_to(device)
    r = ReaderProcess(device)
    try:
        assert readers(link) == 1
    finally:
        r.close()


def test_watcher_fires_open_at_once_and_close_after_grace(device, clock):
    events: list[str] = []
    w = ReaderWatcher(device, on_open=lambda: events.append("open"), on_close=lambda: events.append("close"),
                      grace_s=2.0, clock=clock)
    assert w.poll() == 0 and not w.active and events == []
    r = ReaderProcess(device)
    try:
        assert w.poll() == 1
        assert events == ["open"] and w.status() == {"device": str(device), "readers": 1, "active": True}
        assert w.poll() == 1 and events == ["open"]          # no repeat while it stays open
    finally:
        r.close()
    clock.advance(1.0)
    assert w.poll() == 0 and w.active and events == ["open"]  # within grace: a quick close/reopen is ignored
    clock.advance(1.5)
    w.poll()
    assert events == ["open", "close"] and not w.active


def test_watcher_thread_sees_a_reader(device):
    events: list[str] = []
    w = ReaderWatcher(device, on_open=lambda: events.append("open"), on_close=lambda: events.append("close"),
                      interval_s=0.05, grace_s=0.0)
    with w:
        assert not w.active
        r = ReaderProcess(device)
        try:
            end = time.monotonic() + 5
            while "open" not in events and time.monotonic() < end:
                time.sleep(0.02)
            assert events == ["open"] and w.readers == 1
        finally:
            r.close()
        end = time.monotonic() + 5
        while "close" not in events and time.monotonic() < end:
            time.sleep(0.02)
        assert events == ["open", "close"] and w.readers == 0


def test_a_failing_callback_does_not_stop_the_watcher(device, clock):
    def boom() -> None:
        raise RuntimeError("pipeline bug")

    w = ReaderWatcher(device, on_open=boom, grace_s=0.0, clock=clock)
    r = ReaderProcess(device)
    try:
        assert w.poll() == 1 and w.active
    finally:
        r.close()
    assert w.poll() == 0 and not w.active
