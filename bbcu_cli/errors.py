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
    "printable",
]


def printable(text: str) -> str:
    """``text`` with control and bidi-override characters escaped (``\\n``, ``\\x1b``, ``\\u202e``).

    File names may hold anything but ``/`` and NUL: shown raw, a newline splits a one-line
    message and an escape sequence rewrites the terminal. Every message that shows a name goes
    through this; printable characters (any script) are kept as they are.
    """
    return "".join(_escape(ch) for ch in text) if any(_unsafe(ch) for ch in text) else text


def _unsafe(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0 or 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069 or 0xDC80 <= code <= 0xDCFF


def _escape(ch: str) -> str:
    if not _unsafe(ch):
        return ch
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return repr(ch)[1:-1] if code < 0x100 else f"\\u{code:04x}"


class BbcuError(Exception):
    """Base class: ``message`` says what went wrong, ``hint`` what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        message, hint = printable(message), printable(hint)
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
