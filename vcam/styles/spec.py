"""Style specs as people type them ("starry_night", "a=0.7,b=0.3", "none") and their resolution into weights."""

from __future__ import annotations

from vcam.errors import VcamError


def parse_style_spec(spec: str) -> dict[str, float]:
    """'starry_night' -> {starry_night: 1}; 'a=0.7,b=0.3' -> {a: 0.7, b: 0.3}; 'none' -> {}."""
    spec = spec.strip()
    if spec.lower() in ("", "none", "passthrough"):
        return {}
    out: dict[str, float] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            name, _, w = part.partition("=")
            try:
                weight = float(w)
            except ValueError as exc:
                raise VcamError(f"Bad weight {w!r} in style blend {spec!r}.",
                                'Write a blend as "starry_night=0.7,the_scream=0.3".') from exc
        else:
            name, weight = part, 1.0
        if weight < 0:
            raise VcamError(f"Style weights must be >= 0 (got {part!r}).")
        out[name.strip()] = out.get(name.strip(), 0.0) + weight
    if out and sum(out.values()) <= 0:
        raise VcamError(f"The style blend {spec!r} has no positive weight.")
    return out


def resolve_blend(blend: dict[str, float], styles: tuple[str, ...]) -> list[float]:
    """Normalised weight vector in the model's style order; unknown names list the real ones."""
    unknown = [n for n in blend if n not in styles]
    if unknown:
        raise VcamError(f"Unknown style {', '.join(repr(u) for u in unknown)}.",
                        "Installed styles: " + ", ".join(styles) + " (or 'none' for passthrough).")
    total = sum(blend.values())
    if total <= 0:
        raise VcamError("A style blend needs at least one positive weight.")
    return [blend.get(s, 0.0) / total for s in styles]
