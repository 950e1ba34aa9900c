"""Typed errors. Library code raises these; the CLI boundary turns them into one line + exit code.

Every error carries a ``hint``: what the user can do about it. A hint (or message) that names a
setting does so with :func:`option` and a tool command with :func:`command`: the text then holds
a marker that is rendered for whoever reads it. ``err.hint`` / ``str(err)`` speak to Python API
users (``overwrite=True``), ``err.hint_for_cli()`` / ``err.for_cli()`` to command-line users
(``--overwrite``). Library code below ``bbcu_cli/cli`` never spells a command-line flag itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePath

__all__ = [
    "BbcuError",
    "UsageError",
    "InputError",
    "OutputError",
    "ModelFormatError",
    "WeightsError",
    "UnknownModelError",
    "DownloadError",
    "IntegrityError",
    "OfflineError",
    "KernelUnavailable",
    "printable",
    "short_names",
    "option",
    "command",
    "render",
]

_OPEN, _SEP, _CLOSE = "\ue000", "\ue001", "\ue002"
_MARK = re.compile("\ue000([oca])\ue001([^\ue000-\ue002]*)\ue001([^\ue000-\ue002]*)\ue001([^\ue000-\ue002]*)\ue002")
_DELIMS = str.maketrans("", "", _OPEN + _SEP + _CLOSE)


def _clean(value: object) -> str:
    """``value`` as text without the marker delimiters (names and values may come from files)."""
    return str(value).translate(_DELIMS)


def _flag(name: str) -> str:
    """The command-line spelling of the setting ``name``: ``first_frame`` -> ``--first-frame``."""
    return "--" + name.replace("_", "-")


def _mark(kind: str, name: str, cli: str, api: str) -> str:
    return f"{_OPEN}{kind}{_SEP}{_clean(name)}{_SEP}{_clean(cli)}{_SEP}{_clean(api)}{_CLOSE}"


def option(name: str, value: object = None, aside: bool = False) -> str:
    """A marker naming the setting ``name`` (a keyword name, ``first_frame``), for a hint or message.

    Rendered for the command line as ``--first-frame`` (``--crop 3`` with a value; ``value=True``
    is a bare flag) and for the Python API as ``first_frame`` (``crop=3``, ``overwrite=True``;
    string values quoted: ``device='cpu'``). ``value`` may also be a placeholder word (``"N"``).
    ``aside``: only the command line shows it, in brackets (``k (--k)`` there, ``k`` in Python).
    """
    if aside:
        return _mark("a", name, "", "")
    if value is None:
        return _mark("o", name, "", "")
    if value is True:
        return _mark("o", name, "", "=True")
    api = f"={value!r}" if isinstance(value, str) and value.isidentifier() and not value.isupper() else f"={value}"
    return _mark("o", name, f" {value}", api)


def command(words: str, **options: object) -> str:
    """A marker naming the tool command ``bbcu <words>`` with its ``options`` (``True``: a bare flag).

    ``command("weights rm NAME", unpin=True)`` reads ``bbcu weights rm NAME --unpin`` for every
    reader: a tool command is run in a shell, so its flags are command-line flags.
    """
    parts = [f"bbcu {words}"]
    for name, value in options.items():
        if value is not None and value is not False:
            parts.append(_flag(name) if value is True else f"{_flag(name)} {value}")
    text = " ".join(parts)
    return _mark("c", "", text, text)


def _render_one(match: re.Match[str], cli: bool) -> str:
    kind, name, cli_value, api_value = match.groups()
    if kind == "c":
        return cli_value if cli else api_value
    if kind == "a":
        return f" ({_flag(name)})" if cli else ""
    return f"{_flag(name)}{cli_value}" if cli else f"{name}{api_value}"


def render(text: str, cli: bool = False) -> str:
    """``text`` with its :func:`option` / :func:`command` markers spelled for the command line
    (``cli=True``) or the Python API, then made :func:`printable`."""
    return printable(_MARK.sub(lambda m: _render_one(m, cli), text))


def printable(text: str) -> str:
    """``text`` with control and bidi-override characters escaped (``\\n``, ``\\x1b``, ``\\u202e``).

    File names may hold anything but ``/`` and NUL: shown raw, a newline splits a one-line
    message and an escape sequence rewrites the terminal. Every message that shows a name goes
    through this; printable characters (any script) are kept as they are.
    """
    return "".join(_escape(ch) for ch in text) if any(_unsafe(ch) for ch in text) else text


def short_names(paths: Sequence[PurePath], limit: int = 3) -> str:
    """``a.png, b.png, c.png, ...``: the first ``limit`` file names, escaped with :func:`printable`."""
    names = ", ".join(printable(p.name) for p in paths[:limit])
    return names + (", ..." if len(paths) > limit else "")


def _unsafe(ch: str) -> bool:
    code = ord(ch)
    return (
        code < 0x20
        or 0x7F <= code < 0xA0
        or 0x202A <= code <= 0x202E
        or 0x2066 <= code <= 0x2069
        or 0xDC80 <= code <= 0xDCFF
    )


def _escape(ch: str) -> str:
    if not _unsafe(ch):
        return ch
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return repr(ch)[1:-1] if code < 0x100 else f"\\u{code:04x}"


class BbcuError(Exception):
    """Base class: ``message`` says what went wrong, ``hint`` what to do next.

    Both may hold :func:`option` / :func:`command` markers: ``message``, ``hint`` and ``str()``
    render them for Python API users, :meth:`message_for_cli`, :meth:`hint_for_cli` and
    :meth:`for_cli` for the command line. ``raw_message`` / ``raw_hint`` keep the markers, to
    build another error from this one.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(render(message))
        self.raw_message = message
        self.raw_hint = hint

    @property
    def message(self) -> str:
        """What went wrong, for Python API users (settings as keyword names)."""
        return render(self.raw_message)

    @message.setter
    def message(self, text: str) -> None:
        self.raw_message = text

    @property
    def hint(self) -> str:
        """What to do next, for Python API users (``overwrite=True``, not ``--overwrite``)."""
        return render(self.raw_hint)

    @hint.setter
    def hint(self, text: str) -> None:
        self.raw_hint = text

    def message_for_cli(self) -> str:
        """The message with settings spelled as command-line flags."""
        return render(self.raw_message, cli=True)

    def hint_for_cli(self) -> str:
        """The hint with settings spelled as command-line flags (``--overwrite``)."""
        return render(self.raw_hint, cli=True)

    def for_cli(self) -> str:
        """``message (hint)`` as the command line shows it."""
        return _joined(self.message_for_cli(), self.hint_for_cli())

    def __str__(self) -> str:
        return _joined(self.message, self.hint)


def _joined(message: str, hint: str) -> str:
    return f"{message} ({hint})" if hint else message


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


class UnknownModelError(WeightsError):
    """``-m`` names no known model and no weights file: bad usage (exit code 2)."""

    exit_code = 2


class DownloadError(WeightsError):
    """Fetching weights failed on every URL."""


class IntegrityError(WeightsError):
    """A weights file does not have the sha256 or size the manifest promises."""


class OfflineError(WeightsError):
    """Weights are needed from the network but offline mode is on."""


class KernelUnavailable(BbcuError):
    """The packed CPU kernel cannot be used (not built, not loadable, or not valid here)."""
