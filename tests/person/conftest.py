"""Fixtures for person-aware mode: the tiny segmenter and a tiny style model, both built with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnx")

from tiny_person import write_tiny_person, write_tiny_style_model  # noqa: E402


@pytest.fixture(scope="session")
def person_onnx(tmp_path_factory) -> Path:
    return write_tiny_person(tmp_path_factory.mktemp("person") / "person.onnx")


@pytest.fixture(scope="session")
def style_model(tmp_path_factory) -> Path:
    return write_tiny_style_model(tmp_path_factory.mktemp("style_model"))
