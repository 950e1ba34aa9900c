"""``bbcu weights ...`` (download, verify, path, rm, import, mirror); ``bbcu models`` is in
:mod:`.models_cmd`.

Thin layer over :mod:`bbcu_cli.weights`: typed ``BbcuError``s propagate to the app boundary,
which prints one line + hint and exits with the error's code. Results go to stdout, progress
bars (downloads only, TTY only) to stderr.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:  # Rich is imported when a table or bar is drawn, not when a restoring run registers this module
    from rich.console import Console

from ..archs.spec import TASKS
from ..atomicfile import writing
from ..errors import IntegrityError, OutputError, UsageError, WeightsError
from ..weights.cache import (
    bundled_path,
    cache_io,
    cached_path,
    forget_user_entry,
    get_manifest,
    load_user_manifest,
    local_path,
    sha256_file,
    status,
    verify,
    write_atomic,
)
from ..weights.download import DownloadSettings, ProgressCallback, candidate_urls, fetch
from ..weights.manifest import Manifest, ManifestEntry
from ..weights.resolve import lookup
from . import options as opt

__all__ = ["weights_app"]

weights_app = typer.Typer(
    help="Download, verify, import and mirror model weights.", no_args_is_help=True, add_completion=False
)

Names = Annotated[Optional[list[str]], typer.Argument(help="Model names (see 'bbcu models').", show_default=False)]
Offline = Annotated[bool, typer.Option("--offline", help="Never use the network (same as BBCU_OFFLINE=1).")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar on stderr.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")]


def _stdout() -> Console:
    """Tables on stdout; wide and unwrapped when piped so rows stay one line."""
    from rich.console import Console

    return Console(highlight=False) if sys.stdout.isatty() else Console(highlight=False, width=200)


def _human(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


@contextmanager
def _download_progress(quiet: bool) -> Iterator[Callable[[str], ProgressCallback | None]]:
    """Yields ``make(name)`` -> progress callback drawing a Rich bar on stderr (TTY only)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        yield lambda name: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:

        def make(name: str) -> ProgressCallback:
            task_id = bar.add_task(name, total=None, visible=False)
            return lambda done, total: bar.update(task_id, completed=done, total=total, visible=True)

        yield make


# ---------------------------------------------------------------- commands


@weights_app.command("download")
def download(
    names: Names = None,
    all_models: Annotated[bool, typer.Option("--all", help="Every model that can be downloaded.")] = False,
    offline: Offline = False,
    quiet: Quiet = False,
) -> None:
    """Download (or check the cache for) models; prints NAME<TAB>PATH per model."""
    if bool(names) == all_models:
        raise UsageError("name the models to download, or pass --all (not both)", "see bbcu models")
    manifest = get_manifest()
    entries = (
        [m for m in manifest.models if _has_source(m)] if all_models else [lookup(n, manifest) for n in names or []]
    )
    with _download_progress(quiet) as make:
        for entry in entries:
            typer.echo(f"{entry.name}\t{fetch(entry, offline=offline, progress=make(entry.name))}")
    skipped = [m.name for m in manifest.models if m not in entries] if all_models else []
    if skipped and not quiet:
        typer.echo(
            f"skipped (Google Drive models: name them, e.g. 'bbcu weights download {skipped[0]}'; manual models: fetch by hand, "
            f"then 'bbcu weights import'): {', '.join(skipped)}",
            err=True,
        )


def _has_source(entry: ManifestEntry) -> bool:
    """Bundled/cached, or downloadable from its URLs or the BBCU_WEIGHTS_URL mirror. Official
    files on Google Drive are fetched only when named (Drive limits downloads per file)."""
    if entry.drive is not None:
        return local_path(entry) is not None
    return not entry.manual and (
        local_path(entry) is not None or bool(candidate_urls(entry, DownloadSettings.from_env()))
    )


@weights_app.command("verify")
def verify_cmd(names: Names = None) -> None:
    """Re-hash local files (bundled and cached) against the manifest; exit 1 on a mismatch."""
    from rich.table import Table

    manifest = get_manifest()
    entries = [lookup(n, manifest) for n in names] if names else [m for m in manifest.models if local_path(m)]
    table = Table("model", "where", "result", "expected sha256", "actual sha256")
    bad: list[str] = []
    missing: list[str] = []
    for entry in entries:
        ok, actual = verify(entry)
        where = status(entry)
        result = "ok" if ok else ("missing" if actual is None else "MISMATCH")
        if result == "missing":
            missing.append(entry.name)
        elif result == "MISMATCH":
            bad.append(entry.name)
        table.add_row(entry.name, where, result, (entry.sha256 or "-")[:16], (actual or "-")[:16])
    _stdout().print(table if entries else "no local weights files to verify")
    if bad:
        raise IntegrityError(
            f"{len(bad)} file(s) failed verification: {', '.join(bad)}",
            "re-fetch with: bbcu weights rm NAME && bbcu weights download NAME",
        )
    if missing:
        raise WeightsError(
            f"not available locally: {', '.join(missing)}",
            "bbcu weights download NAME (or import it for a manual model)",
        )


@weights_app.command("path")
def path_cmd(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Print the local path of a model's file (error if it is not bundled or cached)."""
    entry = lookup(name)
    path = local_path(entry)
    if path is None:
        how = f"bbcu weights import FILE --name {name}" if entry.manual else f"bbcu weights download {name}"
        raise WeightsError(f"'{name}' is not available locally ({status(entry)})", f"get it with: {how}")
    typer.echo(str(path))


@weights_app.command("rm")
def rm(
    names: Annotated[list[str], typer.Argument(help="Model names.", show_default=False)],
    unpin: Annotated[
        bool, typer.Option("--unpin", help="Also forget the sha256 recorded on a Google Drive model's first download.")
    ] = False,
) -> None:
    """Remove cached files (bundled files cannot be removed); imported models are unregistered.

    A model downloaded from Google Drive keeps its recorded sha256 (the next download must
    match it) unless --unpin is given."""
    manifest = get_manifest()
    entries = [lookup(n, manifest) for n in names]
    bundled = [e.name for e in entries if bundled_path(e) is not None]
    if bundled:
        raise WeightsError(
            f"bundled with bbcu, not removable: {', '.join(bundled)}",
            "only cached downloads and imports can be removed",
        )
    user = load_user_manifest()
    for entry in entries:
        path = cached_path(entry)
        existed = path.is_file()
        with cache_io(f"remove {path}"):
            path.unlink(missing_ok=True)
        pinned = entry.drive is not None and entry.drive.sha256 is not None and not unpin
        forgot = not pinned and not entry.urls and user.find(entry.name) is not None and forget_user_entry(entry.name)
        what = " and ".join(w for w, done in (("removed", existed), ("unregistered", forgot)) if done) or "not cached"
        typer.echo(
            f"{entry.name}: {what}"
            + (f" (sha256 of {entry.drive.file} kept; --unpin forgets it)" if pinned and entry.drive else "")
        )


@weights_app.command("import")
def import_cmd(
    file: Annotated[
        Path, typer.Argument(help="Checkpoint: official .pth or project .safetensors.", show_default=False)
    ],
    name: Annotated[
        Optional[str],
        typer.Option(
            "--name",
            help="Register under this name (default: imported-<arch>-<sha>). Use an official name, e.g. bbcu-l-x4-official, to fill in that entry.",
        ),
    ] = None,
    k: Annotated[
        Optional[float], typer.Option("--k", help="Residual-alignment factor (default 130 * features / 64).")
    ] = None,
    task: Annotated[
        Optional[str], typer.Option("--task", help=f"{opt.TASK_HELP[:-1]} (DnCNN-style files carry no task).")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace an earlier import of that --name that holds other weights.")
    ] = False,
) -> None:
    """Convert a checkpoint to the packed project format in the cache and register it."""
    if task is not None and task not in TASKS:
        raise UsageError(f"--task must be one of {', '.join(TASKS)} (got {task!r})")
    from ..weights.importer import import_checkpoint

    entry = import_checkpoint(file, name, k, task, replace=replace)
    typer.echo(
        f"imported {file} as '{entry.name}' ({entry.task} x{entry.scale}, {entry.arch.describe()}, {_human(entry.size)})"
    )
    typer.echo(str(cached_path(entry)))


@weights_app.command("mirror")
def mirror(
    directory: Annotated[Path, typer.Argument(help="Folder to fill (created if needed).", show_default=False)],
) -> None:
    """Copy every local weights file and a weights_manifest.json into DIRECTORY."""
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"cannot write the mirror {directory}: it is a file", "pass a folder (new or existing)")
    manifest = get_manifest()
    with cache_io(f"write the mirror {directory}"):
        directory.mkdir(parents=True, exist_ok=True)
        copied = [_mirror_one(entry, directory) for entry in manifest.models if local_path(entry) is not None]
        data = Manifest(tuple(copied)).to_dict()
        write_atomic(directory / "weights_manifest.json", (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    typer.echo(f"{len(copied)} model(s) in {directory}")
    typer.echo(
        f"use it with BBCU_WEIGHTS_URL=file://{directory.resolve()} (or serve the folder over http); for imported "
        "models also copy weights_manifest.json to <cache>/models.json on the other machine",
        err=True,
    )


def _mirror_one(entry: ManifestEntry, directory: Path) -> ManifestEntry:
    source, dest = local_path(entry), directory / entry.file
    assert source is not None
    if not (dest.is_file() and sha256_file(dest) == entry.sha256):
        # a fresh, unpredictable temp name created with O_EXCL (mkstemp): a file or symlink planted
        # in DIR cannot redirect the copy
        with writing(dest) as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
    actual = sha256_file(dest)
    if actual != entry.sha256:
        raise IntegrityError(
            f"{source}: sha256 mismatch for '{entry.name}': expected {entry.sha256}, got {actual}",
            "bbcu weights verify, then re-download it",
        )
    return replace(entry, bundled=False)
