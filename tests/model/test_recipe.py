"""Training recipes (`vcam train --recipe`): the shipped model's stages parse, and mistakes are refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="model tests need the train extra (torch)")

from vcam.errors import VcamError  # noqa: E402
from vcam.model.cli_train import read_recipe  # noqa: E402
from vcam.model.train import TrainConfig  # noqa: E402

RECIPES = Path(__file__).resolve().parents[2] / "models" / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPES.glob("look_*.json")), ids=lambda p: p.stem)
def test_the_shipped_stages_make_train_configs(path: Path) -> None:
    settings = read_recipe(path)
    cfg = TrainConfig(style_dir=Path("s"), content_dir=Path("c"), out=Path("o"), **settings)
    assert cfg.minutes > 0 or cfg.iterations > 0   # a budget in wall time, or in steps (load-independent)
    if "init_from" in settings:
        assert isinstance(cfg.init_from, Path) and isinstance(cfg.temporal_ramp, tuple)


def test_every_recipe_is_a_look_or_a_segmenter_stage() -> None:
    assert {p.name.split("_")[0] for p in RECIPES.glob("*.json")} == {"look", "person"}


@pytest.mark.parametrize("path", sorted(RECIPES.glob("person_*.json")), ids=lambda p: p.stem)
def test_the_segmenter_stages_make_person_configs(path: Path) -> None:
    from vcam.model.train_person import PersonConfig

    cfg = PersonConfig(people_dir=Path("p"), content_dir=Path("c"), out=Path("o"),
                       **read_recipe(path, PersonConfig))
    assert cfg.minutes > 0 and (cfg.init_from is None or isinstance(cfg.init_from, Path))


@pytest.mark.parametrize(("prefix", "weights"), [("look", "vcam.safetensors"), ("person", "person.safetensors")])
def test_stages_chain_from_one_run_to_the_next(prefix: str, weights: str) -> None:
    from vcam.model.train_person import PersonConfig

    config = TrainConfig if prefix == "look" else PersonConfig
    outs = {}
    for p in sorted(RECIPES.glob(f"{prefix}_*.json")):
        what = json.loads(p.read_text())["_what"]
        outs[p.stem] = what.split("--out ")[1].split()[0]
    stems = sorted(outs, key=lambda stem: int(stem.split("_")[1]))    # by stage number: look_10 after look_9
    assert len(stems) >= 2
    for i, cur in enumerate(stems[1:], start=1):
        start = read_recipe(RECIPES / f"{cur}.json", config).get("init_from")
        # A stage starts from an earlier stage's run (the one before it, or the last shipped one when the stages
        # between did not ship), or from scratch (a new shape); never from a later stage or from outside the chain.
        assert start is None or start in {Path(outs[s]) / weights for s in stems[:i]}, (cur, start)
    assert any("init_from" in read_recipe(RECIPES / f"{s}.json", config) for s in stems)


def test_unknown_or_command_line_settings_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"w_styel": 2.0}))
    with pytest.raises(VcamError, match="w_styel"):
        read_recipe(bad)
    bad.write_text(json.dumps({"out": "elsewhere"}))      # folders come from the command line
    with pytest.raises(VcamError, match="out"):
        read_recipe(bad)
    bad.write_text(json.dumps({"w_style": 2.0}))          # a style setting is not the segmenter's
    from vcam.model.train_person import PersonConfig

    with pytest.raises(VcamError, match="w_style"):
        read_recipe(bad, PersonConfig)
    bad.write_text("[1, 2]")
    with pytest.raises(VcamError, match="JSON object"):
        read_recipe(bad)
    bad.write_text("{not json")
    with pytest.raises(VcamError, match="Cannot read"):
        read_recipe(bad)
