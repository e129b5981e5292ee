"""Fixtures for the training-side tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def teacher_dir(shared_data):
    """The MicroAST teacher's folder; tests that distil from it or check it skip without it."""
    d = shared_data / "teachers" / "microast"
    if not d.is_dir():
        pytest.skip("../shared/data/teachers/microast not found (the teacher lives beside the repo)")
    return d


@pytest.fixture(scope="module")
def selfie_dir(shared_data):
    """The MediaPipe selfie teacher's folder; the person segmenter's training tests skip without it."""
    d = shared_data / "teachers" / "mediapipe_selfie"
    if not (d / "selfie_segmentation_landscape.tflite").is_file():
        pytest.skip("../shared/data/teachers/mediapipe_selfie not found (the teacher lives beside the repo)")
    pytest.importorskip("tflite")
    return d
