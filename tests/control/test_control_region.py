"""Person-aware controls: regions and per-region strengths through Controls, keys, presets, the server and
`vcam ctl`; easing in and out of person mode; a refused segmenter leaves the look as it was."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vcam.control.ctl_cli import ctl_app
from vcam.control.keys import handle_key, status_line
from vcam.control.presets import PresetStore, apply_preset, save_current
from vcam.control.server import ControlServer
from vcam.control.state import Controls, region_strengths, resolve_region
from vcam.errors import ModelError, VcamError

T = 0.3


def make(styles, clock, **kw) -> Controls:
    return Controls(styles, blend={styles[0]: 1.0}, transition_s=T, clock=clock, **kw)


def test_person_mode_is_off_until_asked(styles, clock) -> None:
    s = make(styles, clock).snapshot()
    assert s.person_strength is None and s.background_strength is None    # the engine skips the matte
    assert region_strengths(s) == (1.0, 1.0)


@pytest.mark.parametrize("region, want", [("all", (None, None)), ("background", (0.0, None)),
                                          ("person", (None, 0.0)), ("Background ", (0.0, None))])
def test_resolve_region(region, want) -> None:
    assert resolve_region(region) == want


def test_explicit_strengths_win_over_the_region() -> None:
    assert resolve_region("background", person=0.3) == (0.3, None)
    assert resolve_region("all", background=0.5) == (None, 0.5)
    with pytest.raises(VcamError, match="Unknown region"):
        resolve_region("face")
    with pytest.raises(VcamError):
        resolve_region("all", person=1.5)


def test_region_eases_in_and_out(styles, clock) -> None:
    c = make(styles, clock, strength=0.8)
    c.set_region("background")
    clock.advance(T / 2)
    mid = c.snapshot()
    assert 0.0 < mid.person_strength < 0.8 and mid.background_strength == pytest.approx(0.8)
    clock.advance(T)
    end = c.snapshot()
    assert (end.person_strength, end.background_strength) == (0.0, 0.8)
    assert c.as_dict()["region"] == "background"
    # The background follows the strength while the person stays at 0.
    c.set_strength(0.5)
    clock.advance(2 * T)
    assert region_strengths(c.snapshot()) == (0.0, 0.5)
    # Back to all: eased (the matte is still used while easing), then person mode is off again.
    c.set_region("all")
    clock.advance(T / 2)
    mid = c.snapshot()
    assert mid.person_strength is not None and 0.0 < mid.person_strength < 0.5
    clock.advance(T)
    assert c.snapshot().person_strength is None and c.as_dict()["region"] == "all"


def test_person_and_background_strengths_live(styles, clock) -> None:
    c = make(styles, clock)
    c.set_person_strength(0.2)
    c.set_background_strength(0.9)
    clock.advance(2 * T)
    assert region_strengths(c.snapshot()) == (0.2, 0.9)
    assert c.as_dict()["region"] == "custom" and c.look()["person"] == 0.2 and c.look()["background"] == 0.9
    c.set_person_strength(None)
    clock.advance(2 * T)
    assert region_strengths(c.snapshot()) == (1.0, 0.9)


def test_from_passthrough_person_mode_fades_in(styles, clock) -> None:
    c = Controls(styles, blend={}, transition_s=T, clock=clock)
    c.set_region("background")
    c.set_style(styles[1])
    clock.advance(T / 2)
    mid = c.snapshot()
    assert mid.person_strength == 0.0 and 0.0 < mid.background_strength < 1.0


def test_a_refused_segmenter_changes_nothing(styles, clock) -> None:
    c = make(styles, clock)

    def refuse() -> None:
        raise ModelError("The person segmenter models/person.onnx is missing.", "Train it with vcam train --person.")

    c.person_check = refuse
    version = c.version
    for call in (lambda: c.set_region("background"), lambda: c.set_person_strength(0.2),
                 lambda: c.set_background_strength(0.0)):
        with pytest.raises(ModelError, match="missing"):
            call()
    assert c.version == version and c.as_dict()["region"] == "all"
    c.set_region("all")          # turning person mode off never needs the segmenter
    assert handle_key("p", c) is None and c.as_dict()["region"] == "all"   # the key does nothing


def test_p_key_cycles_the_regions(styles, clock) -> None:
    c = make(styles, clock)
    seen = []
    for _ in range(3):
        assert handle_key("p", c) == "region"
        seen.append(c.as_dict()["region"])
        clock.advance(2 * T)
    assert seen == ["background", "person", "all"]
    c.set_region("background")
    assert "region background" in status_line(c)


def test_presets_store_the_regions(styles, clock) -> None:
    store = PresetStore()
    c = make(styles, clock)
    c.set_region("background")
    save_current(c, "room", store)
    save_current(make(styles, clock), "plain", store)
    data = json.loads(store.path.read_text())
    assert data["presets"]["room"]["person"] == 0.0 and "background" not in data["presets"]["room"]
    assert "person" not in data["presets"]["plain"]       # old-style looks read and write unchanged
    other = make(styles, clock)
    apply_preset(other, "room", store)
    assert other.look()["person"] == 0.0
    apply_preset(other, "plain", store)
    assert "person" not in other.look()
    clock.advance(2 * T)
    assert other.snapshot().person_strength is None


def test_a_bad_region_strength_in_a_preset_file_is_named(styles, clock) -> None:
    store = PresetStore()
    save_current(make(styles, clock), "x", store)
    data = json.loads(store.path.read_text())
    data["presets"]["x"]["person"] = 7
    store.path.write_text(json.dumps(data))
    with pytest.raises(VcamError, match="bad person strength"):
        store.get("x")


def test_ctl_region_and_strength_flags(styles) -> None:
    c = Controls(styles, blend={styles[0]: 1.0}, transition_s=0.0)
    runner = CliRunner()
    with ControlServer(c, port=0, stats=lambda: {}):
        r = runner.invoke(ctl_app, ["region", "background"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["state"]["region"] == "background"
        r = runner.invoke(ctl_app, ["strength", "--person", "0.2"])
        assert r.exit_code == 0, r.output
        assert region_strengths(c.snapshot()) == (0.2, 1.0)
        r = runner.invoke(ctl_app, ["strength", "--background", "0.6"])
        assert json.loads(r.stdout)["state"]["background_strength"] == 0.6
        r = runner.invoke(ctl_app, ["region", "face"])
        assert r.exit_code != 0 and "Unknown region" in r.output
        r = runner.invoke(ctl_app, ["strength"])
        assert r.exit_code != 0 and "--person" in r.output


def test_ctl_background_sends_the_picture_and_clears_it(styles, tmp_path) -> None:
    import cv2
    import numpy as np

    c = Controls(styles, blend={styles[0]: 1.0}, transition_s=0.0)
    pic = np.zeros((40, 60, 3), np.uint8)
    pic[:, :, 2] = 255                                    # red in BGR
    path = tmp_path / "beach.png"
    cv2.imwrite(str(path), pic)
    runner = CliRunner()
    with ControlServer(c, port=0, stats=lambda: {}):
        r = runner.invoke(ctl_app, ["background", str(path)])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["state"]["background_image"] == "60x40"
        s = c.snapshot()
        assert s.backdrop.shape == (40, 60, 3) and s.backdrop[0, 0].tolist() == [0, 0, 255]   # bytes, decoded BGR
        token = s.backdrop_token
        (tmp_path / "junk.png").write_bytes(b"not a picture")
        r = runner.invoke(ctl_app, ["background", str(tmp_path / "junk.png")])
        assert r.exit_code != 0 and c.snapshot().backdrop_token == token        # refused; the picture stays
        r = runner.invoke(ctl_app, ["background", "none"])
        assert r.exit_code == 0, r.output
        assert c.snapshot().backdrop is None and json.loads(r.stdout)["state"]["background_image"] is None


def test_a_background_picture_needs_the_segmenter(styles) -> None:
    import numpy as np

    c = Controls(styles, blend={styles[0]: 1.0}, transition_s=0.0)

    def refuse() -> None:
        raise ModelError("The person segmenter models/person.onnx is missing.")

    c.person_check = refuse
    with pytest.raises(ModelError):
        c.set_backdrop(np.zeros((8, 8, 3), np.uint8))
    assert c.snapshot().backdrop is None
    c.set_backdrop(None)          # clearing never needs it


def test_framing_switches_by_key_and_ctl_and_a_refusal_changes_nothing(styles) -> None:
    c = Controls(styles, blend={styles[0]: 1.0}, transition_s=0.0)
    assert c.snapshot().framing is False and c.as_dict()["frame"] == "off"
    assert handle_key("f", c) == "frame" and c.snapshot().framing is True
    assert "frame auto" in status_line(c)
    assert handle_key("f", c) == "frame" and c.snapshot().framing is False
    runner = CliRunner()
    with ControlServer(c, port=0, stats=lambda: {}):
        r = runner.invoke(ctl_app, ["frame", "auto"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["state"]["frame"] == "auto" and c.snapshot().framing
        r = runner.invoke(ctl_app, ["frame", "zoom"])
        assert r.exit_code != 0 and "auto or off" in r.output and c.snapshot().framing
        r = runner.invoke(ctl_app, ["frame", "off"])
        assert r.exit_code == 0 and not c.snapshot().framing

    def refuse() -> None:
        raise ModelError("The person segmenter models/person.onnx is missing.")

    c.framing_check = refuse
    version = c.version
    with pytest.raises(ModelError):
        c.set_framing(True)
    assert handle_key("f", c) is None and c.version == version and not c.snapshot().framing
    c.set_framing(False)        # off never needs the segmenter
