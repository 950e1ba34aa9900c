"""Shared options are declared once (``cli/options.py``) and engine entry points are keyword-only."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, get_args

import pytest
import typer
from typer.core import TyperGroup, TyperOption

from bbcu_cli import api
from bbcu_cli.batch import item, run
from bbcu_cli.cli import options as opt
from bbcu_cli.cli import settings
from bbcu_cli.cli.app import app
from bbcu_cli.cli.eval_cmd import model_restore
from bbcu_cli.engine import backends, restore

RESTORE_COMMANDS = ("upscale", "denoise", "deblock")

#: parameter name -> its alias in options.py; every restore command has each of these
SHARED = {
    "inputs": opt.Inputs,
    "output": opt.Output,
    "model": opt.Model,
    "ref": opt.Ref,
    "tile": opt.Tile,
    "device": opt.Device,
    "threads": opt.Threads,
    "backend": opt.Backend,
    "out_format": opt.OutFormat,
    "quality": opt.Quality,
    "first_frame": opt.FirstFrame,
    "strip_metadata": opt.StripMetadata,
    "skip_existing": opt.SkipExisting,
    "overwrite": opt.Overwrite,
    "recursive": opt.Recursive,
    "json_out": opt.JsonOut,
    "quiet": opt.Quiet,
    "verbose": opt.Verbose,
    "offline": opt.Offline,
    "k": opt.K,
    "max_output_pixels": opt.MaxOutputPixels,
    "shard": opt.Shard,
    "jobs": opt.Jobs,
}


def _params(name: str) -> dict[str, Any]:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    command = group.commands[name]
    return {p.name: p for p in command.params if p.name is not None}


def _declared(alias: Any) -> Any:
    """The ``typer.Option`` / ``typer.Argument`` info of an options.py alias."""
    return get_args(alias)[1]


def _flags(info: Any) -> set[str]:
    """The flags an options.py alias declares (Typer keeps the first one where a default goes)."""
    first = {info.default} if isinstance(info.default, str) and info.default.startswith("-") else set()
    return set(info.param_decls) | first


@pytest.mark.parametrize("command", RESTORE_COMMANDS)
def test_restore_commands_use_the_shared_options(command: str) -> None:
    params = _params(command)
    missing = set(SHARED) - set(params)
    assert not missing, f"{command} lacks {sorted(missing)}"
    for name, alias in SHARED.items():
        info, param = _declared(alias), params[name]
        assert getattr(param, "help", None) == info.help, f"{command} {name}: help differs from options.py"
        if isinstance(param, TyperOption):
            assert set(param.opts) | set(param.secondary_opts) == _flags(info), f"{command} {name}: flags differ"


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_defaults_agree(name: str) -> None:
    defaults = {command: _params(command)[name].default for command in RESTORE_COMMANDS}
    assert len(set(map(repr, defaults.values()))) == 1, f"{name}: {defaults}"


def test_defaults_match_the_option_objects() -> None:
    params = _params("upscale")
    assert params["max_output_pixels"].default == opt.DEFAULT_MAX_OUTPUT_PIXELS
    engine = settings.EngineSettings()
    for name in ("backend", "device", "threads", "tile"):
        assert params[name].default == getattr(engine, name)
    output = settings.OutputSettings()
    for name in ("output", "out_format", "quality", "first_frame", "strip_metadata", "overwrite"):
        assert params[name].default == getattr(output, name)


def test_one_name_per_concept() -> None:
    """``--format`` is ``out_format`` and ``--max-pixels`` is ``max_output_pixels`` below the signature."""
    for command in RESTORE_COMMANDS:
        params = _params(command)
        assert params["out_format"].opts == ["--format"]
        assert params["max_output_pixels"].opts == ["--max-pixels"]
    fields = {f.name for f in dataclasses.fields(item.RestoreOptions)}
    assert {"out_format", "max_output_pixels"} <= fields and not {"fmt", "max_pixels"} & fields


@pytest.mark.parametrize(
    "cls",
    [
        settings.ModelChoice,
        settings.EngineSettings,
        settings.InputSettings,
        settings.OutputSettings,
        settings.ReportSettings,
        item.RestoreOptions,
    ],
)
def test_option_objects_are_frozen(cls: type) -> None:
    obj = cls()
    field = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, field, getattr(obj, field))


#: entry point -> how many positional parameters it takes (``self`` counted)
KEYWORD_ONLY: list[tuple[Callable[..., Any], int]] = [
    (restore.Restorer.__init__, 4),  # (loaded, backend, device) stay positional: the public API before #15
    (restore.Restorer.restore, 2),
    (backends.select_backend, 2),
    (item.restore_image, 2),
    (item.restore_frames, 2),
    (item.load_item, 2),
    (item.compute_item, 2),
    (item.save_item, 2),
    (item.process_file, 3),
    (run.run_batch, 2),
    (api.get_model, 1),
    (api.restore_array, 2),
    (api.restore_file, 3),
    (model_restore, 1),
]


@pytest.mark.parametrize(("func", "positional"), KEYWORD_ONLY, ids=lambda v: getattr(v, "__qualname__", str(v)))
def test_engine_entry_points_are_keyword_only(func: Callable[..., Any], positional: int) -> None:
    sig = inspect.signature(func)
    kinds = [p.kind for p in sig.parameters.values()]
    assert kinds.count(inspect.Parameter.POSITIONAL_OR_KEYWORD) == positional
    sig.bind(*range(positional), **{p.name: None for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY})
    with pytest.raises(TypeError, match="too many positional arguments"):
        sig.bind(*range(positional + 1))
