"""Typed errors. Library code raises these; the CLI boundary turns them into one line + exit code.

Every error carries a ``hint``: what the user can do about it.
"""

from __future__ import annotations

__all__ = [
    "BbcuError",
    "UsageError",
    "InputError",
    "OutputError",
    "ModelFormatError",
    "WeightsError",
    "DownloadError",
    "IntegrityError",
    "OfflineError",
    "KernelUnavailable",
]


class BbcuError(Exception):
    """Base class: ``message`` says what went wrong, ``hint`` what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(BbcuError):
    """The command line asks for something inconsistent (exit code 2)."""

    exit_code = 2


class InputError(BbcuError):
    """An input image cannot be read or is not acceptable."""


class OutputError(BbcuError):
    """An output cannot be written (exists, unwritable folder, disk full...)."""


class ModelFormatError(BbcuError):
    """A weights file is not a checkpoint this tool recognises."""


class WeightsError(BbcuError):
    """A named model cannot be resolved (unknown name, manifest problem, missing file)."""


class DownloadError(WeightsError):
    """Fetching weights failed on every URL."""


class IntegrityError(WeightsError):
    """A weights file does not have the sha256 or size the manifest promises."""


class OfflineError(WeightsError):
    """Weights are needed from the network but offline mode is on."""


class KernelUnavailable(BbcuError):
    """The packed CPU kernel cannot be used (not built, not loadable, or not valid here)."""
