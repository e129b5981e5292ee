"""Assembles a run from a RunConfig: model, controls, engine, sinks, feed, control inputs; then runs the
pipeline and always releases the camera and the device, whatever stops it (end, --frames, Ctrl-C, SIGTERM)."""

from __future__ import annotations

import contextlib
import errno
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from vcam.capture import open_feed
from vcam.capture.ondemand import OnDemandFeed
from vcam.config import RunConfig
from vcam.control.state import Controls, resolve_region
from vcam.engines import create_engine
from vcam.engines.network_choice import choose_network
from vcam.errors import ModelError, VcamError
from vcam.gc_pauses import freeze_long_lived
from vcam.pipeline import Pipeline
from vcam.sinks import close_sinks, open_sinks
from vcam.stats import PipelineStats
from vcam.styles import Manifest, StyleCodes, load_manifest, parse_style_spec, resolve_blend
from vcam.styles.pictures import PICTURE_PREFIX, PictureStyles

Say = Callable[[str], None]


def installed_styles(cfg: RunConfig) -> Manifest | None:
    """The model manifest, or None when no model is installed and the run needs none."""
    try:
        return load_manifest(cfg.model_dir)
    except ModelError:
        if parse_style_spec(cfg.style) or cfg.engine not in ("passthrough", "auto"):
            raise
        return None


def style_registry(manifest: Manifest | None, say: Say) -> tuple[StyleCodes | None, PictureStyles | None]:
    """The run's styles: the model's, then the user's stored ones made for this model; and the picture path when
    the model has a style encoder."""
    if manifest is None:
        return None, None
    codes = StyleCodes.of(manifest)
    if manifest.version < 2:
        return codes, None
    from vcam.styles.user import UserStyles

    stored, notes = UserStyles().usable(manifest.code_space, codes.dim)
    for st in stored:
        if st.name not in codes.builtin:
            codes.add(st.name, st.code)
    for note in notes:
        say(f"Note: {note}")
    if not manifest.extra.get("style_encoder"):
        return codes, None

    def make_encoder():
        from vcam.styles.encoder import StyleEncoder

        return StyleEncoder(manifest)

    return codes, PictureStyles(codes, make_encoder)


def _style_from_picture(cfg: RunConfig, pictures: PictureStyles | None, say: Say) -> str:
    from vcam.styles.images import read_image_file

    if pictures is None:
        raise VcamError("This model cannot take a picture as a style (it has no style encoder).",
                        "Use one of its styles (`vcam styles`).")
    stem = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in cfg.style_image.stem)[:40] or "picture"
    info = pictures.add(read_image_file(cfg.style_image), name=PICTURE_PREFIX + stem, what=str(cfg.style_image))
    say(f"Style from {cfg.style_image} ({info['size'][0]}x{info['size'][1]}, encoded in {info['encode_ms']:.0f} ms)")
    return info["style"]


def prepare(cfg: RunConfig, say: Say) -> tuple[RunConfig, Manifest | None, Controls]:
    """Validate what the user asked for before anything is opened (see prepare_run for the style registry)."""
    cfg, manifest, controls, _, _ = prepare_run(cfg, say)
    return cfg, manifest, controls


def prepare_run(cfg: RunConfig, say: Say) -> tuple[RunConfig, Manifest | None, Controls, StyleCodes | None,
                                                    PictureStyles | None]:
    """Validate what the user asked for before anything is opened."""
    if cfg.size.is_even is False and any(o == "virtual" for o in cfg.outputs):
        even = cfg.size.even()
        say(f"Note: virtual cameras need even sizes (I420); using {even} instead of {cfg.size}.")
        cfg = replace(cfg, size=even)
    if cfg.frames is not None and cfg.frames < 1:
        raise VcamError("--frames must be at least 1.")
    if cfg.fps <= 0 or cfg.fps > 240:
        raise VcamError(f"--fps {cfg.fps} is out of range (1-240).")
    manifest = installed_styles(cfg)
    if manifest is not None:
        manifest = choose_network(cfg, manifest, say)   # before the codes: a variant carries its own
    codes, pictures = style_registry(manifest, say)
    blend = parse_style_spec(cfg.style)
    if cfg.style_image is not None:
        blend = {_style_from_picture(cfg, pictures, say): 1.0}
    styles = codes.styles if codes else ()
    if blend:
        resolve_blend(blend, styles)  # unknown names -> an error listing the real ones
    person, background = resolve_region(cfg.region, cfg.person_strength, cfg.background_strength)
    controls = Controls(styles, blend, strength=cfg.strength, transition_s=cfg.transition_s,
                        person_strength=person, background_strength=background)
    controls.person_check = _person_file_check(cfg, manifest)
    if cfg.person_mode:
        controls.person_check()   # before anything opens: a missing person.onnx is named with what still works
    if cfg.frame not in ("off", "auto"):
        raise VcamError(f"Unknown --frame {cfg.frame!r}.", "Choose auto (keep head and shoulders centred) or off.")
    if cfg.frame == "auto":
        _person_file_check(cfg, manifest)()
    if cfg.background is not None:
        import cv2

        from vcam.styles.images import load_image

        controls.set_backdrop(cv2.cvtColor(load_image(cfg.background), cv2.COLOR_RGB2BGR))
    if cfg.preset:
        from vcam.control.presets import apply_preset

        apply_preset(controls, cfg.preset, ease=False)
    return cfg, manifest, controls, codes, pictures


def _person_file_check(cfg: RunConfig, manifest: Manifest | None) -> Callable[[], None]:
    """Until the engine exists: the person segmenter's file is there and matches its hash (cheap)."""
    def check() -> None:
        if manifest is None:
            raise VcamError("Person options need a style model (none is installed).",
                            "Reinstall vcam, or point VCAM_MODEL_DIR at a model folder.")
        from vcam.person import check_person_model, person_model_path

        check_person_model(*person_model_path(manifest, cfg.person_model))

    return check


def _framer(cfg: RunConfig, manifest: Manifest | None):
    """Auto-framing beside the engine (any engine: it crops the camera frame before the engine sees it)."""
    from vcam.person import person_model_path
    from vcam.person.framing import AutoFramer

    model, sha = person_model_path(manifest, cfg.person_model) if manifest is not None else (cfg.person_model, None)
    return AutoFramer(model, sha, fps=cfg.fps)


def _engine_person_check(engine) -> Callable[[], None]:
    """Once the engine runs: the segmenter itself is loaded (on the caller's thread: a control request's, not the
    frame thread). Engines without a person stage refuse person options."""
    load = getattr(engine, "load_person", None)
    if load is not None:
        return load

    def refuse() -> None:
        raise VcamError(f"Person options are not available with the {engine.name} engine.",
                        "Run with --engine cpu to use --region, --person-strength or --background-strength.")

    return refuse


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C and SIGTERM end the loop cleanly so the finally-blocks release devices and write stats."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(cfg: RunConfig, say: Say = print) -> dict:
    cfg, manifest, controls, codes, pictures = prepare_run(cfg, say)
    engine = create_engine(cfg, manifest, say, codes=codes)
    stats = PipelineStats()
    pipeline: Pipeline | None = None
    extras: list = []

    def request_stop() -> None:
        if pipeline is not None:
            pipeline.stop()

    def on_key(key: int) -> None:
        from vcam.control.keys import handle_key

        if handle_key(key, controls) == "quit":
            request_stop()

    sinks: list = []
    feed = None
    framer = None
    stats_error: VcamError | None = None
    try:
        controls.person_check = _engine_person_check(engine)
        framer = _framer(cfg, manifest)   # cheap: its segmenter opens only when framing is first asked for
        controls.framing_check = framer.load
        if cfg.frame == "auto":
            controls.set_framing(True)   # opens the segmenter now: a corrupt person.onnx is refused before the camera
        if {"person", "background"} & set(controls.look()):
            controls.person_check()   # a preset's person settings: load (or refuse) before the camera opens
        # Outputs first: a missing virtual camera should fail before the webcam light goes on.
        sinks = open_sinks(cfg, on_key=on_key, on_close=request_stop)
        watcher = _on_demand_watcher(cfg, sinks, extras, say)
        if watcher is not None:
            feed = OnDemandFeed(lambda: open_feed(cfg, start=False), wanted=lambda: watcher.active)
        else:
            feed = open_feed(cfg, start=False)
        pipeline = Pipeline(feed, engine, sinks, controls, cfg.size, stats=stats, max_frames=cfg.frames,
                            framer=framer)
        pipeline.on_warm = freeze_long_lived
        extras += _start_control_inputs(cfg, controls, stats, engine, pipeline, watcher, say, pictures)
        with _stop_on_signals(request_stop):
            feed.start()
            summary = pipeline.run()
    finally:
        for x in extras:
            with contextlib.suppress(Exception):
                x.stop()
        if feed is not None:
            feed.stop()
        failures = close_sinks(sinks)
        engine.close()
        if framer is not None:
            framer.close()
        if cfg.stats_json is not None:
            stats.extra.setdefault("engine", engine.info())
            stats_error = _write_stats(stats, cfg.stats_json, say)
    if failures:
        raise failures[0] if isinstance(failures[0], VcamError) else VcamError(f"Closing an output failed: "
                                                                              f"{failures[0]}")
    if stats_error is not None:
        raise stats_error
    return summary


def _write_stats(stats: PipelineStats, path: Path, say: Say) -> VcamError | None:
    """Write --stats-json; if that fails (the same full disk as a recording, say), report the figures instead of
    letting an OSError replace the error that stopped the run. The returned error is raised only after a clean run."""
    try:
        stats.write_json(path)
        return None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):   # opened and truncated, then cut short: never leave half a
            with contextlib.suppress(OSError):           # JSON file that reads as stats
                Path(path).unlink()
        s = stats.summary()
        lat = s.get("latency_ms", {})
        say(f"Could not write the stats to {path} ({exc.strerror or exc}). They were: {s['frames']} frames in "
            f"{s['seconds']:.1f} s, {s['fps']:.1f} fps, latency p50 {lat.get('p50', 0):.1f} ms, "
            f"p95 {lat.get('p95', 0):.1f} ms.")
        return VcamError(f"Could not write the stats to {path}: {exc.strerror or exc}.",
                         "Choose a --stats-json path on a writable disk with room.")


def _on_demand_watcher(cfg: RunConfig, sinks: list, extras: list, say: Say):
    if not cfg.on_demand:
        return None
    from vcam.control.ondemand import ReaderWatcher

    device = next((getattr(s, "device", None) for s in sinks if getattr(s, "name", "") == "virtual"), None)
    if not device:
        raise VcamError("--on-demand needs a virtual camera output on Linux (--output virtual).")
    watcher = ReaderWatcher(device, on_open=lambda: say("A reader opened the virtual camera: capturing."),
                            on_close=lambda: say("No reader: the webcam is released until one opens it."))
    watcher.start()
    extras.append(watcher)
    return watcher


def _start_control_inputs(cfg: RunConfig, controls: Controls, stats: PipelineStats, engine, pipeline: Pipeline,
                          watcher, say: Say, pictures: PictureStyles | None = None) -> list:
    """Terminal keys (when stdin is a terminal) and the localhost endpoint (when a port is given)."""
    from vcam.control.keys import HELP_LINE
    from vcam.control.terminal import TerminalKeys

    started: list = []
    if not cfg.quiet:
        def on_action(action: str) -> None:
            if action == "quit":
                pipeline.stop()
            elif action == "help":
                say(HELP_LINE)

        keys = TerminalKeys(controls, on_action=on_action, echo=say)
        if keys.start():
            started.append(keys)
    if cfg.control_port is not None:
        from vcam.control.server import DEFAULT_PORT, ControlServer

        def live() -> dict:
            return {"fps": round(stats.fps_now, 2), "latency_ms": round(stats.latency_now, 2),
                    "frames": stats.frames, "dropped_frames": pipeline.feed.dropped, **engine.info()}

        def style_image(data: bytes) -> dict:
            # On the request's thread, never the frame thread: decode, encode, then cross-fade to it.
            info = pictures.add(data)
            controls.add_style(info["style"])
            controls.set_style(info["style"])
            say(f"Style from a picture sent to the control endpoint ({info['size'][0]}x{info['size'][1]}, "
                f"encoded in {info['encode_ms']:.0f} ms)")
            return info

        picture_cb = style_image if pictures is not None else None
        server = ControlServer(controls, port=cfg.control_port, stats=live,
                               on_demand=(watcher.status if watcher is not None else None), style_image=picture_cb)
        try:
            port = server.start()
        except VcamError:
            if cfg.control_port != DEFAULT_PORT:
                raise
            # The default port is taken (another vcam?): take a free one; `vcam ctl` finds it via the runtime file.
            server = ControlServer(controls, port=0, stats=live,
                                   on_demand=(watcher.status if watcher is not None else None), style_image=picture_cb)
            port = server.start()
        say(f"Control endpoint on http://127.0.0.1:{port} (vcam ctl status)")
        started.append(server)
    return started
