"""The CUDA kernel sources: where they are, their hash, and the kernel signatures they declare.

The signatures are read from the sources themselves (``extern "C" __global__ void name(...)``), so Python packs
arguments for the GPU and for the host emulation from one description that cannot drift from the C code.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vcam.errors import VcamError

# The .cu files that make up the kernel module, in include order.
UNITS = ("preprocess.cu", "guided.cu", "convert.cu", "temporal.cu")
EMULATION_HEADER = "emulation.h"

_KERNEL_RE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)


def kernel_dir() -> Path:
    """kernels/ of this checkout, else the copy packaged with the wheel (vcam/_kernels)."""
    here = Path(__file__).resolve().parents[1]
    for cand in (here.parent / "kernels", here / "_kernels"):
        if (cand / EMULATION_HEADER).is_file():
            return cand
    raise VcamError("The CUDA kernel sources are missing from this installation.",
                    "Reinstall vcam; the wheel ships them under vcam/_kernels.")


def unit_paths(directory: Path | None = None) -> list[Path]:
    d = directory or kernel_dir()
    return [d / u for u in UNITS if (d / u).is_file()]


def source_files(directory: Path | None = None) -> list[Path]:
    """Every file whose change must invalidate a build: the units and the headers they include."""
    d = directory or kernel_dir()
    return sorted(p for p in d.iterdir() if p.suffix in (".cu", ".cuh", ".h") and p.is_file())


def source_hash(directory: Path | None = None, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in source_files(directory):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def combined_source(directory: Path | None = None) -> str:
    """One translation unit that includes every kernel file: one module, one load, one NVRTC/nvcc run."""
    return "".join(f'#include "{p.name}"\n' for p in unit_paths(directory))


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "ptr", "int", "uint", "float"


@dataclass(frozen=True)
class Signature:
    name: str
    params: tuple[Param, ...]


def _param(text: str, kernel: str) -> Param:
    text = " ".join(text.replace("__restrict__", " ").split())
    m = re.match(r"(.*?)(\w+)$", text)
    if not m:
        raise VcamError(f"Cannot parse parameter {text!r} of kernel {kernel}.")
    ctype, name = m.group(1).strip(), m.group(2)
    if "*" in ctype:
        kind = "ptr"
    else:
        base = ctype.replace("const", "").split()
        kind = {("int",): "int", ("unsigned", "int"): "uint", ("unsigned",): "uint",
                ("float",): "float"}.get(tuple(base), "")
    if not kind:
        raise VcamError(f"Kernel {kernel}: parameter type {ctype!r} is not one Python can pack "
                        "(use pointers, int, unsigned int or float).")
    return Param(name, kind)


def parse_signatures(text: str) -> dict[str, Signature]:
    text = re.sub(r"//[^\n]*", "", text)
    out: dict[str, Signature] = {}
    for m in _KERNEL_RE.finditer(text):
        name, params = m.group(1), m.group(2).strip()
        plist = tuple(_param(p, name) for p in params.split(",")) if params and params != "void" else ()
        out[name] = Signature(name, plist)
    return out


@lru_cache(maxsize=8)
def _signatures_cached(directory: Path, digest: str) -> dict[str, Signature]:
    out: dict[str, Signature] = {}
    for p in unit_paths(directory):
        out.update(parse_signatures(p.read_text(encoding="utf-8")))
    return out


def signatures(directory: Path | None = None) -> dict[str, Signature]:
    d = directory or kernel_dir()
    return _signatures_cached(d, source_hash(d))
