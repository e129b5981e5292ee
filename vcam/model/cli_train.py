"""What `vcam train` calls: the full multi-style distillation, or adding one style to a trained model."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vcam.errors import VcamError
from vcam.model.distill import CACHE_DIR
from vcam.model.network import NetShape
from vcam.model.teacher import require_teacher
from vcam.model.train import WEIGHTS, TrainConfig, train
from vcam.styles import Manifest, load_manifest

_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
# --add-style: its whole budget by default (teacher outputs, training, export), measured in the README.
ADD_STYLE_MINUTES = 5.0
ADD_STYLE_CACHE = 512          # teacher outputs for the new style: ~25 s on 2 cores
ADD_STYLE_CACHE_MINUTES = 0.45  # those outputs, the loss network and the data, once
ADD_STYLE_EXPORT_MINUTES = 0.45  # each network: its data and loss network loaded, its ONNX export and read-back
# --add-style's training settings beside the budget: a high learning rate for the one code, no temporal fade-in.
ADD_STYLE_SETTINGS: dict[str, Any] = {"lr": 2e-2, "lr_min": 1e-3, "cache_entries": ADD_STYLE_CACHE,
                                      "temporal_ramp": (0.0, 0.0)}
# --person: the shipped segmenter's budget (README, person segmenter).
PERSON_MINUTES = 68.0   # stage 1 (models/recipes/person_1_distill.json); the shipped stage 3 trained 100


def _need_dir(path: Path | None, default: Path, what: str) -> Path:
    path = path or default
    if not path.is_dir():
        raise VcamError(f"No {what} folder at {path}.", f"Pass --{what.replace(' ', '-')}-dir DIR.")
    return path


def _optional_dir(path: Path | None, default: Path) -> Path | None:
    if path is not None:
        return path
    return default if default.is_dir() else None


def run_training(out: Path, style_dir: Path | None, content_dir: Path | None, video_dir: Path | None,
                 minutes: float, iterations: int, add_style: Path | None, name: str | None, base: Path | None,
                 seed: int, threads: int, people_dir: Path | None = None, teacher_dir: Path | None = None,
                 recipe: Path | None = None, say: Callable[[str], None] = print) -> Path:
    teacher = require_teacher(teacher_dir)   # refuse before any work when ../shared is absent
    content = _need_dir(content_dir, _SHARED / "content", "content")
    videos = _optional_dir(video_dir, _SHARED / "video")
    people = _optional_dir(people_dir, _SHARED / "people")
    if add_style is None:
        styles = _need_dir(style_dir, _SHARED / "styles", "style")
        settings: dict[str, Any] = {"iterations": iterations, "seed": seed}
        settings.update(read_recipe(recipe) if recipe else {})
        if minutes > 0 or "minutes" not in settings:   # --minutes given on the command line wins over the recipe
            settings["minutes"] = minutes
        cfg = TrainConfig(style_dir=styles, content_dir=content, video_dir=videos, people_dir=people,
                          teacher_dir=teacher, out=out, threads=threads, **settings)
        say(f"distilling every style in {styles} from the teacher -> {out} (checkpoints every "
            f"{cfg.checkpoint_seconds:.0f} s; re-run the same command to resume)")
        path = train(cfg)
        _export(out, say)
        return path
    return _add_style(out, add_style, name, base, content, videos, people, teacher, minutes, iterations, seed,
                      threads, say)


# Settings a recipe may set: the learning ones. Folders, the output and the thread count come from the command line.
_RECIPE_PATHS = {"init_from"}
_RECIPE_TUPLES = {"styles", "train_only_styles", "temporal_ramp", "widths", "enc_blocks", "student_scales"}
_NOT_IN_RECIPES = {"style_dir", "content_dir", "video_dir", "people_dir", "teacher_dir", "out", "threads"}


def read_recipe(path: Path, config: type = TrainConfig) -> dict[str, Any]:
    """``config``'s fields (TrainConfig, or PersonConfig for the segmenter) from a JSON file (keys starting with "_"
    are comments); unknown keys are refused."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VcamError(f"Cannot read the training recipe {path}: {exc}") from None
    if not isinstance(data, dict):
        raise VcamError(f"The training recipe {path} must be a JSON object of training settings.")
    known = {f.name for f in dataclasses.fields(config)} - _NOT_IN_RECIPES
    data = {k: v for k, v in data.items() if not k.startswith("_")}
    unknown = sorted(set(data) - known)
    if unknown:
        raise VcamError(f"Unknown settings in {path}: {', '.join(unknown)}.", "Known: " + ", ".join(sorted(known)))
    for k in _RECIPE_PATHS & set(data):
        data[k] = Path(data[k])
    for k in _RECIPE_TUPLES & set(data):
        data[k] = tuple(data[k])
    return data


def _add_style(out: Path, image: Path, name: str | None, base: Path | None, content: Path, videos: Path | None,
               people: Path | None, teacher: Path, minutes: float, iterations: int, seed: int, threads: int,
               say: Callable[[str], None]) -> Path:
    """Distil the teacher's stylization with a new painting into one new style code for each of the model's networks
    (the plain one, then each variant, e.g. detail: the run picks one by CPU); the networks stay frozen."""
    import time

    if not image.is_file():
        raise VcamError(f"No style image at {image}.")
    name = name or image.stem
    if not name.replace("_", "").replace("-", "").isalnum():
        raise VcamError(f"Style name {name!r} must be letters, digits, _ or -.")
    manifest = load_manifest(base)
    if name in manifest.styles:
        raise VcamError(f"The model already has a style named {name!r}.", "Pick another --name.")
    if not manifest.weights or not manifest.weights_path.is_file():
        raise VcamError(f"{manifest.directory} has no training weights to add a style to.",
                        "Pass --model-dir with a model folder written by `vcam train` (models/ has them).")
    # A variant without its training weights (an older folder) is left out: the new folder then has only the
    # networks that can paint the new style.
    variants = [manifest.variant(v) for v in manifest.networks[1:]]
    variants = [v for v in variants if v.weights and v.weights_path.is_file()]
    nets = [manifest, *variants]
    t0 = time.perf_counter()
    budget = minutes if minutes > 0 else ADD_STYLE_MINUTES
    # The budget covers the teacher's outputs (once: every network learns from the same ones) and each network's
    # export; the training time left is shared equally.
    left = budget - ADD_STYLE_CACHE_MINUTES - ADD_STYLE_EXPORT_MINUTES * len(nets)
    per_net = max(min(0.5, budget / len(nets)), left / len(nets))
    say(f"adding style {name!r} to {manifest.directory} -> {out} (about {budget:.0f} min on 2 cores; only the "
        f"new style's code trains, {per_net:.1f} min for each network: {', '.join(n.network for n in nets)})")
    # The old styles' images are not shipped and not needed: their codes stay frozen.
    with tempfile.TemporaryDirectory() as tmp:
        sdir = Path(tmp) / "style"
        sdir.mkdir()
        shutil.copy(image, sdir / f"{name}{image.suffix.lower()}")
        path = out / WEIGHTS
        for net in nets:
            run_dir = out if net is manifest else Path(tmp) / net.network
            if net is not manifest:
                run_dir.mkdir()
                # The same teacher outputs (same spec: painting, crops, seed), not computed again.
                (run_dir / CACHE_DIR).symlink_to((out / CACHE_DIR).resolve(), target_is_directory=True)
            cfg = TrainConfig(style_dir=sdir, content_dir=content, video_dir=videos, people_dir=people,
                              teacher_dir=teacher, out=run_dir, styles=(*manifest.styles, name),
                              iterations=iterations, seed=seed, threads=threads, init_from=net.weights_path,
                              shape=dict(net.extra.get("net_shape") or NetShape().as_dict()),
                              train_only_styles=(name,), minutes=per_net, **ADD_STYLE_SETTINGS)
            say(f"network {net.network}:")
            trained = train(cfg)
            _keep_runtime_fields(run_dir, net, image.name, name)
            _export(run_dir, say, hint=len(nets) == 1)
            if net is manifest:
                path = trained
            else:
                from vcam.model.export import add_variant

                add_variant(run_dir, out, net.network, net.use_when())
                say(f"added network {net.network!r} to {out}")
    say(f"done in {(time.perf_counter() - t0) / 60:.1f} min")
    if len(nets) > 1:
        say(f"use it with: VCAM_MODEL_DIR={out} vcam run --style {name}")
    return path


def _keep_runtime_fields(run_dir: Path, net: Manifest, image_name: str, name: str) -> None:
    """The trained folder's manifest keeps what the runtime reads from the network it grew from (its ladder, start
    height, upsampling) and records the new style's source."""
    data = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    data.setdefault("style_sources", net.extra.get("style_sources", {}))[name] = image_name
    for key in ("internal_height_720", "ladder_720", "upsample"):
        if key in net.extra:
            data[key] = net.extra[key]
    (run_dir / "manifest.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _export(out: Path, say: Callable[[str], None], hint: bool = True) -> None:
    from vcam.model.export import export_model

    say(f"exported {export_model(out)}")
    if hint:
        say(f"use it with: VCAM_MODEL_DIR={out} vcam run --style ...  (weights: {out / WEIGHTS})")


def run_encoder_training(out: Path, base: Path | None, style_dir: Path | None, content_dir: Path | None,
                         video_dir: Path | None, people_dir: Path | None, teacher_dir: Path | None, minutes: float,
                         seed: int, threads: int, say: Callable[[str], None] = print) -> Path:
    """Distil the style encoder against the installed (or --model-dir) model, then export it into that model folder."""
    from vcam.model.export import export_style_encoder
    from vcam.model.train_encoder import EncoderConfig, train_encoder

    teacher = require_teacher(teacher_dir)
    manifest = load_manifest(base)
    if not manifest.weights or not manifest.weights_path.is_file():
        raise VcamError(f"{manifest.directory} has no training weights to train a style encoder for.",
                        "Pass --model-dir with a model folder written by `vcam train` (models/ has them).")
    cfg = EncoderConfig(model=manifest.directory, style_dir=_need_dir(style_dir, _SHARED / "styles", "style"),
                        content_dir=_need_dir(content_dir, _SHARED / "content", "content"),
                        video_dir=_optional_dir(video_dir, _SHARED / "video"),
                        people_dir=_optional_dir(people_dir, _SHARED / "people"), teacher_dir=teacher, out=out,
                        minutes=minutes if minutes > 0 else 60.0, seed=seed, threads=threads)
    say(f"training the style encoder for {manifest.directory} -> {out} ({cfg.minutes:.0f} min; the network and "
        "the built-in styles stay frozen; re-run the same command to resume)")
    weights = train_encoder(cfg)
    say(f"exported {export_style_encoder(weights, manifest.directory)} into {manifest.directory}")
    return weights


def run_person_training(out: Path, base: Path | None, people_dir: Path | None, content_dir: Path | None,
                        video_dir: Path | None, teacher_dir: Path | None, minutes: float, seed: int, threads: int,
                        recipe: Path | None = None, say: Callable[[str], None] = print) -> Path:
    """Distil vcam's person segmenter from the MediaPipe selfie teacher, then export it into the model folder."""
    from vcam.model.export import export_person
    from vcam.model.selfie_teacher import require_selfie_teacher
    from vcam.model.train_person import PersonConfig, train_person

    teacher = require_selfie_teacher(teacher_dir).parent   # refuse before any work when ../shared is absent
    settings: dict[str, Any] = {"seed": seed, "minutes": PERSON_MINUTES}
    settings.update(read_recipe(recipe, PersonConfig) if recipe else {})
    if minutes > 0:   # --minutes given on the command line wins over the recipe
        settings["minutes"] = minutes
    manifest = load_manifest(base)
    cfg = PersonConfig(people_dir=_need_dir(people_dir, _SHARED / "people", "people"),
                       content_dir=_need_dir(content_dir, _SHARED / "content", "content"),
                       video_dir=_optional_dir(video_dir, _SHARED / "video"), teacher_dir=teacher, out=out,
                       threads=threads, **settings)
    say(f"training the person segmenter from the selfie teacher -> {out} ({cfg.minutes:.0f} min; checkpoints every "
        f"{cfg.checkpoint_seconds:.0f} s; re-run the same command to resume)")
    weights = train_person(cfg)
    say(f"exported {export_person(weights, manifest.directory)} into {manifest.directory}")
    return weights
