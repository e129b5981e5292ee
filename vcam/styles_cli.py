"""`vcam styles`: list the styles (built-in and the user's own), add a picture as a stored style, remove one.

Mounted by cli.py. A stored style is a code made by this model's style encoder and a thumbnail, in the user's
config folder (vcam.styles.user); `--style NAME` and blends then use it like a built-in one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from vcam.errors import VcamError

styles_app = typer.Typer(name="styles", help="List the styles; add a picture as your own style; remove one.",
                         invoke_without_command=True, add_completion=False)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)
ModelOpt = Annotated[Path | None, typer.Option("--model-dir", help="A model folder (default: the installed one).")]


def _fail(exc: VcamError) -> NoReturn:
    err.print(f"[bold red]error:[/] {exc.message}")
    if exc.hint:
        err.print(exc.hint)
    raise typer.Exit(1)


@styles_app.callback()
def list_styles(ctx: typer.Context, model_dir: ModelOpt = None) -> None:
    """The styles, one per line, name first: the model's, then yours (`vcam styles add`)."""
    if ctx.invoked_subcommand is not None:
        return
    from vcam.styles import load_manifest
    from vcam.styles.user import UserStyles

    try:
        manifest = load_manifest(model_dir)
    except VcamError as exc:
        _fail(exc)
    sources = manifest.extra.get("style_sources", {})
    for name in manifest.styles:
        console.print(f"{name}\t{sources.get(name, '')}".rstrip())
    store = UserStyles()
    stored, notes = store.usable(manifest.code_space, manifest.style_dim)
    for st in stored:
        if st.name not in manifest.styles:
            console.print(f"{st.name}\tyours, from {st.source}")
    for note in notes:
        err.print(f"note: {note}")


@styles_app.command("add")
def add(name: Annotated[str, typer.Argument(help="The name to use with --style (letters, digits, _ or -).")],
        picture: Annotated[Path, typer.Argument(help="A painting, poster, drawing or photo (PNG, JPEG, ...).")],
        model_dir: ModelOpt = None) -> None:
    """Store a picture as your own style: its code (from the style encoder) and a thumbnail, in your config folder."""
    from vcam.styles import load_manifest
    from vcam.styles.encoder import StyleEncoder
    from vcam.styles.images import load_image, thumbnail_png
    from vcam.styles.user import UserStyles, check_name

    try:
        manifest = load_manifest(model_dir)
        check_name(name, manifest.styles)
        rgb = load_image(picture)
        code = StyleEncoder(manifest)(rgb)
        path = UserStyles().add(name, code, manifest.code_space, picture.name, thumbnail_png(rgb),
                                builtin=manifest.styles)
    except VcamError as exc:
        _fail(exc)
    console.print(f"added {name} ({rgb.shape[1]}x{rgb.shape[0]} picture) -> {path}")
    console.print(f"use it with: vcam run --style {name}   (or in a blend: --style \"{name}=0.5,starry_night=0.5\")")


@styles_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="A style you added.")]) -> None:
    """Delete one of your stored styles (the built-in ones cannot be removed)."""
    from vcam.styles.user import UserStyles

    try:
        UserStyles().remove(name)
    except VcamError as exc:
        _fail(exc)
    console.print(f"removed {name}")
