"""The style registry (built-in, stored and live codes; blends mix codes) and the user's stored styles."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vcam.errors import VcamError
from vcam.styles import StyleCodes
from vcam.styles.user import UserStyles, check_name


def _codes() -> StyleCodes:
    return StyleCodes(("a", "b"), np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32))


def test_a_blend_is_the_blend_of_codes_and_added_styles_join_it():
    c = _codes()
    np.testing.assert_allclose(c({"a": 1.0}), [[1, 0, 0]])
    np.testing.assert_allclose(c({"a": 1.0, "b": 3.0}), [[0.25, 0.75, 0]])
    c.add("mine", np.array([0.0, 0.0, 2.0]))
    assert c.styles == ("a", "b", "mine")
    np.testing.assert_allclose(c({"mine": 0.5, "a": 0.5}), [[0.5, 0, 1.0]])
    c.add("mine", np.array([0.0, 0.0, 4.0]))           # replaced: its cached blends go
    np.testing.assert_allclose(c({"mine": 0.5, "a": 0.5}), [[0.5, 0, 2.0]])
    with pytest.raises(VcamError, match="Unknown style 'zzz'"):
        c({"zzz": 1.0})
    with pytest.raises(ValueError):
        c.add("a", np.zeros(3))                           # built-ins are fixed
    with pytest.raises(ValueError):
        c.add("bad", np.array([np.nan, 0, 0]))
    with pytest.raises(ValueError):
        c.add("short", np.zeros(2))


def test_adding_while_another_thread_reads_is_safe():
    c = _codes()
    stop = threading.Event()
    errors = []

    def reader():
        while not stop.is_set():
            try:
                v = c({"a": 0.5, "b": 0.5})
                assert v.shape == (1, 3)
            except Exception as exc:   # noqa: BLE001 - any failure is the finding
                errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(300):
        c.add(f"s{i % 7}", np.full(3, float(i)))
    stop.set()
    t.join()
    assert not errors


def test_stored_styles_add_list_load_remove(tmp_path):
    store = UserStyles(tmp_path / "styles")
    assert store.names() == []
    store.add("my_drawing", np.arange(3, dtype=np.float32), "model-a", "drawing.png", b"\x89PNG fake")
    assert store.names() == ["my_drawing"]
    st = store.load("my_drawing")
    np.testing.assert_array_equal(st.code, [0, 1, 2]) and st.model == "model-a" and st.source == "drawing.png"
    ok, notes = store.usable("model-a", 3)
    assert [s.name for s in ok] == ["my_drawing"] and not notes
    ok, notes = store.usable("model-b", 3)               # made for another model: listed, not used
    assert not ok and "add it again" in notes[0]
    store.remove("my_drawing")
    assert store.names() == [] and not (tmp_path / "styles" / "my_drawing.png").exists()
    with pytest.raises(VcamError, match="No stored style"):
        store.remove("my_drawing")


def test_a_damaged_stored_style_never_stops_a_run(tmp_path):
    store = UserStyles(tmp_path)
    (tmp_path / "broken.safetensors").write_bytes(b"\x00garbage")
    ok, notes = store.usable("m", 3)
    assert not ok and "damaged" in notes[0] and "vcam styles remove broken" in notes[0]


@pytest.mark.parametrize("name", ["", "../escape", "a/b", "x" * 49, "-lead", "sp ace", "..", "nul\x00"])
def test_names_are_checked(name):
    with pytest.raises(VcamError):
        check_name(name)
    with pytest.raises(VcamError, match="built-in"):
        check_name("starry_night", ("starry_night",))
