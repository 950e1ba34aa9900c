"""The ``bbcu`` Typer app and the one place where errors become messages and exit codes.

Exit codes: 0 all good; 1 an item or the run failed; 2 bad usage; 130 interrupted (Ctrl-C);
143 terminated (SIGTERM, handled like Ctrl-C).
Tracebacks only with ``--verbose`` / ``BBCU_DEBUG=1``.
"""

from __future__ import annotations

import copy
import errno
import os
import platform
import sys
from typing import Annotated, Optional

import typer

from .. import __version__
from ..errors import BbcuError, OutputError
from . import restore_cmd
from .helptext import command_epilog, environment_epilog
from .process import exit_code, fill_closed_streams, python_stderr_apart, terminate_as_interrupt
from .report import is_verbose, setup_logging, stderr_console

app = typer.Typer(
    name="bbcu",
    help="Image restoration with binarized BBCU networks: upscale, denoise, deblock.",
    no_args_is_help=True,
    add_completion=True,
    epilog=environment_epilog(),
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"verbose": False}


def _version_text() -> str:
    """Version, torch and kernel status, without importing torch (``--version`` stays instant)."""
    lines = [f"bbcu {__version__} (python {platform.python_version()})", _torch_line(), _packed_line()]
    lines.append("cuda: checked when a command runs (--version does not load torch)")
    return "\n".join(lines)


def _torch_line() -> str:
    """The installed torch version from the package metadata (torch itself is not imported)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"torch: {version('torch')} (loaded when a command runs)"
    except PackageNotFoundError:
        return "torch: not installed"


def _packed_line() -> str:
    """Status of the compiled kernels: :mod:`bbcu_cli.kernels` loads them through ctypes, no torch."""
    from .. import kernels

    status = kernels.backend_status()
    return f"packed kernel: {'on, ' + status.label if status.available else 'off: ' + status.reason}"


def _version(value: bool) -> None:
    if value:
        typer.echo(_version_text())
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Show the version, the torch version and the packed kernel status.",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Log details and show tracebacks on errors.")
    ] = False,
) -> None:
    """Image restoration with binarized BBCU networks: upscale, denoise, deblock."""
    _state["verbose"] = verbose or os.environ.get("BBCU_DEBUG", "") not in ("", "0")
    setup_logging(_state["verbose"])  # bbcu's own debug log only; Pillow & co. stay quiet


app.command("upscale", epilog=command_epilog("sr"))(restore_cmd.upscale)
app.command("denoise", epilog=command_epilog("denoise"))(restore_cmd.denoise)
app.command("deblock", epilog=command_epilog("deblock"))(restore_cmd.deblock)


def _register_optional() -> None:
    """Command groups that live in their own modules."""
    from . import bench_cmd, eval_cmd, metrics_cmd

    app.command("metrics", epilog=command_epilog("metrics"))(metrics_cmd.metrics)
    app.command("eval")(eval_cmd.eval_command)
    app.command("bench")(bench_cmd.bench_command)
    from .train_cmd import train_command

    app.command("train")(train_command)
    try:
        from .models_cmd import models_command
        from .weights_cmd import weights_app
    except ImportError:
        return
    app.command("models")(models_command)
    app.add_typer(weights_app, name="weights", help="Download, verify, import and mirror model weights.")


_register_optional()


def _fail(exc: BaseException, code: int) -> int:
    if _state["verbose"] or is_verbose():
        import traceback

        traceback.print_exception(exc)
    text = exc.for_cli() if isinstance(exc, BbcuError) else str(exc)
    stderr_console.print(f"error: {text}", markup=False, soft_wrap=True)
    return code


def _subcommand(argv: list[str]) -> str | None:
    """The command name: the first argument that is not an option (root options take no value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _app_for(argv: list[str]) -> typer.Typer:
    """The app holding only the command ``argv`` runs (the whole app when it names none).

    Typer turns every registered command's signature into click options on each call (~30 ms
    of every ``bbcu`` run, measured); a run needs its own command's alone. ``bbcu --help``, a
    mistyped command and shell completion get the whole app."""
    name = _subcommand(argv)
    commands = [c for c in app.registered_commands if c.name == name]
    groups = [g for g in app.registered_groups if g.name == name]
    completing = any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ)
    if completing or not (commands or groups):
        return app
    single = copy.copy(app)
    single.registered_commands, single.registered_groups = commands, groups
    return single


def _passive_omp_wait(argv: list[str]) -> None:
    """Let torch's OpenMP threads sleep, not spin, between ops, for every command but ``train``.

    Spinning OpenMP workers keep the cores busy after each torch op and slow down the packed
    kernels' own C thread pool that runs right after (a 32x8 model at 320x180 on 2 threads:
    67.8 ms -> 56.4 ms per image with PASSIVE). ``train`` runs torch ops only and keeps the
    OpenMP default. The OpenMP runtime reads the variable once, when torch loads: hence here,
    before any command imports torch (and not at all once torch is loaded); the user's value wins.
    """
    if _subcommand(argv) != "train" and "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


#: commands that declare ``-v/--verbose`` themselves (for the others it is moved before them)
_OWN_VERBOSE = ("upscale", "denoise", "deblock", "metrics")


def _hoist_verbose(argv: list[str]) -> list[str]:
    """``bbcu eval ... -v`` works like ``bbcu -v eval ...``: -v/--verbose after a command that
    has no such option of its own goes to the root (arguments after ``--`` are left alone)."""
    command = _subcommand(argv)
    if command is None or command in _OWN_VERBOSE:
        return argv
    at = argv.index(command)
    end = argv.index("--", at) if "--" in argv[at:] else len(argv)
    tail = argv[at + 1 : end]
    if not any(a in ("-v", "--verbose") for a in tail):
        return argv
    rest = [a for a in tail if a not in ("-v", "--verbose")]
    return ["-v", *argv[:at], command, *rest, *argv[end:]]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bbcu`` command: run the app, map errors to exit codes.

    SIGTERM is handled like Ctrl-C and exits 143 (:mod:`.process`); a pipe closed by its reader
    is a one-line error, exit 1."""
    fill_closed_streams()
    with terminate_as_interrupt(), python_stderr_apart():
        rc = _run(argv)
        rc = _flush_stdout(rc)
    return exit_code(rc)


def _flush_stdout(rc: int) -> int:
    """Flush stdout now, so a reader that quit early is reported here and not at interpreter exit."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        _quiet_stdout()
        return (
            _fail(
                OutputError(
                    f"cannot write to stdout: {exc.strerror or exc}", "keep the reading program running until bbcu ends"
                ),
                1,
            )
            if rc == 0
            else rc
        )
    return rc


def _quiet_stdout() -> None:
    """Point a broken stdout at /dev/null (Python flushes it once more at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _run(argv: list[str] | None) -> int:
    """Run the app once; every error becomes one line on stderr and an exit code."""
    argv = _hoist_verbose(sys.argv[1:] if argv is None else list(argv))
    _passive_omp_wait(argv)
    try:
        rc = _app_for(argv)(args=argv, standalone_mode=False)
    except BbcuError as exc:
        return _fail(exc, exc.exit_code)
    except KeyboardInterrupt:
        stderr_console.print("interrupted", markup=False)
        return 130
    except OSError as exc:  # stdout closed or a pipe whose reader quit (--json, bbcu models | head)
        if exc.errno not in (errno.EPIPE, errno.EBADF):
            return _click_or_internal(exc)
        _quiet_stdout()
        return _fail(
            OutputError(
                f"cannot write to stdout: {exc.strerror or exc}",
                "keep the reading program running until bbcu ends, or redirect to a file",
            ),
            1,
        )
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    except Exception as exc:  # click usage errors and anything unexpected
        return _click_or_internal(exc)
    return rc if isinstance(rc, int) else 0


def _click_or_internal(exc: Exception) -> int:
    """Usage errors from the option parser (click, bundled by newer typer) or internal errors."""
    if isinstance(exc, typer.Abort):
        stderr_console.print("interrupted", markup=False)
        return 130
    show = getattr(exc, "show", None)
    if callable(show) and isinstance(getattr(exc, "exit_code", None), int):
        show()
        return int(exc.exit_code)  # type: ignore[attr-defined]
    return (
        _fail(exc, 1)
        if _state["verbose"] or is_verbose()
        else _fail(RuntimeError(f"internal error: {type(exc).__name__}: {exc} (rerun with --verbose for details)"), 1)
    )


if __name__ == "__main__":
    sys.exit(main())
