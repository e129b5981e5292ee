"""Presets in the user's config dir, and where that dir is on each platform."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from vcam.control import paths
from vcam.control.presets import Look, PresetStore, apply_preset, check_name, save_current
from vcam.control.state import Controls
from vcam.errors import VcamError


def test_save_list_load_delete_round_trip(styles, clock, isolated_dirs):
    c = Controls(styles, blend={styles[0]: 0.7, styles[1]: 0.3}, strength=0.6, transition_s=0.0, clock=clock)
    c.set_quality("low")
    store = PresetStore()
    assert store.path == isolated_dirs / "presets.json"
    assert store.names() == []
    save_current(c, "calm", store)
    save_current(Controls(styles, blend={}, clock=clock), "off", store)
    assert store.names() == ["calm", "off"]
    data = json.loads(store.path.read_text())
    assert data["presets"]["calm"] == {"blend": pytest.approx({styles[0]: 0.7, styles[1]: 0.3}),
                                       "strength": 0.6, "quality": "low"}

    other = Controls(styles, blend={styles[3]: 1}, transition_s=0.0, clock=clock)
    apply_preset(other, "calm", store)
    assert other.look() == c.look()
    apply_preset(other, "off", store)
    assert other.snapshot().weights == {}

    store.delete("off")
    assert store.names() == ["calm"]
    with pytest.raises(VcamError, match="No preset named 'off'"):
        store.get("off")
    with pytest.raises(VcamError):
        store.delete("off")


def test_saving_again_overwrites(styles, clock):
    store = PresetStore()
    store.save("a", Look({styles[0]: 1.0}, 1.0, "auto"))
    store.save("a", Look({styles[1]: 1.0}, 0.2, "high"))
    assert store.get("a") == Look({styles[1]: 1.0}, 0.2, "high")


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a b", "x" * 41, "naïve", "a/b", None, 7])
def test_bad_names_are_refused(name):
    with pytest.raises(VcamError, match="Bad preset name"):
        check_name(name)
    with pytest.raises(VcamError):
        PresetStore().save(name, Look({}, 1.0, "auto"))


def test_good_names(tmp_path):
    for name in ("a", "Calm_2", "x" * 40, "night-mode"):
        assert check_name(name) == name


@pytest.mark.parametrize("content", [
    "{not json",
    "[]",
    '{"format": "something-else", "version": 1, "presets": {}}',
    '{"format": "vcam-presets", "version": 1, "presets": []}',
    '{"format": "vcam-presets", "version": 1, "presets": {"a": {"strength": 7}}}',
    '{"format": "vcam-presets", "version": 1, "presets": {"a": {"blend": {"x": -1}}}}',
    '{"format": "vcam-presets", "version": 1, "presets": {"../a": {}}}',
    '{"format": "vcam-presets", "version": 1, "presets": {"a": {"quality": "ultra"}}}',
])
def test_corrupt_file_is_named_in_the_error(content):
    store = PresetStore()
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text(content, encoding="utf-8")
    with pytest.raises(VcamError) as e:
        store.names()
    assert str(store.path) in e.value.message
    assert str(store.path) in (e.value.hint or "")
    # Saving over a corrupt file is refused too, rather than silently wiping the user's other presets.
    with pytest.raises(VcamError):
        store.save("x", Look({}, 1.0, "auto"))
    assert store.path.read_text(encoding="utf-8") == content


def test_undecodable_file_is_named(isolated_dirs):
    store = PresetStore()
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(VcamError, match="corrupt"):
        store.all()


def test_preset_with_a_style_the_model_lacks(styles, clock):
    store = PresetStore()
    store.save("old", Look({"cubism": 1.0}, 1.0, "auto"))
    c = Controls(styles, clock=clock)
    with pytest.raises(VcamError, match="Preset 'old' cannot be applied") as e:
        apply_preset(c, "old", store)
    assert "cubism" in e.value.message


def test_config_dir_per_platform(monkeypatch, tmp_path):
    monkeypatch.delenv("VCAM_CONFIG_DIR", raising=False)
    monkeypatch.setattr(paths.Path, "home", classmethod(lambda cls: tmp_path / "home"))
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert paths.config_dir() == tmp_path / "xdg" / "vcam"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    assert paths.config_dir() == tmp_path / "home" / ".config" / "vcam"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert paths.config_dir() == tmp_path / "home" / "Library" / "Application Support" / "vcam"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "appdata"))
    assert paths.config_dir() == tmp_path / "appdata" / "vcam"
    monkeypatch.setenv("VCAM_CONFIG_DIR", str(tmp_path / "override"))
    assert paths.config_dir() == tmp_path / "override"


def test_control_file_round_trip_and_owner_only_removal(monkeypatch):
    path = paths.write_control_file(43210)
    assert paths.read_control_file()["port"] == 43210
    paths.remove_control_file(12345)           # not our port: kept
    assert path.exists()
    paths.remove_control_file(43210)
    assert not path.exists() and paths.read_control_file() is None
    Path(path).write_text("garbage")
    assert paths.read_control_file() is None
