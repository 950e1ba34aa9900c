"""The lazily made stderr console must work wherever Rich takes a console (regression: Rich's
Live enters its console with ``with``, which a plain ``__getattr__`` proxy does not forward)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bbcu_cli.cli import report, train_cmd


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, highlight=False)
    monkeypatch.setattr(report._StderrConsole, "_console", console)
    return out


def test_progress_bar_runs_on_the_lazy_console(terminal: io.StringIO) -> None:
    with report.progress_bar(True) as progress:
        assert progress is not None
        task = progress.add_task("restoring bears.png", total=2)
        progress.update(task, completed=2)
    assert "restoring bears.png" in terminal.getvalue()


def test_tile_bar_opens_and_closes_on_the_lazy_console(terminal: io.StringIO) -> None:
    bar = report.TileBar(True, delay=0.0)
    bar(0, 3)
    bar(1, 3)
    assert bar.progress is not None
    bar(3, 3)
    assert bar.progress is None
    assert "tiles" in terminal.getvalue()


def test_training_display_starts_and_stops_on_the_lazy_console(terminal: io.StringIO) -> None:
    with train_cmd._display(True) as display:
        assert display.progress is not None
    assert display.progress.live.is_started is False


def test_entering_the_lazy_console_gives_the_real_one(terminal: io.StringIO) -> None:
    with report.stderr_console as console:
        console.print("inside")
    assert isinstance(console, Console)
    assert "inside" in terminal.getvalue()
