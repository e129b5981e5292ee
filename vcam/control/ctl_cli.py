"""`vcam ctl ...`: change a running vcam from another terminal or a script (mounted by cli.py as `vcam ctl`).

Every command prints the endpoint's JSON answer (the state after the change) and exits 1 with a message on error.
`preset list` and `preset delete` work on the preset file directly, so they need no running vcam.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from vcam.control.client import ControlClient
from vcam.control.presets import PresetStore
from vcam.errors import VcamError

ctl_app = typer.Typer(name="ctl", help="Control a running vcam: style, blend, strength, pause, presets, status.",
                      no_args_is_help=True, add_completion=False)
preset_app = typer.Typer(name="preset", help="Save, load and list named looks (blend, strength, quality).",
                         no_args_is_help=True, add_completion=False)
ctl_app.add_typer(preset_app, name="preset")

_PORT_KEY = "vcam_ctl_port"   # ctx.meta is shared by the whole command chain, unlike ctx.obj the parent may own


@ctl_app.callback()
def _ctl(ctx: typer.Context,
         port: int | None = typer.Option(None, "--port", "-p", min=1, max=65535,
                                  help="Port of the running vcam (default: the one it recorded, else 8765).")) -> None:
    ctx.meta[_PORT_KEY] = port


def _run(ctx: typer.Context, call: Callable[[ControlClient], dict], timeout: float = 3.0) -> None:
    try:
        result = call(ControlClient(port=ctx.meta.get(_PORT_KEY), timeout=timeout))
    except VcamError as exc:
        _fail(exc)
    typer.echo(json.dumps(result, indent=2))


def _fail(exc: VcamError) -> NoReturn:
    typer.echo(f"Error: {exc.message}", err=True)
    if exc.hint:
        typer.echo(exc.hint, err=True)
    raise typer.Exit(1)


@ctl_app.command()
def status(ctx: typer.Context) -> None:
    """Print the current state, live fps/latency and on-demand state as JSON."""
    _run(ctx, lambda c: c.status())


@ctl_app.command()
def style(ctx: typer.Context, name: str = typer.Argument(..., help="A style name, or 'none' for passthrough.")) -> None:
    """Switch to one style (eased over the transition time)."""
    _run(ctx, lambda c: c.style(name))


@ctl_app.command()
def blend(ctx: typer.Context,
          spec: str = typer.Argument(..., help='Weights, e.g. "starry_night=0.7,udnie=0.3".')) -> None:
    """Blend several styles (weights are normalised to sum 1)."""
    from vcam.styles import parse_style_spec
    try:
        weights = parse_style_spec(spec)
    except VcamError as exc:
        _fail(exc)
    _run(ctx, lambda c: c.blend(weights) if weights else c.style("none"))


@ctl_app.command("style-image")
def style_image(ctx: typer.Context,
                path: Annotated[Path, typer.Argument(help="A picture (PNG, JPEG, WebP, BMP, TIFF, GIF) to use as a "
                                                          "style.")]) -> None:
    """Any picture as the style, live: the file's bytes are sent; the look cross-fades in."""
    _run(ctx, lambda c: c.style_image(path), timeout=15.0)


@ctl_app.command("file")
def control_file_path() -> None:
    """Print where the running vcam keeps its port and secret (for scripts: read "port" and "token" there)."""
    from vcam.control.paths import control_file

    typer.echo(str(control_file()))


@ctl_app.command()
def strength(ctx: typer.Context,
             value: float | None = typer.Argument(None, help="0 (camera image) .. 1 (full style)."),
             person: float | None = typer.Option(None, "--person", help="The person's strength (person-aware mode)."),
             background: float | None = typer.Option(None, "--background", help="The background's strength.")
             ) -> None:
    """Set how strongly the style is applied: everywhere, or on the person / the background (`vcam ctl strength
    --person 0.2`; `vcam ctl region all` makes both follow the strength again)."""
    if value is None and person is None and background is None:
        _fail(VcamError("Give a strength, --person or --background.", "e.g. vcam ctl strength 0.5, "
                        "vcam ctl strength --person 0.2"))

    def call(c: ControlClient) -> dict:
        result: dict = {}
        if value is not None:
            result = c.strength(value)
        if person is not None:
            result = c.person_strength(person)
        if background is not None:
            result = c.background_strength(background)
        return result

    _run(ctx, call)


@ctl_app.command()
def background(ctx: typer.Context,
               picture: str = typer.Argument(..., help="A picture file (sent as bytes), or none to clear it.")
               ) -> None:
    """Person-aware mode: put a picture behind the person, painted in the style (`none`: the room again)."""
    path = None if picture.strip().lower() in ("none", "off") else Path(picture)
    _run(ctx, lambda c: c.background(path), timeout=15.0)


@ctl_app.command()
def region(ctx: typer.Context,
           name: str = typer.Argument(..., help="all, background (paint the room, keep the person) or person.")
           ) -> None:
    """Person-aware mode: which part the style paints (needs the person segmenter)."""
    _run(ctx, lambda c: c.region(name))


@ctl_app.command()
def frame(ctx: typer.Context,
          mode: str = typer.Argument(..., help="auto (keep head and shoulders centred) or off.")) -> None:
    """Auto-framing: a digital pan and zoom that follows you (needs the person segmenter)."""
    _run(ctx, lambda c: c.frame(mode.strip().lower()))


@ctl_app.command()
def pause(ctx: typer.Context) -> None:
    """Pass the camera through unchanged (style settings are kept)."""
    _run(ctx, lambda c: c.pause())


@ctl_app.command()
def resume(ctx: typer.Context) -> None:
    """Undo pause."""
    _run(ctx, lambda c: c.resume())


@ctl_app.command()
def reset(ctx: typer.Context) -> None:
    """Forget the network's recurrent state (e.g. after a scene change)."""
    _run(ctx, lambda c: c.reset())


@ctl_app.command()
def quality(ctx: typer.Context, mode: str = typer.Argument(..., help="auto, low, medium or high.")) -> None:
    """Set the quality mode (the engine maps it to its internal resolution)."""
    _run(ctx, lambda c: c.quality(mode))


@preset_app.command("save")
def preset_save(ctx: typer.Context, name: str = typer.Argument(..., help="1-40 letters, digits, '_' or '-'.")) -> None:
    """Save the running vcam's current look under NAME."""
    _run(ctx, lambda c: c.preset_save(name))


@preset_app.command("load")
def preset_load(ctx: typer.Context, name: str) -> None:
    """Switch the running vcam to a saved look (eased)."""
    _run(ctx, lambda c: c.preset_load(name))


@preset_app.command("list")
def preset_list() -> None:
    """Print the saved presets as JSON (reads the preset file; no running vcam needed)."""
    store = PresetStore()
    try:
        presets = store.all()
    except VcamError as exc:
        _fail(exc)
    typer.echo(json.dumps({"file": str(store.path), "presets": {n: presets[n].to_dict() for n in sorted(presets)}},
                          indent=2))


@preset_app.command("delete")
def preset_delete(name: str) -> None:
    """Delete a saved preset."""
    try:
        PresetStore().delete(name)
    except VcamError as exc:
        _fail(exc)
    typer.echo(json.dumps({"ok": True, "deleted": name}))
