"""On-demand mode (Linux): who else has the virtual camera open?

v4l2loopback does not tell a writer when a reader opens the device, so we look: every open file of a process
is a symlink in /proc/<pid>/fd, and a reader of /dev/videoN has one pointing there. Scanning them costs a few
ms per second on a desktop; processes of other users cannot be inspected and are not counted (the apps that
read a user's camera run as that user). Our own process is never counted (pyvirtualcam holds the device too).

The pipeline releases the webcam and idles while ``readers() == 0`` and wakes when a reader opens the device.
Browsers open cameras for a moment just to list them, so closing is reported only after ``grace_s`` without a
reader; opening is reported at the next poll.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from vcam.errors import VcamError

log = logging.getLogger(__name__)
PROC = Path("/proc")


def supported() -> bool:
    return sys.platform.startswith("linux") and (PROC / "self" / "fd").is_dir()


def reader_pids(device: str | os.PathLike[str], exclude: Iterable[int] = ()) -> set[int]:
    """PIDs (other than ours and ``exclude``) with ``device`` open."""
    targets = {os.fspath(device), os.path.realpath(device)}
    skip = {os.getpid(), *exclude}
    found: set[int] = set()
    try:
        entries = os.scandir(PROC)
    except OSError:
        return found
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if pid in skip:
                continue
            fd_dir = f"{entry.path}/fd"
            try:
                fds = os.listdir(fd_dir)
            except OSError:          # another user's process, or it just exited
                continue
            for fd in fds:
                try:
                    if os.readlink(f"{fd_dir}/{fd}") in targets:
                        found.add(pid)
                        break
                except OSError:      # the fd closed while we looked
                    continue
    return found


def readers(device: str | os.PathLike[str], exclude: Iterable[int] = ()) -> int:
    """How many other processes have ``device`` open right now."""
    return len(reader_pids(device, exclude))


class ReaderWatcher:
    """Polls ``readers(device)`` on a daemon thread; ``on_open()`` when the first reader appears, ``on_close()``
    when the last one has been gone for ``grace_s``. Callbacks run on the watcher thread."""

    def __init__(self, device: str | os.PathLike[str], on_open: Callable[[], None] | None = None,
                 on_close: Callable[[], None] | None = None, interval_s: float = 1.0, grace_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.device = os.fspath(device)
        self.on_open = on_open
        self.on_close = on_close
        self.interval_s = interval_s
        self.grace_s = grace_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.readers = 0              # the last count seen
        self.active = False           # someone is reading (after the grace period for closing)
        self._last_seen = -1e18
        self.changes = 0

    def start(self) -> None:
        """First poll now (so ``active`` is valid on return), then every ``interval_s``."""
        if not supported():
            raise VcamError("On-demand mode needs Linux (/proc) to see which apps read the virtual camera.",
                            "Run without --on-demand on this system.")
        self.poll()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vcam-ondemand", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval_s + 1.0)
        self._thread = None

    def __enter__(self) -> ReaderWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def poll(self) -> int:
        """One look at the device; fires the callbacks on a change. Returns the reader count."""
        n = readers(self.device)
        now = self._clock()
        fire: Callable[[], None] | None = None
        with self._lock:
            self.readers = n
            if n > 0:
                self._last_seen = now
                if not self.active:
                    self.active, fire, self.changes = True, self.on_open, self.changes + 1
            elif self.active and now - self._last_seen >= self.grace_s:
                self.active, fire, self.changes = False, self.on_close, self.changes + 1
        if fire is not None:
            try:
                fire()
            except Exception:      # a failing callback must not stop the watching
                log.exception("on-demand callback failed")
        return n

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:
                log.exception("on-demand poll failed")

    def status(self) -> dict:
        """For `vcam ctl status`: {"device", "readers", "active"}."""
        with self._lock:
            return {"device": self.device, "readers": self.readers, "active": self.active}
