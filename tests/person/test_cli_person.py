"""`vcam run` with person options: they run on a model with a segmenter, and are refused clearly (no traceback) when
person.onnx is missing, while the same command without them still runs."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from vcam.cli import app

runner = CliRunner()


def _run(model, tmp_path, *extra: str):
    return runner.invoke(app, ["run", "--input", "pattern", "--output", "null", "--frames", "6", "--size",
                               "320x180", "--model-dir", str(model), "--engine", "cpu", "--no-control",
                               "--stats-json", str(tmp_path / "stats.json"), *extra])


def test_region_background_runs_and_reports_the_segmenter(style_model, tmp_path) -> None:
    r = _run(style_model, tmp_path, "--region", "background", "--style", "invert")
    assert r.exit_code == 0, r.output
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames"] == 6
    assert stats["engine"]["person"]["loaded"] is True


def test_a_bad_region_is_a_usage_error(style_model, tmp_path) -> None:
    r = _run(style_model, tmp_path, "--region", "face")
    assert r.exit_code != 0 and "not a region" in r.output and "Traceback" not in r.output


def test_a_missing_segmenter_refuses_person_options_but_not_the_styles(style_model, tmp_path) -> None:
    d = tmp_path / "model"
    shutil.copytree(style_model, d)
    (d / "person.onnx").unlink()
    r = _run(d, tmp_path, "--region", "background", "--style", "invert")
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "person segmenter" in r.output and "missing" in r.output and "vcam train --person" in r.output
    r = _run(d, tmp_path, "--style", "invert")
    assert r.exit_code == 0, r.output


def test_frame_auto_runs_and_is_refused_clearly_without_a_segmenter(style_model, tmp_path) -> None:
    r = _run(style_model, tmp_path, "--frame", "auto", "--style", "invert")
    assert r.exit_code == 0, r.output
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames"] == 6 and "framing" in stats["stages_ms"]
    r = _run(style_model, tmp_path, "--frame", "zoom")
    assert r.exit_code != 0 and "framing mode" in r.output
    d = tmp_path / "model"
    shutil.copytree(style_model, d)
    (d / "person.onnx").unlink()
    r = _run(d, tmp_path, "--frame", "auto", "--style", "invert")
    assert r.exit_code != 0 and "Traceback" not in r.output and "missing" in r.output
