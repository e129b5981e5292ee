"""Terminal keys through a real pseudo-terminal: cbreak while running, restored after, inert without a TTY."""

from __future__ import annotations

import os
import sys
import time

import pytest

from vcam.control.keys import HELP_LINE
from vcam.control.state import Controls
from vcam.control.terminal import TerminalKeys

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminal (pty/termios) test")


def wait_for(cond, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def test_not_a_tty_starts_nothing(styles):
    r, w = os.pipe()
    try:
        keys = TerminalKeys(Controls(styles), fd=r)
        assert keys.start() is False
        assert not keys.running
        keys.stop()       # harmless
    finally:
        os.close(r)
        os.close(w)


def test_keys_reach_controls_and_terminal_is_restored(styles, pty_pair):
    import termios

    master, slave = pty_pair
    original = termios.tcgetattr(slave)
    controls = Controls(styles, blend={styles[0]: 1}, strength=0.5, transition_s=0.0)
    actions: list[str] = []
    keys = TerminalKeys(controls, on_action=actions.append, fd=slave)
    assert keys.start() is True
    try:
        live = termios.tcgetattr(slave)
        assert not live[3] & termios.ICANON and not live[3] & termios.ECHO   # cbreak, no echo
        os.write(master, b"]")
        assert wait_for(lambda: controls.look()["strength"] == 0.6)
        os.write(master, b"2")
        assert wait_for(lambda: controls.look()["blend"] == {styles[1]: 1.0})
        # An arrow key arrives as ESC [ A: it must not act as '['.
        os.write(master, b"\x1b[A")
        os.write(master, b"q")
        assert wait_for(lambda: "quit" in actions)
        assert controls.look()["strength"] == 0.6
        assert actions == ["strength", "style", "quit"]
    finally:
        keys.stop()
    assert not keys.running
    assert termios.tcgetattr(slave) == original


def test_a_failing_action_does_not_stop_the_reader(styles, pty_pair):
    master, slave = pty_pair
    controls = Controls(styles, strength=0.5, transition_s=0.0)

    def boom(action: str) -> None:
        raise RuntimeError("callback bug")

    with TerminalKeys(controls, on_action=boom, fd=slave) as keys:
        os.write(master, b"]")
        assert wait_for(lambda: controls.look()["strength"] == 0.6)
        os.write(master, b"]")
        assert wait_for(lambda: controls.look()["strength"] == 0.7)
        assert keys.running


def test_echo_prints_help_and_the_new_look(styles, pty_pair):
    master, slave = pty_pair
    controls = Controls(styles, blend={styles[0]: 1}, strength=0.5, transition_s=0.0)
    lines: list[str] = []
    with TerminalKeys(controls, fd=slave, echo=lines.append):
        os.write(master, b"h")
        assert wait_for(lambda: len(lines) == 1)
        os.write(master, b"]")
        assert wait_for(lambda: len(lines) == 2)
        os.write(master, b"x")   # unmapped: nothing printed
        os.write(master, b"q")   # quit: the caller reports it, not echo
        time.sleep(0.2)
    assert lines[0] == HELP_LINE
    assert "strength 0.6" in lines[1] and styles[0] in lines[1] and len(lines) == 2
