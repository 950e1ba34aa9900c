"""Hints that name settings: rendered as keyword names for Python, as flags for the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clihelp import run_cli
from PIL import Image as PILImage

from bbcu_cli.batch.item import ItemResult, RestoreOptions, load_item
from bbcu_cli.cli import app as cli_app
from bbcu_cli.cli.item_text import item_line
from bbcu_cli.errors import BbcuError, InputError, OutputError, UsageError, command, option, render


def _overwrite_error() -> OutputError:
    return OutputError(
        "out.png already exists",
        f"pass {option('overwrite', True)} to replace it or {option('skip_existing', True)} to keep it",
    )


def test_option_renders_both_ways() -> None:
    err = _overwrite_error()
    assert err.hint == "pass overwrite=True to replace it or skip_existing=True to keep it"
    assert err.hint_for_cli() == "pass --overwrite to replace it or --skip-existing to keep it"
    assert str(err) == "out.png already exists (pass overwrite=True to replace it or skip_existing=True to keep it)"
    assert err.for_cli() == "out.png already exists (pass --overwrite to replace it or --skip-existing to keep it)"


def test_option_values_and_asides() -> None:
    text = f"use {option('device', 'cpu')}, {option('crop', 4)} or {option('shard', '2/8')}; k{option('k', aside=True)}"
    assert render(text) == "use device='cpu', crop=4 or shard=2/8; k"
    assert render(text, cli=True) == "use --device cpu, --crop 4 or --shard 2/8; k (--k)"
    assert render(f"give {option('time_budget')}") == "give time_budget"
    assert render(f"give {option('time_budget')}", cli=True) == "give --time-budget"


def test_command_reads_the_same_for_everyone() -> None:
    text = f"run {command('weights rm m1', unpin=True)} then {command('weights import F', name='m1', task=None)}"
    expected = "run bbcu weights rm m1 --unpin then bbcu weights import F --name m1"
    assert render(text) == expected and render(text, cli=True) == expected


def test_messages_render_too() -> None:
    err = UsageError(f"{option('threads')} must be >= 0, got -1", "0 means one per core")
    assert err.message == "threads must be >= 0, got -1"
    assert err.message_for_cli() == "--threads must be >= 0, got -1"
    assert err.raw_message != err.message  # the markers are kept to build another error
    assert (
        BbcuError(f"x: {err.raw_message}", err.raw_hint).for_cli()
        == "x: --threads must be >= 0, got -1 (0 means one per core)"
    )


def test_printable_applied_after_rendering() -> None:
    err = OutputError("bad\nname\x1b[2J", f"{option('overwrite', True)}\u202e")
    assert err.message == "bad\\nname\\x1b[2J" and err.message_for_cli() == "bad\\nname\\x1b[2J"
    assert err.hint == "overwrite=True\\u202e" and err.hint_for_cli() == "--overwrite\\u202e"


def test_marker_delimiters_in_values_cannot_forge_markers() -> None:
    text = option("name", "a\ue000o\ue001x\ue001\ue001\ue002b")
    assert render(text, cli=True) == "--name ao" + "x" + "b"


def test_cli_boundary_shows_flags(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A library error raised through the CLI speaks in flags."""

    def failing_app(**_: object) -> None:
        raise _overwrite_error()

    monkeypatch.setattr(cli_app, "_app_for", lambda argv: failing_app)
    res = run_cli(capsys, "models")
    assert res.code == 1
    assert (
        res.err.strip()
        == "error: out.png already exists (pass --overwrite to replace it or --skip-existing to keep it)"
    )


def test_failed_batch_item_shows_flags_in_the_cli_and_keywords_in_python(tmp_path: Path) -> None:
    src, dst = tmp_path / "a.png", tmp_path / "b.png"
    PILImage.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src)
    dst.write_bytes(b"keep me")
    result = load_item(src, dst, opts=RestoreOptions())
    assert isinstance(result, ItemResult) and result.status == "failed"
    assert result.error is not None and "overwrite=True" in result.error and "--" not in result.error
    assert "--overwrite" in (result.error_for_cli() or "") and "--skip-existing" in (result.error_for_cli() or "")
    assert "--overwrite" in str(result.to_json(for_cli=True)["error"]) and "overwrite=True" in str(
        result.to_json()["error"]
    )
    assert "error_cli" not in result.to_json()
    assert "--overwrite" in item_line(result).plain


def test_python_api_error_has_no_flags(tmp_path: Path) -> None:
    """The same refusal through :func:`bbcu_cli.restore_file` names the keyword, not the flag."""
    from bbcu_cli import get_model, restore_file

    src, dst = tmp_path / "a.png", tmp_path / "b.png"
    PILImage.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src)
    dst.write_bytes(b"keep me")
    with pytest.raises(OutputError) as info:  # typed, as the other API calls raise (was a bare BbcuError)
        restore_file(get_model(task="denoise"), src, dst, sigma=10)
    assert "overwrite=True" in str(info.value) and "--" not in str(info.value)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="bad.png"):
        restore_file(get_model(task="denoise"), tmp_path / "bad.png", tmp_path / "c.png", sigma=10)


def test_restore_file_never_replaces_its_input(tmp_path: Path) -> None:
    from bbcu_cli import get_model, restore_file

    src = tmp_path / "in.png"
    PILImage.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(src)
    before = src.read_bytes()
    with pytest.raises(UsageError, match="is the input file"):
        restore_file(get_model(task="denoise"), src, tmp_path / "." / "in.png", sigma=10, overwrite=True)
    assert src.read_bytes() == before


@pytest.mark.parametrize(
    ("pixels", "sigma", "error", "message"),
    [
        (np.zeros((8, 8, 3), np.int64), 10, "InputError", "int64 pixels are not supported"),
        (np.full((8, 8, 3), np.nan, np.float32), 10, "InputError", "the pixels hold NaN"),
        (np.zeros((8, 8, 4), np.uint8), 10, "InputError", r"expected an \(H, W\) or \(H, W, 1 or 3\) array"),
        (np.zeros((8,), np.uint8), 10, "InputError", r"expected an \(H, W\)"),
        (np.zeros((0, 8, 3), np.uint8), 10, "InputError", "hold no pixel"),
        (np.zeros((8, 8, 3), np.uint8), -5, "UsageError", "sigma -5 is not a noise level"),
        (np.zeros((8, 8, 3), np.uint8), float("nan"), "UsageError", "sigma nan is not a noise level"),
    ],
)
def test_restorer_refuses_what_it_would_misread(pixels: np.ndarray, sigma: float, error: str, message: str) -> None:
    """int64 pixels were read as if on the 0..1 scale (outputs -17..264), NaN and a negative
    sigma ran silently, odd shapes ended in IndexError/ValueError: now typed, one-line errors."""
    import bbcu_cli.errors as errors
    from bbcu_cli import Restorer, get_model

    restorer = Restorer(get_model(task="denoise"), device="cpu")
    with pytest.raises(getattr(errors, error), match=message):
        restorer.restore(pixels, sigma=sigma)


@pytest.mark.parametrize(
    ("model", "kwargs", "message"),
    [
        ("bbcu-p-x4", {}, r"model 'bbcu-p-x4' is a name or a path.*get_model\('bbcu-p-x4'\)"),
        (None, {}, "model is a NoneType, not a loaded model"),
        ("default", {"tile": "64"}, r"tile='64' is not a tile side in pixels"),
        ("default", {"tile": -8}, r"tile=-8 is not a tile side in pixels"),
    ],
)
def test_api_misuse_is_a_usage_error(model: object, kwargs: dict, message: str, tmp_path: Path) -> None:
    """A model name passed where a loaded model goes ended in ``AttributeError: 'str' object has
    no attribute 'spec'``, ``tile="64"`` in a TypeError deep in the tile planner, a non-path
    ``src`` in ``TypeError: expected str, bytes or os.PathLike``."""
    from bbcu_cli import get_model, restore_array, restore_file

    loaded = get_model(task="sr", scale=2) if model == "default" else model
    with pytest.raises(UsageError, match=message):
        restore_array(loaded, np.zeros((8, 8, 3), np.uint8), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=message):
        restore_file(loaded, tmp_path / "a.png", tmp_path / "b.png", **kwargs)  # type: ignore[arg-type]


def test_api_paths_must_be_paths(tmp_path: Path) -> None:
    from bbcu_cli import get_model, restore_file

    with pytest.raises(UsageError, match=r"src=5 is not a file path"):
        restore_file(get_model(task="sr", scale=2), 5, tmp_path / "b.png")  # type: ignore[arg-type]
