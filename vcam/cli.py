"""The `vcam` command line. Each command turns its options into a config and calls one function."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vcam import __version__
from vcam.config import RunConfig, Size
from vcam.errors import VcamError

app = typer.Typer(help="vcam: your webcam, painted live, as a virtual camera.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # never break a path across lines


def _version(value: bool) -> None:
    if value:
        console.print(f"vcam {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    pass


def _fail(exc: VcamError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc.message}")
    if exc.hint:
        err.print(exc.hint)
    return typer.Exit(1)


def _size(text: str) -> Size:
    try:
        return Size.parse(text)
    except VcamError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _frame(text: str) -> str:
    name = text.strip().lower()
    if name not in ("off", "auto"):
        raise typer.BadParameter(f"{text!r} is not a framing mode; choose auto or off.")
    return name


def _region(text: str) -> str:
    from vcam.control.state import REGIONS

    name = text.strip().lower()
    if name not in REGIONS:
        raise typer.BadParameter(f"{text!r} is not a region; choose one of: {', '.join(REGIONS)}.")
    return name


def _print_summary(summary: dict) -> None:
    lat = summary.get("latency_ms", {})
    console.print(f"{summary.get('frames', 0)} frames in {summary.get('seconds', 0):.1f} s: "
                  f"[bold]{summary.get('fps', 0):.1f} fps[/], grab-to-send latency p50 {lat.get('p50', 0):.1f} ms, "
                  f"p95 {lat.get('p95', 0):.1f} ms, dropped {summary.get('dropped_frames', 0)}")
    stages = summary.get("stages_ms", {})
    if stages:
        console.print("  per stage p50 (ms): " + ", ".join(
            f"{k} {v['p50']:.1f}" for k, v in stages.items() if k != "engine"))


InputOpt = Annotated[str, typer.Option("--input", "-i", help="Camera index, device path, video file, or 'pattern'.")]
StyleOpt = Annotated[str, typer.Option("--style", "-s", help="A style, a blend 'a=0.7,b=0.3', or 'none'.")]
SizeOpt = Annotated[str, typer.Option("--size", help="Output size WIDTHxHEIGHT.")]
EngineOpt = Annotated[str, typer.Option("--engine", help="auto, cpu, tensorrt or passthrough.")]
ModelOpt = Annotated[Path | None, typer.Option("--model-dir", help="A model folder (default: the installed one).")]
NetworkOpt = Annotated[str, typer.Option(
    "--network", help="Which of the model's networks: auto (the detail net on CPUs without bf16, else plain), "
                      "plain, or a variant the model's manifest lists; a run says which it took.")]
StyleImageOpt = Annotated[Path | None, typer.Option(
    "--style-image", help="Any picture as the style (a painting, a poster, a drawing); replaces --style.")]


@app.command()
def run(
    input: InputOpt = "0",
    output: Annotated[list[str] | None, typer.Option(
        "--output", "-o", help="virtual, preview, null, or a file (.mp4/.avi); repeat for several.")] = None,
    style: StyleOpt = "starry_night",
    style_image: StyleImageOpt = None,
    size: SizeOpt = "1280x720",
    fps: Annotated[float, typer.Option(help="Output frame rate.")] = 30.0,
    frames: Annotated[int | None, typer.Option(help="Stop after this many output frames.")] = None,
    engine: EngineOpt = "auto",
    strength: Annotated[float, typer.Option(min=0.0, max=1.0, help="0 = camera image, 1 = full style.")] = 1.0,
    region: Annotated[str, typer.Option(
        callback=_region, help="all, background (paint the room, keep the person) or person (paint only the "
                               "person); needs the person segmenter (models/person.onnx).")] = "all",
    person_strength: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Style strength on the person, 0..1 (default: --strength, or 0 with --region "
                               "background).")] = None,
    background_strength: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Style strength on the background, 0..1 (default: --strength, or 0 with --region "
                               "person).")] = None,
    background: Annotated[Path | None, typer.Option(
        help="A picture to put behind the person, painted in the style (needs the person segmenter).")] = None,
    frame: Annotated[str, typer.Option(
        callback=_frame, help="auto: pan and zoom (up to 2x) to keep head and shoulders centred, as Center Stage "
                              "does; key f or `vcam ctl frame` toggles it live (needs the person segmenter).")] = "off",
    internal_height: Annotated[int | None, typer.Option(help="Network input height (default: adaptive).")] = None,
    adaptive: Annotated[bool, typer.Option(help="Let the governor hold the frame rate.")] = True,
    threads: Annotated[int, typer.Option(help="Inference threads (0 = pick at run time).")] = 0,
    cpu_share: Annotated[float, typer.Option(
        min=0.05, max=1.0, help="The share of the CPU cores vcam may use, leaving the rest to the call app: the "
                                "CPU engine paints at the best internal size that fits (1 = no limit).")] = 0.5,
    cpu_precision: Annotated[str, typer.Option(
        help="CPU inference precision: auto (bf16 where the CPU has avx512_bf16 or AMX, else f32), f32 or bf16.")
    ] = "auto",
    device: Annotated[str | None, typer.Option(help="Virtual camera device, e.g. /dev/video10.")] = None,
    backend: Annotated[str | None, typer.Option(help="pyvirtualcam backend: v4l2loopback, obs, unitycapture.")] = None,
    loop: Annotated[bool, typer.Option(help="Loop a video file input.")] = True,
    transition: Annotated[float, typer.Option(help="Seconds a style change takes to ease in.")] = 0.3,
    control_port: Annotated[int, typer.Option(help="Serve the control API on 127.0.0.1:PORT (0 = any free port).")
                            ] = 8765,
    control: Annotated[bool, typer.Option(help="Serve the local control API (vcam ctl, OBS scripts).")] = True,
    preset: Annotated[str | None, typer.Option(help="Start from a saved preset (vcam ctl preset save NAME).")] = None,
    stats_json: Annotated[Path | None, typer.Option(help="Write the run's stats here at exit.")] = None,
    on_demand: Annotated[bool, typer.Option(help="Linux: release the webcam while no app reads the camera.")] = False,
    model_dir: ModelOpt = None,
    network: NetworkOpt = "auto",
) -> None:
    """Stream a camera (or file, or pattern) through a style into a virtual camera and/or other outputs."""
    cfg = RunConfig(input=input, outputs=tuple(output or ["virtual"]), style=style, style_image=style_image,
                    size=_size(size), fps=fps,
                    frames=frames, engine=engine, strength=strength, internal_height=internal_height,
                    adaptive=adaptive, threads=threads, cpu_share=cpu_share, cpu_precision=cpu_precision,
                    virtual_device=device,
                    virtual_backend=backend, loop=loop, transition_s=transition,
                    control_port=control_port if control else None, preset=preset, stats_json=stats_json,
                    on_demand=on_demand, model_dir=model_dir, network=network, region=region,
                    person_strength=person_strength, background_strength=background_strength, background=background,
                    frame=frame)
    from vcam.runner import run as run_pipeline

    try:
        summary = run_pipeline(cfg, say=lambda m: err.print(m))
    except VcamError as exc:
        raise _fail(exc) from None
    _print_summary(summary)


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="The video file to write (.mp4 or .avi).")],
    frames: Annotated[int, typer.Option(help="Exactly this many frames.")] = 90,
    style: StyleOpt = "starry_night",
    style_image: StyleImageOpt = None,
    size: SizeOpt = "1280x720",
    input: InputOpt = "pattern",
    fps: Annotated[float, typer.Option(help="Frame rate of the written file.")] = 30.0,
    engine: EngineOpt = "auto",
    model_dir: ModelOpt = None,
    network: NetworkOpt = "auto",
) -> None:
    """No hardware needed: stylize the built-in pattern (or a video file) into a file and print fps and latency."""
    cfg = RunConfig(input=input, outputs=(str(output),), style=style, style_image=style_image, size=_size(size),
                    fps=fps, frames=frames,
                    realtime=False, engine=engine, model_dir=model_dir, network=network, transition_s=0.0,
                    quiet=True)
    from vcam.runner import run as run_pipeline

    try:
        summary = run_pipeline(cfg, say=lambda m: err.print(m))
    except VcamError as exc:
        raise _fail(exc) from None
    console.print(f"wrote {output} ({summary['frames']} frames, {cfg.size})")
    _print_summary(summary)


@app.command()
def devices(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Cameras, virtual-camera devices and the GPU found here, and the exact fix for what is missing."""
    from vcam.diagnostics import format_report, report

    data = report()
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))  # plain: rich would wrap long lines
    else:
        console.print(format_report(data))


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Folder for weights, manifest, checkpoints.")] = Path("runs/train"),
    style_dir: Annotated[Path | None, typer.Option(help="Style images (file name = style name).")] = None,
    content_dir: Annotated[Path | None, typer.Option(help="Training photos.")] = None,
    video_dir: Annotated[Path | None, typer.Option(help="Video clips whose frames add to the photos.")] = None,
    people_dir: Annotated[Path | None, typer.Option(help="People photos and frames (faces) for the crops.")] = None,
    teacher_dir: Annotated[Path | None, typer.Option(help="The MicroAST teacher distilled from.")] = None,
    minutes: Annotated[float, typer.Option(help="Wall-time budget (the LR schedule follows it); 0 = use --iterations.")
                       ] = 0.0,
    iterations: Annotated[int, typer.Option(help="Iterations when no --minutes is given.")] = 12000,
    add_style: Annotated[Path | None, typer.Option(help="Fine-tune one new style image onto a trained model.")] = None,
    style_encoder: Annotated[bool, typer.Option(
        "--style-encoder", help="Train the encoder that turns any picture into a style (the network stays frozen); "
                                "exported into --model-dir (default: the installed model).")] = False,
    person: Annotated[bool, typer.Option(
        "--person", help="Train the person segmenter (person-aware mode) from the MediaPipe selfie teacher "
                         "(--teacher-dir: its folder); exported as person.onnx into --model-dir.")] = False,
    name: Annotated[str | None, typer.Option(help="Name of the style added with --add-style.")] = None,
    base: ModelOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[int, typer.Option(help="Torch threads.")] = 2,
    recipe: Annotated[Path | None, typer.Option(
        help="JSON of training settings (loss weights, init-from, motion...; with --person the segmenter's); "
             "models/recipes/ holds the shipped models' stages.")] = None,
) -> None:
    """Train the multi-style network (needs the train extra), or add one style to the shipped one in minutes."""
    try:
        from vcam.model.cli_train import run_training
    except ImportError as exc:
        raise _fail(VcamError(f"Training needs the train extra ({exc.name} missing).",
                              "pip install -e '.[train]'")) from None
    try:
        if style_encoder:
            from vcam.model.cli_train import run_encoder_training

            run_encoder_training(out=out, base=base, style_dir=style_dir, content_dir=content_dir,
                                 video_dir=video_dir, people_dir=people_dir, teacher_dir=teacher_dir,
                                 minutes=minutes, seed=seed, threads=threads, say=console.print)
            return
        if person:
            from vcam.model.cli_train import run_person_training

            run_person_training(out=out, base=base, people_dir=people_dir, content_dir=content_dir,
                                video_dir=video_dir, teacher_dir=teacher_dir, minutes=minutes, seed=seed,
                                threads=threads, recipe=recipe, say=console.print)
            return
        run_training(out=out, style_dir=style_dir, content_dir=content_dir, video_dir=video_dir, minutes=minutes,
                     iterations=iterations, add_style=add_style, name=name, base=base, seed=seed, threads=threads,
                     people_dir=people_dir, teacher_dir=teacher_dir, recipe=recipe, say=console.print)
    except VcamError as exc:
        raise _fail(exc) from None


@app.command()
def export(
    model_dir: Annotated[Path, typer.Argument(help="Folder with vcam.safetensors and manifest.json.")],
    into: Annotated[Path | None, typer.Option(
        help="Add the exported network to this model folder as a variant (with --as) instead of in place.")] = None,
    as_name: Annotated[str | None, typer.Option("--as", help="The variant's name, e.g. detail.")] = None,
    use_when: Annotated[str | None, typer.Option(
        help="When --network auto takes the variant: KEY=VALUE pairs, comma-separated, that must all hold, e.g. "
             "cpu_precision=f32; alternatives separated by ';', e.g. 'cpu_precision=f32;cpu_budget=<=1.25'.")] = None,
) -> None:
    """Export a trained model folder to ONNX (opset 17, dynamic size) and record its hash in the manifest; with
    --into and --as, add it to another model folder as a network variant."""
    try:
        from vcam.model.export import add_variant, export_model
    except ImportError as exc:
        raise _fail(VcamError(f"Export needs the train extra ({exc.name} missing).",
                              "pip install -e '.[train]'")) from None
    if (into is None) != (as_name is None):
        raise _fail(VcamError("--into and --as go together.", "e.g. vcam export runs/ft15 --into models --as detail"))
    try:
        alternatives = parse_use_when(use_when)
    except ValueError:
        raise _fail(VcamError(f"Bad --use-when {use_when!r}.", "Write KEY=VALUE pairs, e.g. cpu_precision=f32; "
                              "alternatives separated by ';'.")) from None
    try:
        path = export_model(model_dir)
        console.print(f"wrote {path}")
        if into is not None:
            console.print(f"added network {as_name!r} to {add_variant(model_dir, into, as_name, alternatives)}")
    except VcamError as exc:
        raise _fail(exc) from None


def parse_use_when(text: str | None) -> list[dict]:
    """``cpu_precision=f32;cpu_precision=bf16,cpu_budget=<=1.25`` -> a list of condition dicts (ValueError if
    malformed). A number given as a budget bound stays a string (``<=1.25``); plain values stay strings."""
    alternatives = []
    for alt in (text or "").split(";"):
        if not alt.strip():
            continue
        pairs = [kv.split("=", 1) for kv in alt.split(",")]
        if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
            raise ValueError(alt)
        alternatives.append({k.strip(): v.strip() for k, v in pairs})
    return alternatives


def _mount_ctl() -> None:
    try:
        from vcam.control.ctl_cli import ctl_app
    except ImportError:
        return
    app.add_typer(ctl_app, name="ctl", help="Steer a running vcam: style, blend, strength, pause, status.")


_mount_ctl()
from vcam.styles_cli import styles_app  # noqa: E402 - mounted after the commands above

app.add_typer(styles_app, name="styles")


def main() -> None:
    try:
        app()
    except VcamError as exc:  # anything that escaped a command
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
