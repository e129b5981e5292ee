"""The feeds the pipeline pulls frames from.

LiveFeed reads the source on its own threads and hands over only the newest frame, so a slow consumer gets fresh
frames instead of a growing backlog; when the source fails or hangs it reopens it with backoff while re-sending the
last good frame, so the virtual camera never freezes. LockstepFeed reads on the caller's thread and loses nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np

from vcam.capture.base import EndOfStream, FrameSource, SourceError
from vcam.capture.mailbox import Mailbox
from vcam.errors import VcamError
from vcam.frames import Frame, to_bgr

log = logging.getLogger(__name__)

_FALLBACK_FPS = 30.0


class _SourceThread:
    """Runs every call on a source, one at a time, on one daemon thread.

    A read stuck in a driver then blocks only this thread while the feed goes on re-sending the last frame, and
    backends that care which thread touches a device (MSMF, AVFoundation) always see the same one. A daemon
    thread, so a driver that never returns cannot keep the process from exiting."""

    def __init__(self, name: str, on_done: Callable[[], Any]) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._on_done = on_done
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any]) -> Future:
        fut: Future = Future()
        fut.add_done_callback(lambda _f: self._on_done())
        self._calls.put((fn, fut))
        return fut

    def shutdown(self) -> None:
        """The thread ends after the calls already submitted."""
        self._calls.put(None)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except BaseException as exc:  # handed to the waiting thread, which decides
                fut.set_exception(exc)
            else:
                fut.set_result(result)


class LiveFeed:
    """A FrameFeed for real-time runs: capture thread, newest-frame mailbox, watchdog and reconnection."""

    def __init__(self, source: FrameSource, *, watchdog_s: float = 1.0, backoff_s: tuple[float, float] = (0.25, 4.0),
                 open_timeout_s: float = 20.0, fps_window: int = 30) -> None:
        self.source = source
        self.source_name = source.name
        self.watchdog_s = watchdog_s            # a read taking longer than this counts as a hung source
        self.backoff_s = backoff_s              # first and longest wait between reopen attempts
        self.open_timeout_s = open_timeout_s
        self.reconnecting = False               # the source is down; frames handed out are the last good one
        self.outages = 0                        # how many times the source failed or hung
        self.last_error: str | None = None
        self._mailbox: Mailbox[Frame] = Mailbox()
        self._wake = threading.Event()          # set when a source call finishes, or on stop()
        self._stop = threading.Event()
        self._source_thread: _SourceThread | None = None
        self._worker: threading.Thread | None = None
        self._fatal: BaseException | None = None
        self._index = 0
        self._last_good: np.ndarray | None = None
        self._times_lock = threading.Lock()
        self._grab_times: deque[float] = deque(maxlen=max(2, fps_window))

    # FrameFeed -------------------------------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        return self._mailbox.dropped

    @property
    def measured_fps(self) -> float:
        """Frames per second the source delivered over the last ``fps_window`` live frames; 0 while it is down."""
        with self._times_lock:
            times = tuple(self._grab_times)
        if self.reconnecting or len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def start(self) -> None:
        """Open the source (its VcamError propagates) and start capturing. A second call does nothing."""
        if self._source_thread is not None:
            return
        source_thread = _SourceThread(f"vcam-source {self.source_name}", self._wake.set)
        opening = source_thread.submit(self.source.open)
        try:
            opening.result(timeout=self.open_timeout_s)
        except FutureTimeout:
            source_thread.submit(self.source.close)   # runs if the open ever returns
            source_thread.shutdown()
            raise VcamError(f"{self.source_name} did not open within {self.open_timeout_s:.0f} s.",
                            "The device or its driver is not responding: unplug and replug it, or pick another "
                            "input.") from None
        except BaseException:
            source_thread.shutdown()
            raise
        self._source_thread = source_thread
        self._worker = threading.Thread(target=self._run, name=f"vcam-capture {self.source_name}", daemon=True)
        self._worker.start()

    def next_frame(self, timeout: float) -> Frame | None:
        frame = self._mailbox.get(timeout)
        if frame is None and self._fatal is not None:
            raise self._fatal
        return frame

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._mailbox.close()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=2.0)

    # capture thread --------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._stream() != "failed":
                    break
                self._recover()
        except BaseException as exc:  # e.g. an unsupported pixel format: tell the consumer, do not just go quiet
            log.error("capture from %s stopped: %s", self.source_name, exc)
            self._fatal = exc
        finally:
            self._mailbox.close()
            self._release()

    def _stream(self) -> str:
        """Read and publish until the source ends ("ended"), fails or hangs ("failed"), or stop() ("stopped")."""
        assert self._source_thread is not None
        while not self._stop.is_set():
            grab = self._source_thread.submit(self._grab)
            if not self._await(grab, self._watchdog_s()):
                if self._stop.is_set():
                    break
                # the read stays parked on the source thread; the reopen queued behind it runs once it returns
                self._note_failure(f"{self.source_name}: no frame for {self._watchdog_s():.1f} s (driver stalled)")
                return "failed"
            try:
                image, t_grab = grab.result()
            except EndOfStream:
                return "ended"
            except VcamError:
                raise                          # not something reopening can fix
            except Exception as exc:           # SourceError, or a backend error we did not foresee
                self._note_failure(f"{self.source_name}: {exc}")
                return "failed"
            self._publish(image, t_grab, reconnecting=False)
        return "stopped"

    def _grab(self) -> tuple[np.ndarray, float]:
        image = self.source.read()
        t_grab = time.perf_counter()           # stamped when the pixels arrive, before any conversion
        return to_bgr(image), t_grab

    def _recover(self) -> None:
        """Reopen the source with exponential backoff; meanwhile re-send the last good frame at the nominal rate."""
        assert self._source_thread is not None
        self.reconnecting = True
        self.outages += 1
        delay, longest = self.backoff_s
        period = 1.0 / self._nominal_fps()
        now = time.perf_counter()
        next_tick = now                        # the consumer has already waited out the failed read
        next_attempt = now + delay
        attempt: Future | None = None
        while not self._stop.is_set():
            now = time.perf_counter()
            if now >= next_tick:
                if self._last_good is not None:
                    # a copy: whoever takes the frame may draw on it, and the next re-send must stay clean
                    self._publish(self._last_good.copy(), now, reconnecting=True)
                next_tick += period
                if next_tick <= now:           # fell behind (busy machine): skip ticks rather than burst
                    next_tick = now + period
            if attempt is None and now >= next_attempt:
                attempt = self._source_thread.submit(self._reopen)
            if attempt is not None and attempt.done():
                exc = attempt.exception()
                if exc is None:
                    with self._times_lock:
                        self._grab_times.clear()
                    self.reconnecting = False
                    log.info("%s is back", self.source_name)
                    return
                self._note_failure(f"{self.source_name}: reopen failed: {getattr(exc, 'message', exc)}")
                delay = min(delay * 2, longest)
                next_attempt = time.perf_counter() + delay
                attempt = None
                continue
            self._sleep_until(next_tick if attempt is not None else min(next_tick, next_attempt))

    def _reopen(self) -> None:
        try:
            self.source.close()
        except Exception as exc:               # a half-dead device may fail to close; opening is what matters
            log.debug("closing %s failed: %s", self.source_name, exc)
        self.source.open()

    def _publish(self, image: np.ndarray, t_grab: float, reconnecting: bool) -> None:
        frame = Frame(image, self._index, t_grab, reconnecting)
        self._index += 1
        if not reconnecting:
            self._last_good = image
            with self._times_lock:
                self._grab_times.append(t_grab)
        self._mailbox.put(frame)

    def _release(self) -> None:
        if self._source_thread is None:
            return
        closing = self._source_thread.submit(self.source.close)
        self._source_thread.shutdown()
        try:
            closing.result(timeout=1.0)       # a source still hung in read() is closed when (if) it returns
        except FutureTimeout:
            log.warning("%s is still busy in its driver; it will be closed when the driver returns", self.source_name)
            return
        except Exception as exc:
            log.debug("closing %s failed: %s", self.source_name, exc)
        # Let the thread finish before the interpreter can shut down: a daemon thread still inside native code
        # (OpenCV, a driver) while Python finalises can crash the process on exit.
        self._source_thread.join(timeout=1.0)

    # helpers ---------------------------------------------------------------------------------------------
    def _nominal_fps(self) -> float:
        fps = self.source.nominal_fps
        return fps if fps and fps > 0 else _FALLBACK_FPS

    def _watchdog_s(self) -> float:
        # a slow source (a 5 fps file) must not look hung: allow at least three of its frame periods
        return max(self.watchdog_s, 3.0 / self._nominal_fps())

    def _note_failure(self, message: str) -> None:
        self.last_error = message
        log.warning("%s", message)

    def _await(self, fut: Future, timeout: float) -> bool:
        """Wait for ``fut`` up to ``timeout`` s; False on timeout or stop(). The state is re-checked after every
        wake, so a wake that lands between the check and the wait is never lost."""
        deadline = time.perf_counter() + timeout
        while not fut.done():
            remaining = deadline - time.perf_counter()
            if self._stop.is_set() or remaining <= 0:
                return False
            self._wake.wait(remaining)
            self._wake.clear()
        return True

    def _sleep_until(self, deadline: float) -> None:
        remaining = deadline - time.perf_counter()
        if remaining > 0:
            self._wake.wait(remaining)
        self._wake.clear()


class LockstepFeed:
    """A FrameFeed for demos and offline runs: each next_frame() reads the next source frame on the caller's
    thread, so nothing is dropped and frames come in order."""

    def __init__(self, source: FrameSource, fps_window: int = 30) -> None:
        self.source = source
        self.source_name = source.name
        self.dropped = 0
        self._index = 0
        self._opened = False
        self._ended = False
        self._grab_times: deque[float] = deque(maxlen=max(2, fps_window))

    @property
    def measured_fps(self) -> float:
        times = self._grab_times
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def start(self) -> None:
        if not self._opened:
            self.source.open()
            self._opened = True

    def next_frame(self, timeout: float) -> Frame | None:
        """``timeout`` is not used: the read runs on this thread and the caller wants every frame, however slow."""
        if self._ended or not self._opened:
            return None
        try:
            image = self.source.read()
        except EndOfStream:
            self._ended = True
            return None
        except SourceError as exc:
            # reopening would restart a file from its first frame: an offline run stops here instead
            raise VcamError(f"Reading {self.source_name} failed: {exc}",
                            "Check the input (a damaged file, or a camera that went away).") from exc
        t_grab = time.perf_counter()
        frame = Frame(to_bgr(image), self._index, t_grab)
        self._index += 1
        self._grab_times.append(t_grab)
        return frame

    def stop(self) -> None:
        if self._opened:
            self._opened = False
            self.source.close()
