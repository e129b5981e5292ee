"""Single-key controls from the terminal running `vcam run` (the key map in keys.py).

POSIX: the terminal goes to cbreak mode (no line buffering, no echo; Ctrl-C still interrupts) while the reader
runs and is restored on stop, on normal exit (atexit) and on Ctrl-C. Windows: msvcrt polling. When stdin is not
a terminal (CI, a pipe, a service) nothing starts and nothing is read.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

from vcam.control.keys import HELP_LINE, handle_key, status_line
from vcam.control.state import Controls

log = logging.getLogger(__name__)
POLL_S = 0.1
ESC_WAIT_S = 0.05   # the bytes of one escape sequence arrive together; a person types slower


def _foreground(fd: int) -> bool:
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return True     # not our controlling terminal (e.g. a pty handed in): no job-control signals apply


class TerminalKeys:
    """Reads keys on a daemon thread and applies them to ``controls``.

    ``on_action(action)`` is called from that thread with what ``handle_key`` returned ('quit', 'help', ...);
    the caller decides what 'quit' means (usually: set the pipeline's stop event).
    """

    def __init__(self, controls: Controls, on_action: Callable[[str], None] | None = None,
                 fd: int | None = None, echo: Callable[[str], None] | None = None) -> None:
        self.controls = controls
        self.on_action = on_action
        self.echo = echo              # e.g. print to stderr: the help line on 'h', the new look after a change
        self._fd = fd
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_attrs: list | None = None

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start reading; False (and nothing started) when the input is not a terminal."""
        fd = self._fd
        if fd is None:
            try:
                fd = sys.stdin.fileno()
            except (AttributeError, OSError, ValueError):
                return False
        if not os.isatty(fd):
            return False
        self._fd = fd
        if sys.platform == "win32":
            target = self._run_windows
        else:
            if not self._enter_cbreak(fd):
                return False
            target = self._run_posix
        self._stop.clear()
        self._thread = threading.Thread(target=target, name="vcam-terminal-keys", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        self._thread = None
        self._restore()

    def __enter__(self) -> TerminalKeys:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- key dispatch -------------------------------------------------------------------------------
    def _dispatch(self, ch: str) -> None:
        try:
            action = handle_key(ch, self.controls)
        except Exception:     # a key must never take the stream down
            log.exception("key %r failed", ch)
            return
        if not action:
            return
        if self.echo is not None and action != "quit":
            try:
                self.echo(HELP_LINE if action == "help" else status_line(self.controls))
            except Exception:
                log.exception("key echo failed")
        if self.on_action is not None:
            try:
                self.on_action(action)
            except Exception:
                log.exception("key action %r failed", action)

    # -- POSIX --------------------------------------------------------------------------------------
    def _enter_cbreak(self, fd: int) -> bool:
        import termios
        import tty
        try:
            # A background job (`vcam run &`) that touches its terminal is stopped by SIGTTOU/SIGTTIN: leave it be.
            if not _foreground(fd):
                return False
            self._saved_attrs = termios.tcgetattr(fd)
            tty.setcbreak(fd, termios.TCSANOW)
        except (termios.error, OSError):
            self._saved_attrs = None
            return False
        atexit.register(self._restore)
        return True

    def _restore(self) -> None:
        attrs, self._saved_attrs = self._saved_attrs, None
        if attrs is None or self._fd is None or sys.platform == "win32":
            return
        import termios
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(self._fd, termios.TCSADRAIN, attrs)
        with contextlib.suppress(Exception):
            atexit.unregister(self._restore)

    def _readable(self, fd: int, timeout: float) -> bool:
        import select
        r, _, _ = select.select([fd], [], [], timeout)
        return bool(r)

    def _read_soon(self, fd: int) -> bytes:
        return os.read(fd, 1) if self._readable(fd, ESC_WAIT_S) else b""

    def _skip_escape(self, fd: int) -> None:
        """Consume the rest of one escape sequence and nothing after it (a key typed next must still count)."""
        intro = self._read_soon(fd)
        if intro == b"[":                      # CSI: parameters/intermediates, then one final byte 0x40-0x7e
            for _ in range(32):
                b = self._read_soon(fd)
                if not b or 0x40 <= b[0] <= 0x7E:
                    return
        elif intro == b"O":                    # SS3 (F1-F4, arrows in application mode): one more byte
            self._read_soon(fd)
        # Anything else: a lone Esc, or Alt+key (ESC + the key), both consumed by now.

    def _run_posix(self) -> None:
        fd = self._fd
        assert fd is not None
        try:
            while not self._stop.is_set():
                if not self._readable(fd, POLL_S):
                    continue
                data = os.read(fd, 1)
                if not data:          # EOF: the terminal went away
                    break
                if data == b"\x1b":
                    # An escape sequence (arrow, function key): swallow it, or "ESC [ A" would act as '['.
                    self._skip_escape(fd)
                    continue
                self._dispatch(data.decode("latin-1"))
        except OSError as exc:
            log.debug("terminal key reader stopped: %s", exc)
        finally:
            self._restore()

    # -- Windows ------------------------------------------------------------------------------------
    def _run_windows(self) -> None:
        import msvcrt  # type: ignore[import-not-found]
        while not self._stop.is_set():
            if not msvcrt.kbhit():
                time.sleep(0.05)
                continue
            ch = msvcrt.getwch()
            if ch in ("\x00", "\xe0"):   # arrows and function keys come as two codes
                msvcrt.getwch()
                continue
            self._dispatch(ch)
