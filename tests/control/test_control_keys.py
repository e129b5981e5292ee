"""The shared key map (preview window and terminal)."""

from __future__ import annotations

import pytest

from vcam.control.keys import HELP_LINE, blend_cycle, handle_key, status_line
from vcam.control.state import Controls


@pytest.fixture
def controls(styles, clock) -> Controls:
    return Controls(styles, blend={styles[0]: 1.0}, strength=0.5, transition_s=0.0, clock=clock)


@pytest.mark.parametrize("as_int", [False, True])
def test_digits_pick_styles_and_zero_is_none(controls, styles, as_int):
    key = (lambda ch: ord(ch)) if as_int else (lambda ch: ch)
    for i, name in enumerate(styles, start=1):
        assert handle_key(key(str(i)), controls) == "style"
        assert controls.look()["blend"] == {name: 1.0}
    assert handle_key(key("0"), controls) == "none"
    assert controls.look()["blend"] == {}
    # A digit past the installed styles does nothing.
    assert handle_key(key(str(len(styles) + 1)), controls) is None
    assert controls.look()["blend"] == {}


def test_brackets_step_strength(controls):
    assert handle_key("]", controls) == "strength"
    assert controls.look()["strength"] == 0.6
    handle_key("[", controls)
    handle_key("[", controls)
    assert controls.look()["strength"] == 0.4


def test_space_pauses_r_resets_q_quits_h_helps(controls):
    token = controls.snapshot().reset_token
    assert handle_key(" ", controls) == "pause" and controls.snapshot().paused
    assert handle_key(32, controls) == "pause" and not controls.snapshot().paused
    assert handle_key("r", controls) == "reset" and controls.snapshot().reset_token == token + 1
    assert handle_key("q", controls) == "quit"
    assert handle_key(ord("q"), controls) == "quit"
    assert handle_key("h", controls) == "help"
    for k in ("1-9", "[ ]", "space", "q", "b", "r", "0"):
        assert k in HELP_LINE


def test_b_cycles_blends_and_wraps(controls, styles):
    blends = blend_cycle(styles)
    assert len(blends) >= 2 and all(len(b) == 2 for b in blends)
    seen = []
    for _ in range(len(blends) + 1):
        assert handle_key("b", controls) == "blend"
        seen.append(controls.look()["blend"])
    assert seen[: len(blends)] == [{k: pytest.approx(v) for k, v in b.items()} for b in blends]
    assert seen[-1] == seen[0]          # wrapped


def test_b_with_one_style_does_nothing(clock):
    c = Controls(("only",), blend={"only": 1}, clock=clock)
    assert handle_key("b", c) is None and c.look()["blend"] == {"only": 1.0}


@pytest.mark.parametrize("key", [-1, 255, 0x10051, "Q", "R", "x", "", "ab", "\x1b", 0])
def test_unmapped_keys_change_nothing(controls, key):
    before = (controls.look(), controls.version)
    assert handle_key(key, controls) is None
    assert (controls.look(), controls.version) == before


def test_status_line_names_the_look(controls, styles):
    controls.toggle_pause()
    line = status_line(controls)
    assert styles[0] in line and "0.5" in line and "paused" in line
