"""Portable paths for training configs and exported files.

The run's own ``last.pt`` keeps the config exactly as run (absolute paths included: it
never leaves the machine, and ``--resume`` needs to find the data again). Exported files get
:meth:`TrainConfig.portable_dict` instead, where :func:`portable_path` / :func:`portable_text`
replace every absolute path by a reference that says nothing about this machine's folders:
``datasets/...`` for the shared datasets (relative to ``../shared`` next to the repository),
a repository-relative path, a path relative to the current folder, or else ``<abs>/NAME``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = [
    "REPO_ROOT",
    "ABS_MARKER",
    "DATASETS_REF",
    "datasets_root",
    "is_absolute_path",
    "portable_path",
    "portable_text",
    "absolute_paths_in",
    "locate_data",
    "default_data_dirs",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: prefix of a portable absolute path outside every known root: ``<abs>/NAME`` keeps the last component only
ABS_MARKER = "<abs>"
#: first component of a portable reference into the shared datasets root
DATASETS_REF = "datasets"
_WINDOWS_ABS = re.compile(r"[A-Za-z]:[\\/]|\\\\")
_WINDOWS_SEPS = "\\/"
_WINDOWS_SEP = re.compile(r"[\\/]")
# An absolute path inside free text (command lines, notes): a quoted one, spaces allowed, or a
# bare one that starts a token ("--x /a/b", "--x=/a/b", "(/a/b)"). Not a URL ("https://..."),
# a ratio ("15/25"), "~/x", "$HOME/x" or an already portable "<abs>/x"; "file:///a/b" is one,
# and so are Windows drive and UNC paths.
_ABS_IN_TEXT = re.compile(
    r"""(?P<quote>['"])(?P<quoted>(?:/|[A-Za-z]:[\\/]|\\\\)[\w.~+@%-][^'"\n]*)(?P=quote)"""
    r"""|(?:(?<![\w.~/\\>})\]$-])|(?<=file://))(?P<bare>(?:/|[A-Za-z]:[\\/]|\\\\)[\w.~+@%-][^\s'"`,;:()\[\]{}<>|]*)"""
)


def datasets_root() -> Path:
    """``../shared/datasets`` next to the repository."""
    return REPO_ROOT.parent / "shared" / "datasets"


def is_absolute_path(text: str) -> bool:
    """POSIX absolute (``/...``), or a Windows drive / UNC path (``C:\\...``, ``\\\\host\\...``)."""
    return text.startswith("/") or bool(_WINDOWS_ABS.match(text))


def _path_bases() -> list[tuple[Path, str]]:
    """Roots an absolute path may be expressed against, first match wins."""
    bases = [(datasets_root(), DATASETS_REF), (REPO_ROOT, "")]
    cwd = Path.cwd()
    if cwd != Path(cwd.anchor):  # relative to "/" would only drop the leading slash
        bases.append((cwd, ""))
    return bases


def portable_path(path: str | Path) -> str:
    """``path`` with nothing of this machine's folder layout in it.

    A relative path is kept as given. An absolute one becomes ``datasets/REST`` under the
    shared datasets root, a path relative to the repository inside it, relative to the
    current folder inside that (never with ``..``), and otherwise ``<abs>/NAME`` (its last
    component: the marker says where a folder was dropped). Windows paths get ``<abs>/NAME``.
    """
    text = str(path)
    if not is_absolute_path(text):
        return text
    if not text.startswith("/"):
        return f"{ABS_MARKER}/{_WINDOWS_SEP.split(text.rstrip(_WINDOWS_SEPS))[-1]}"
    normal = Path(os.path.normpath(text))
    for candidate in (normal, normal.resolve()):
        for base, prefix in _path_bases():
            if candidate.is_relative_to(base):
                rel = candidate.relative_to(base)
                return (Path(prefix) / rel).as_posix() if prefix else rel.as_posix()
    return f"{ABS_MARKER}/{normal.name}"


def _portable_match(match: re.Match[str]) -> str:
    if match.group("quoted") is not None:
        quote = match.group("quote")
        return f"{quote}{portable_path(match.group('quoted'))}{quote}"
    token = match.group("bare")
    core = token.rstrip(".")  # a full stop after a path
    return portable_path(core) + token[len(core) :]


def portable_text(text: str) -> str:
    """``text`` (a command line, notes) with every absolute path in it made portable."""
    return _ABS_IN_TEXT.sub(_portable_match, text)


def absolute_paths_in(text: str) -> list[str]:
    """The absolute paths :func:`portable_text` would rewrite in ``text``."""
    return [m.group("quoted") or m.group("bare") for m in _ABS_IN_TEXT.finditer(text)]


def locate_data(ref: str) -> str:
    """A folder reference as found on this machine: ``datasets/...`` (portable, as exported)
    resolves to the shared datasets root unless it exists relative to the current folder."""
    head = Path(ref).parts[:1]
    if head == (DATASETS_REF,) and not Path(ref).exists():
        return str(datasets_root().parent / ref)
    return ref


def default_data_dirs() -> list[str]:
    root = datasets_root() / "train"
    return [str(root / "T91"), str(root / "BSD200")]
