"""Run the ``bbcu`` CLI in-process and capture what it prints."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bbcu_cli.cli.app import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: object) -> CliResult:
    """Call ``bbcu ARGS...`` through the same entry point as the console script."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)
