"""Errors a user can act on: the CLI prints them without a traceback."""

from __future__ import annotations


class VcamError(Exception):
    """An expected failure with a message and, where there is one, what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class ModelError(VcamError):
    """A model file or manifest is missing, corrupt or of the wrong version."""
