"""How results reach the user: Rich progress and summary on stderr, ``--json`` on stdout."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..errors import printable
from .item_text import SKIP_REASON

if TYPE_CHECKING:  # only for annotations: keeps numpy, the image codecs and Rich out of start-up
    from rich.console import Console
    from rich.progress import Progress

    from ..batch.item import ItemResult

__all__ = [
    "stderr_console",
    "summary_of",
    "emit_json",
    "print_summary",
    "print_interrupted",
    "progress_bar",
    "setup_logging",
    "is_verbose",
    "protocol_label",
    "RunTotals",
    "TileBar",
    "SKIP_REASON",
]


class _StderrConsole:
    """Rich's console on stderr, made on first use: importing Rich costs ~20 ms of start-up
    (measured), which a quiet run that prints nothing never pays."""

    _console: Console | None = None

    @staticmethod
    def _real() -> Console:
        if _StderrConsole._console is None:
            from rich.console import Console

            _StderrConsole._console = Console(stderr=True, highlight=False)
        return _StderrConsole._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    # special methods bypass __getattr__; Rich's Live and Progress enter their console
    def __enter__(self) -> Console:
        return self._real().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        self._real().__exit__(*exc_info)


stderr_console: Console = _StderrConsole()  # type: ignore[assignment]
#: loggers of libraries whose debug output is noise for a user of ``bbcu -v``
_CHATTY_LOGGERS = ("PIL", "urllib3", "filelock", "matplotlib", "asyncio")
_verbose = {"on": False}


def setup_logging(verbose: bool) -> None:
    """``-v``: bbcu's own debug messages (tiles, kernel choice, timings) on stderr; third-party
    loggers (Pillow's PNG chunks, ...) stay at warnings. Without ``-v`` only warnings show."""
    _verbose["on"] = verbose or os.environ.get("BBCU_DEBUG", "") not in ("", "0")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("bbcu_cli").setLevel(logging.DEBUG if _verbose["on"] else logging.WARNING)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if _verbose["on"]:
        logging.getLogger().handlers[0].setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))


def is_verbose() -> bool:
    """Whether ``-v/--verbose`` (before or after the command) or ``BBCU_DEBUG`` is on."""
    return _verbose["on"]


def protocol_label(space: str, crop: int) -> str:
    """``("y", 4)`` -> ``"Y, crop 4"``; ``("rgb", 0)`` -> ``"RGB"``: how PSNR/SSIM were measured."""
    name = {"y": "Y", "rgb": "RGB", "gray": "gray"}.get(space, space)
    return f"{name}, crop {crop}" if crop else name


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


def _item_json(item: ItemResult, references: dict[str, str | None] | None) -> dict[str, object]:
    """One ``items`` entry: the result's fields, its reference and why it was skipped."""
    data = item.to_json(for_cli=True)
    found = references or {}
    data.setdefault("reference", found.get(item.input) or found.get(str(item.output)))
    data.setdefault("reason", SKIP_REASON if item.status == "skipped" else None)
    return data


def emit_json(
    command: str,
    model: str | None,
    items: Sequence[ItemResult],
    extra: dict[str, object] | None = None,
    references: dict[str, str | None] | None = None,
) -> None:
    """Print the ``--json`` object on stdout (one schema for the restore commands and ``metrics``).

    ``{"command", "model", "items": [{"input", "output", "status", "error", "psnr", "ssim",
    "seconds", "sigma", "weight", "variant", "reference", "reason"}], "summary": {...}}`` plus ``extra`` keys
    (``protocol``, ``backend``, ...).
    """
    payload: dict[str, object] = {
        "command": command,
        "model": model,
        "items": [_item_json(i, references) for i in items],
        "summary": summary_of(items),
    }
    payload.update(extra or {})
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    sys.stdout.flush()


class RunTotals:
    """What the summary line needs beyond the items: wall time, pixels written, where to."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.batch_start = self.start
        self.pixels_out = 0
        self.protocol: str | None = None
        self.location: str | None = None

    def seconds(self) -> float:
        """Wall time of the whole command so far (model loading included)."""
        return time.perf_counter() - self.start

    def batch_seconds(self) -> float:
        """Wall time since the first image started (what megapixels/s is measured over)."""
        return time.perf_counter() - self.batch_start


def _totals_text(totals: RunTotals | None, wrote: bool) -> str:
    if totals is None:
        return ""
    seconds = totals.seconds()
    text = f" in {seconds:.1f} s"
    if totals.pixels_out:
        text += f", {totals.pixels_out / 1e6 / max(totals.batch_seconds(), 1e-9):.2f} MP/s ({totals.pixels_out / 1e6:.2f} MP restored)"
    if totals.location and wrote:  # no output at all: no location to point at
        text += f"; outputs in {printable(totals.location)}"
    return text


def print_summary(
    items: Sequence[ItemResult], console: Console = stderr_console, totals: RunTotals | None = None
) -> None:
    """One line per failure, then the totals, time, speed, output location and mean metrics."""
    from rich.text import Text

    summary = summary_of(items)
    for item in items:
        if item.status == "failed":
            console.print(
                Text.assemble(("failed", "red"), f": {item.error_for_cli()}"), soft_wrap=True
            )  # no markup: names may hold [ ]
    line = f"{summary['ok']} ok, {summary['skipped']} skipped, {summary['failed']} failed{_totals_text(totals, bool(summary['ok'] or summary['skipped']))}"
    if summary["psnr_mean"] is not None:
        protocol = f" ({totals.protocol})" if totals is not None and totals.protocol else ""
        line += f"; mean PSNR {summary['psnr_mean']:.4f} dB, SSIM {summary['ssim_mean']:.4f}{protocol}"
    console.print(line, markup=False, soft_wrap=True)
    if summary["skipped"]:
        console.print(
            f"{summary['skipped']} output(s) already existed and were kept; pass --overwrite to replace them",
            markup=False,
        )


def print_interrupted(done: int, total: int, console: Console = stderr_console) -> None:
    """The Ctrl-C notice: how far the batch got and how to resume."""
    console.print(
        f"interrupted after {done} of {total} items; rerun the same command to resume: finished outputs are skipped (--skip-existing is the default)",
        markup=False,
    )


def _rich_bar(first_column: str, console: Console) -> Progress:
    """A transient Rich bar: label, bar, done/total, elapsed, remaining."""
    # imported here: rich.progress costs ~20 ms of start-up, paid only when a bar is shown
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(first_column), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console, transient=True)


class TileBar:
    """Tile progress for one image: appears once the image has taken ``delay`` seconds.

    Passed to the engine as its ``TileProgress`` hook (``(done, total)`` after each tile); the
    Rich bar is transient and only drawn on a terminal.
    """

    def __init__(self, enabled: bool, delay: float = 2.0, console: Console = stderr_console) -> None:
        self.enabled = enabled and console.is_terminal
        self.delay = delay
        self.console = console
        self.started: float | None = None
        self.progress: Progress | None = None
        self.task_id: int | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done == 0 or self.started is None:  # (0, total) comes before the first tile
            self.started = now
            return
        if self.progress is None and now - self.started >= self.delay and done < total:
            self._open(total)
        if self.progress is not None and self.task_id is not None:
            self.progress.update(self.task_id, completed=done, total=total)  # type: ignore[arg-type]
        if done >= total:
            self.close()

    def _open(self, total: int) -> None:
        self.progress = _rich_bar("tiles", self.console)
        self.progress.start()
        self.task_id = self.progress.add_task("tiles", total=total)  # type: ignore[assignment]

    def close(self) -> None:
        """Remove the bar (if shown) and get ready for the next image."""
        if self.progress is not None:
            self.progress.stop()
        self.progress, self.task_id, self.started = None, None, None


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress | None]:
    """A Rich progress display on stderr, or ``None`` when disabled."""
    if not enabled:
        yield None
        return
    with _rich_bar("{task.description}", stderr_console) as progress:
        yield progress
