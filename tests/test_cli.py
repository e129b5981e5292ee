"""The CLI contract later checks rely on: commands, options, exit codes, actionable errors, no tracebacks."""

from __future__ import annotations

import json

import cv2
import pytest
from typer.testing import CliRunner

from vcam import __version__
from vcam.cli import app

runner = CliRunner()


@pytest.mark.parametrize("cmd", [[], ["run"], ["demo"], ["devices"], ["styles"], ["train"], ["export"], ["ctl"]])
def test_help_on_every_command(cmd):
    r = runner.invoke(app, [*cmd, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_devices_exits_zero_and_says_how_to_fix():
    r = runner.invoke(app, ["devices"])
    assert r.exit_code == 0, r.output
    assert "v4l2loopback" in r.output or "OBS" in r.output
    r = runner.invoke(app, ["devices", "--json"])
    assert r.exit_code == 0 and "cameras" in json.loads(r.output)


def test_unknown_style_lists_the_real_ones(tmp_path):
    r = runner.invoke(app, ["demo", "--output", str(tmp_path / "x.mp4"), "--style", "picasso", "--frames", "1"])
    assert r.exit_code == 1
    assert "Unknown style 'picasso'" in r.output and "starry_night" in r.output
    assert "Traceback" not in r.output


def test_bad_blend_and_size_are_clear_errors(tmp_path):
    r = runner.invoke(app, ["demo", "--output", str(tmp_path / "x.mp4"), "--style", "starry_night=abc"])
    assert r.exit_code == 1 and "Bad weight" in r.output
    r = runner.invoke(app, ["demo", "--output", str(tmp_path / "x.mp4"), "--size", "big"])
    assert r.exit_code != 0 and "WIDTHxHEIGHT" in r.output


def test_unknown_output_and_missing_input(tmp_path):
    r = runner.invoke(app, ["run", "--input", "pattern", "--output", "foo.xyz", "--frames", "1", "--style", "none"])
    assert r.exit_code == 1 and "Unknown output" in r.output
    r = runner.invoke(app, ["run", "--input", str(tmp_path / "nope.mp4"), "--output", "null", "--frames", "1",
                            "--style", "none", "--no-control"])
    assert r.exit_code == 1 and "No such file" in r.output and "Traceback" not in r.output


def test_virtual_output_without_a_device_explains_the_install(tmp_path):
    r = runner.invoke(app, ["run", "--input", "pattern", "--frames", "1", "--style", "none", "--no-control"])
    assert r.exit_code == 1
    assert "v4l2loopback" in r.output or "OBS" in r.output
    assert "Traceback" not in r.output


def test_run_pattern_to_null_with_stats(tmp_path):
    stats = tmp_path / "stats.json"
    r = runner.invoke(app, ["run", "--input", "pattern", "--output", "null", "--frames", "12", "--style", "none",
                            "--size", "320x180", "--fps", "60", "--stats-json", str(stats), "--no-control"])
    assert r.exit_code == 0, r.output
    data = json.loads(stats.read_text())
    assert data["frames"] == 12
    assert {"p50", "p95"} <= set(data["latency_ms"])


def test_cpu_precision_reaches_the_engine(tmp_path):
    pytest.importorskip("openvino")
    from vcam.engines.cpu_runtime import bf16_supported

    for precision in ("f32", "bf16") if bf16_supported() else ("f32",):
        stats = tmp_path / f"{precision}.json"
        r = runner.invoke(app, ["run", "--input", "pattern", "--output", "null", "--frames", "3", "--size",
                                "320x180", "--engine", "cpu", "--cpu-precision", precision, "--stats-json",
                                str(stats), "--no-control"], env={"VCAM_CPU_RUNTIME": "openvino"})
        if "No model manifest" in r.output:
            pytest.skip("no model installed in models/")
        assert r.exit_code == 0, r.output
        engine = json.loads(stats.read_text())["engine"]
        assert (engine["runtime"], engine["precision"]) == ("openvino", precision)
    r = runner.invoke(app, ["run", "--input", "pattern", "--output", "null", "--frames", "1", "--engine", "cpu",
                            "--cpu-precision", "int4", "--no-control"])
    assert r.exit_code != 0 and "auto, f32, bf16" in r.output and "Traceback" not in r.output


def test_styles_lists_installed_styles_name_first():
    r = runner.invoke(app, ["styles"])
    if r.exit_code != 0:
        pytest.skip("no model installed in models/")
    names = [ln.split()[0] for ln in r.output.splitlines() if ln.strip()]
    assert "starry_night" in names and len(names) >= 8


@pytest.mark.slow
def test_demo_writes_exactly_n_frames_of_the_asked_size(tmp_path):
    out = tmp_path / "demo.mp4"
    r = runner.invoke(app, ["demo", "--output", str(out), "--frames", "7", "--size", "320x180"])
    if "No model manifest" in r.output:
        pytest.skip("no model installed in models/")
    assert r.exit_code == 0, r.output
    assert "fps" in r.output and "latency" in r.output
    cap = cv2.VideoCapture(str(out))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (180, 320, 3)
        n += 1
    assert n == 7


def test_odd_size_is_rounded_for_virtual_camera_outputs():
    from vcam.config import RunConfig, Size
    from vcam.runner import prepare

    said = []
    cfg, _, _ = prepare(RunConfig(outputs=("virtual",), size=Size(853, 479), style="none"), said.append)
    assert cfg.size == Size(852, 478)
    assert any("even" in s for s in said)
