"""What `vcam train` calls: the full multi-style training, or adding one style to a trained model."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from vcam.errors import VcamError
from vcam.model.train import WEIGHTS, TrainConfig, train
from vcam.styles import load_manifest

_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _need_dir(path: Path | None, default: Path, what: str) -> Path:
    path = path or default
    if not path.is_dir():
        raise VcamError(f"No {what} folder at {path}.", f"Pass --{what.replace(' ', '-')}-dir DIR.")
    return path


def run_training(out: Path, style_dir: Path | None, content_dir: Path | None, video_dir: Path | None,
                 minutes: float, iterations: int, add_style: Path | None, name: str | None, base: Path | None,
                 seed: int, threads: int, say: Callable[[str], None] = print) -> Path:
    content = _need_dir(content_dir, _SHARED / "content", "content")
    videos = video_dir if video_dir is not None else (_SHARED / "video" if (_SHARED / "video").is_dir() else None)
    if add_style is None:
        styles = _need_dir(style_dir, _SHARED / "styles", "style")
        cfg = TrainConfig(style_dir=styles, content_dir=content, video_dir=videos, out=out, minutes=minutes,
                          iterations=iterations, seed=seed, threads=threads)
        say(f"training all styles in {styles} -> {out} (checkpoints every {cfg.checkpoint_seconds:.0f} s; "
            "re-run the same command to resume)")
        path = train(cfg)
        _export(out, say)
        return path
    return _add_style(out, add_style, name, base, content, videos, minutes, iterations, seed, threads, say)


def _add_style(out: Path, image: Path, name: str | None, base: Path | None, content: Path, videos: Path | None,
               minutes: float, iterations: int, seed: int, threads: int, say: Callable[[str], None]) -> Path:
    """Fine-tune only the new style's norm parameters (a few thousand numbers) on top of the shipped network."""
    if not image.is_file():
        raise VcamError(f"No style image at {image}.")
    name = name or image.stem
    if not name.replace("_", "").replace("-", "").isalnum():
        raise VcamError(f"Style name {name!r} must be letters, digits, _ or -.")
    manifest = load_manifest(base)
    if name in manifest.styles:
        raise VcamError(f"The model already has a style named {name!r}.", "Pick another --name.")
    # The old styles' images are not shipped and not needed: their parameters stay frozen.
    with tempfile.TemporaryDirectory() as tmp:
        sdir = Path(tmp)
        shutil.copy(image, sdir / f"{name}{image.suffix.lower()}")
        cfg = TrainConfig(style_dir=sdir, content_dir=content, video_dir=videos, out=out,
                          styles=(*manifest.styles, name), minutes=minutes if minutes > 0 else 5.0,
                          iterations=iterations, seed=seed, threads=threads, init_from=manifest.weights_path,
                          train_only_styles=(name,), lr=5e-3)
        say(f"adding style {name!r} to {manifest.directory} -> {out} "
            f"({cfg.minutes:.0f} min, only the new style's parameters train)")
        path = train(cfg)
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    data.setdefault("style_sources", manifest.extra.get("style_sources", {}))[name] = image.name
    (out / "manifest.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    _export(out, say)
    return path


def _export(out: Path, say: Callable[[str], None]) -> None:
    from vcam.model.export import export_model

    say(f"exported {export_model(out)}")
    say(f"use it with: VCAM_MODEL_DIR={out} vcam run --style ...  (weights: {out / WEIGHTS})")
