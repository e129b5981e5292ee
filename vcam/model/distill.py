"""The teacher's stylizations of training crops, computed once and cached under the run folder (never committed).

Each entry is one square crop with a margin (what the temporal pair is cut from) and the teacher's output for one
style on exactly that crop, both uint8. The student sees the centre of the crop, or a warped view of it; its
target is the same centre of the teacher's output, or the teacher's output warped by the same flow, so the target
for the second frame is a stable one (the teacher itself flickers frame to frame: ../shared/notes/distillation.md).

Files (numpy .npy, loaded with allow_pickle=False; no pickles anywhere): crops.npy (N,S,S,3), targets.npy
(N,S,S,3), styles.npy (N,) style index, and cache.json with the settings it was made with. A cache whose settings
differ from the run's is rebuilt; an interrupted build resumes from its last finished chunk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vcam.model.data import ContentPool, read_rgb, to_tensor

CACHE_DIR = "teacher_cache"
CHUNK = 256


@dataclass(frozen=True)
class CacheSpec:
    entries: int
    size: int                      # crop side including the margin on both sides
    styles: tuple[str, ...]        # the styles the entries cover, round-robin
    style_long_side: int           # the painting's long side fed to the teacher's style encoder
    seed: int


class TeacherCache:
    """Memory-mapped crops and teacher targets; ``batch()`` returns float tensors in [0,1]."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.crops = np.load(directory / "crops.npy", mmap_mode="r", allow_pickle=False)
        self.targets = np.load(directory / "targets.npy", mmap_mode="r", allow_pickle=False)
        self.styles = np.load(directory / "styles.npy", allow_pickle=False)
        self.meta = json.loads((directory / "cache.json").read_text(encoding="utf-8"))

    def __len__(self) -> int:
        return int(self.meta["done"])

    def indices_for(self, style_ids: list[int]) -> np.ndarray:
        return np.flatnonzero(np.isin(self.styles[: len(self)], style_ids))

    def batch(self, idx: np.ndarray, flips: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(crops, targets, style ids) for entries ``idx``; ``flips`` mirrors some of them (input and target alike)."""
        c = np.stack([self.crops[i][:, ::-1] if f else self.crops[i] for i, f in zip(idx, flips, strict=True)])
        t = np.stack([self.targets[i][:, ::-1] if f else self.targets[i] for i, f in zip(idx, flips, strict=True)])
        to = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float().div_(255.0)  # noqa: E731
        return to(c), to(t), torch.from_numpy(self.styles[idx].astype(np.int64))


def _u8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def build_cache(out: Path, spec: CacheSpec, pool: ContentPool, style_dir: Path, teacher_dir: Path | None = None,
                progress: Callable[[int, int], None] | None = None) -> TeacherCache:
    """Make (or resume, or reuse) the cache for ``spec`` in ``out/teacher_cache``."""
    from vcam.model.teacher import load_teacher

    d = out / CACHE_DIR
    d.mkdir(parents=True, exist_ok=True)
    meta_path = d / "cache.json"
    want = {**asdict(spec), "styles": list(spec.styles)}
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else None
    shape = (spec.entries, spec.size, spec.size, 3)
    if meta is None or meta.get("spec") != want:
        for name in ("crops.npy", "targets.npy", "styles.npy"):
            (d / name).unlink(missing_ok=True)
        np.lib.format.open_memmap(d / "crops.npy", "w+", np.uint8, shape).flush()
        np.lib.format.open_memmap(d / "targets.npy", "w+", np.uint8, shape).flush()
        np.save(d / "styles.npy", (np.arange(spec.entries) % len(spec.styles)).astype(np.int16))
        meta = {"spec": want, "done": 0, "seconds": 0.0}
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
    if meta["done"] >= spec.entries:
        return TeacherCache(d)

    teacher = load_teacher(teacher_dir)
    feats = [teacher.encode_style(to_tensor(read_rgb(style_dir / _style_file(style_dir, s), spec.style_long_side)))
             for s in spec.styles]
    crops = np.load(d / "crops.npy", mmap_mode="r+", allow_pickle=False)
    targets = np.load(d / "targets.npy", mmap_mode="r+", allow_pickle=False)
    styles = np.load(d / "styles.npy", allow_pickle=False)
    t0 = time.perf_counter() - meta["seconds"]
    for start in range(meta["done"], spec.entries, CHUNK):
        end = min(start + CHUNK, spec.entries)
        # One generator per chunk: a resumed build makes the same crops as an uninterrupted one.
        rng = np.random.default_rng([spec.seed, start])
        x = pool.crops(end - start, spec.size, rng)
        with torch.inference_mode():
            y = torch.cat([teacher.stylize(x[i:i + 1], feats[int(styles[start + i])])
                           for i in range(end - start)])
        crops[start:end] = _u8(x)
        targets[start:end] = _u8(y)
        crops.flush()
        targets.flush()
        meta.update(done=end, seconds=time.perf_counter() - t0)
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
        if progress:
            progress(end, spec.entries)
    return TeacherCache(d)


def _style_file(style_dir: Path, name: str) -> str:
    for p in sorted(style_dir.iterdir()):
        if p.stem == name:
            return p.name
    raise FileNotFoundError(f"no style image named {name} in {style_dir}")


# -- any picture as a style (the style encoder's training data) ------------------------------------------------------
STYLE_CACHE_DIR = "style_cache"
STYLE_SIDE = 256                   # the style crop the encoder sees (the teacher gets it at 512, as for paintings)


@dataclass(frozen=True)
class StyleCacheSpec:
    entries: int
    size: int                      # content crop side
    painting_share: float          # the rest of the style pictures are photos and video frames
    seed: int


class StylePool:
    """Pictures to use as styles: the training paintings and photos, as random crops (40-100%, aspect 0.6-1.7),
    flipped and colour-jittered, so the encoder meets far more looks than there are paintings."""

    def __init__(self, paintings: list[np.ndarray], photos: list[np.ndarray], painting_share: float) -> None:
        self.paintings, self.photos, self.share = paintings, photos, painting_share

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        import cv2

        src = self.paintings if (rng.random() < self.share or not self.photos) else self.photos
        img = src[rng.integers(len(src))]
        h, w = img.shape[:2]
        aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.7))))
        area = rng.uniform(0.4, 1.0) * h * w
        ch = int(min(h, max(16, np.sqrt(area / aspect))))
        cw = int(min(w, max(16, ch * aspect)))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = img[y:y + ch, x:x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        gray = crop.mean(axis=2, keepdims=True)
        crop = gray + (crop - gray) * rng.uniform(0.6, 1.4)                   # saturation
        crop = crop[..., rng.permutation(3)] if rng.random() < 0.2 else crop  # now and then another palette
        crop = (crop - 0.5) * rng.uniform(0.8, 1.25) + 0.5 + rng.uniform(-0.08, 0.08)
        crop = np.clip(crop, 0, 1).astype(np.float32)
        s = 512 / max(crop.shape[:2])
        return cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
                          interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


class StyleCache:
    """Content crops, style pictures (square, STYLE_SIDE) and the teacher's outputs, memory-mapped."""

    def __init__(self, directory: Path) -> None:
        self.crops = np.load(directory / "crops.npy", mmap_mode="r", allow_pickle=False)
        self.styles = np.load(directory / "style_images.npy", mmap_mode="r", allow_pickle=False)
        self.targets = np.load(directory / "targets.npy", mmap_mode="r", allow_pickle=False)
        self.meta = json.loads((directory / "cache.json").read_text(encoding="utf-8"))

    def __len__(self) -> int:
        return int(self.meta["done"])

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        to = lambda a: torch.from_numpy(np.stack([a[i] for i in idx])).permute(0, 3, 1, 2).float().div_(255.0)  # noqa: E731
        return to(self.crops), to(self.styles), to(self.targets)


def square(img: np.ndarray, side: int) -> np.ndarray:
    """Resize the long side to ``side`` and pad the rest by reflection: the encoder's statistics ignore layout."""
    import cv2

    h, w = img.shape[:2]
    s = side / max(h, w)
    small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    ph, pw = side - small.shape[0], side - small.shape[1]
    return cv2.copyMakeBorder(small, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2, cv2.BORDER_REFLECT_101)


def build_style_cache(out: Path, spec: StyleCacheSpec, pool: ContentPool, styles: StylePool,
                      teacher_dir: Path | None = None, progress: Callable[[int, int], None] | None = None
                      ) -> StyleCache:
    from vcam.model.teacher import load_teacher

    d = out / STYLE_CACHE_DIR
    d.mkdir(parents=True, exist_ok=True)
    meta_path = d / "cache.json"
    want = asdict(spec)
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else None
    if meta is None or meta.get("spec") != want:
        n, s = spec.entries, spec.size
        for name, shape in (("crops.npy", (n, s, s, 3)), ("targets.npy", (n, s, s, 3)),
                            ("style_images.npy", (n, STYLE_SIDE, STYLE_SIDE, 3))):
            (d / name).unlink(missing_ok=True)
            np.lib.format.open_memmap(d / name, "w+", np.uint8, shape).flush()
        meta = {"spec": want, "done": 0, "seconds": 0.0}
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
    if meta["done"] >= spec.entries:
        return StyleCache(d)
    teacher = load_teacher(teacher_dir)
    arrays = {k: np.load(d / f"{k}.npy", mmap_mode="r+", allow_pickle=False)
              for k in ("crops", "targets", "style_images")}
    t0 = time.perf_counter() - meta["seconds"]
    for start in range(meta["done"], spec.entries, CHUNK):
        end = min(start + CHUNK, spec.entries)
        rng = np.random.default_rng([spec.seed, start])   # per chunk: a resumed build makes the same entries
        x = pool.crops(end - start, spec.size, rng)
        ys, ss = [], []
        for i in range(end - start):
            style = styles.sample(rng)
            with torch.inference_mode():
                ys.append(teacher.stylize(x[i:i + 1], teacher.encode_style(to_tensor(style))))
            ss.append(square(style, STYLE_SIDE))
        arrays["crops"][start:end] = _u8(x)
        arrays["targets"][start:end] = _u8(torch.cat(ys))
        arrays["style_images"][start:end] = (np.clip(np.stack(ss), 0, 1) * 255 + 0.5).astype(np.uint8)
        for a in arrays.values():
            a.flush()
        meta.update(done=end, seconds=time.perf_counter() - t0)
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
        if progress:
            progress(end, spec.entries)
    return StyleCache(d)
