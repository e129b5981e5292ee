"""One key map for the preview window and the terminal running `vcam run`.

    1-9    pick the i-th installed style        0      passthrough (no style)
    [ ]    strength -0.1 / +0.1                 b      cycle a few two-style blends
    p      region: all -> background -> person (person-aware mode; nothing if the segmenter is unavailable)
    f      auto-framing on / off (the same)
    space  pause / resume (passthrough)         r      reset the recurrent state
    h      help (HELP_LINE)                     q      quit

Letters are lower case only: OpenCV's ``waitKey`` masks arrow keys to 'Q'..'T' on some platforms, and an arrow must
not quit or reset.
"""

from __future__ import annotations

from vcam.control.state import Controls, describe_blend, region_name
from vcam.errors import VcamError

HELP_LINE = "1-9 style  0 none  [ ] strength  b blend  p region  f frame  space pause  r reset  h help  q quit"
STRENGTH_STEP = 0.1
MAX_BLENDS = 4


def blend_cycle(styles: tuple[str, ...]) -> list[dict[str, float]]:
    """The blends 'b' steps through: neighbouring pairs of installed styles, half and half."""
    pairs = [{styles[i]: 0.5, styles[i + 1]: 0.5} for i in range(0, len(styles) - 1, 2)]
    return pairs[:MAX_BLENDS]


def _key_char(key: int | str) -> str | None:
    if isinstance(key, str):
        return key if len(key) == 1 else None
    if key < 0:                      # cv2.waitKey: no key pressed
        return None
    # waitKeyEx / legacy waitKey carry modifier or extended-key bits above the low byte: ignore those keys.
    if key > 0xFF:
        return None
    return chr(key)


def handle_key(key: int | str, controls: Controls) -> str | None:
    """Apply one key press. Returns the action taken ('style', 'none', 'strength', 'blend', 'region', 'frame', 'pause',
    'reset', 'help', 'quit') or None for a key that means nothing here."""
    ch = _key_char(key)
    if ch is None:
        return None
    if ch == "q":
        return "quit"
    if ch == "h":
        return "help"
    if ch == " ":
        controls.toggle_pause()
        return "pause"
    if ch == "r":
        controls.request_reset()
        return "reset"
    if ch in "[]":
        controls.nudge_strength(STRENGTH_STEP if ch == "]" else -STRENGTH_STEP)
        return "strength"
    if ch == "p":
        try:
            controls.cycle_region()
        except VcamError:      # no person segmenter: the key does nothing (vcam ctl region says why)
            return None
        return "region"
    if ch == "f":
        try:
            controls.toggle_framing()
        except VcamError:
            return None
        return "frame"
    if ch == "0":
        controls.set_style("none")
        return "none"
    if ch.isdigit() and ch.isascii():
        i = int(ch) - 1
        if i >= len(controls.styles):
            return None
        controls.set_style(controls.styles[i])
        return "style"
    if ch == "b":
        blends = blend_cycle(controls.styles)
        if not blends:
            return None
        current = controls.look()["blend"]
        # Next after the current blend; from anything not in the cycle, start at the first.
        idx = next((i for i, b in enumerate(blends) if _same(b, current)), -1)
        try:
            controls.set_blend(blends[(idx + 1) % len(blends)])
        except VcamError:
            return None
        return "blend"
    return None


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-9 for k in a)


def status_line(controls: Controls) -> str:
    """A one-line summary the terminal prints after a key (the preview shows the same in its HUD)."""
    look = controls.look()
    snap = controls.snapshot()
    paused = "  [paused]" if snap.paused else ""
    region = region_name(look.get("person"), look.get("background"))
    where = ("" if region == "all" else f"  region {region}") + ("  frame auto" if snap.framing else "")
    return (f"style {describe_blend(look['blend'])}  strength {look['strength']:.1f}{where}  "
            f"quality {look['quality']}{paused}")
