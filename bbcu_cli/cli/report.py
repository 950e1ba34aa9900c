"""How results reach the user: Rich progress and summary on stderr, ``--json`` on stdout."""

from __future__ import annotations

import json
import math
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

if TYPE_CHECKING:  # only for annotations: keeps numpy and the image codecs out of start-up
    from ..pipeline import ItemResult

__all__ = ["stderr_console", "summary_of", "emit_json", "print_summary", "print_interrupted", "progress_bar"]

stderr_console = Console(stderr=True, highlight=False)


def _mean(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def summary_of(items: Sequence[ItemResult]) -> dict[str, object]:
    """Counts per status and mean PSNR/SSIM over items that have them."""
    return {
        "ok": sum(i.status == "ok" for i in items),
        "skipped": sum(i.status == "skipped" for i in items),
        "failed": sum(i.status == "failed" for i in items),
        "psnr_mean": _mean([i.psnr for i in items]),
        "ssim_mean": _mean([i.ssim for i in items]),
    }


def emit_json(command: str, model: str, items: Sequence[ItemResult], extra: dict[str, object] | None = None) -> None:
    """Print the ``--json`` object on stdout."""
    payload: dict[str, object] = {"command": command, "model": model, "items": [i.to_json() for i in items], "summary": summary_of(items)}
    payload.update(extra or {})
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    sys.stdout.flush()


def print_summary(items: Sequence[ItemResult], console: Console = stderr_console) -> None:
    """One line per failure, then the totals (and mean metrics when references were given)."""
    summary = summary_of(items)
    for item in items:
        if item.status == "failed":
            console.print(Text.assemble(("failed", "red"), f": {item.error}"), soft_wrap=True)  # no markup: names may hold [ ]
    line = f"{summary['ok']} ok, {summary['skipped']} skipped, {summary['failed']} failed"
    if summary["psnr_mean"] is not None:
        line += f"; mean PSNR {summary['psnr_mean']:.4f} dB, SSIM {summary['ssim_mean']:.4f}"
    console.print(line, markup=False)


def print_interrupted(done: int, total: int, console: Console = stderr_console) -> None:
    """The Ctrl-C notice: how far the batch got and how to resume."""
    console.print(f"interrupted after {done} of {total} items; rerun with --skip-existing to resume", markup=False)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress | None]:
    """A Rich progress display on stderr, or ``None`` when disabled."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr_console, transient=True) as progress:
        yield progress
