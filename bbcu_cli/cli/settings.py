"""The typed option objects a command builds once from its options and passes down.

Each command turns its Typer parameters (declared in :mod:`.options`) into these frozen
objects right away; everything below the command signature reads them, never loose keyword
bags. One name per concept from the option to where it acts: ``--format`` is ``out_format``,
``--max-pixels`` is ``max_output_pixels`` (output pixels, ``W * H * scale**2``), ``--tile`` is
``tile``, ``--threads`` is ``threads``, ``--sigma`` is ``sigma``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine imports torch: only when a command runs
    from ..batch.item import RestoreOptions
    from ..engine.restore import Restorer
    from ..lite import LiteModel
    from ..loading import LoadedModel

__all__ = ["ModelChoice", "EngineSettings", "InputSettings", "OutputSettings", "ReportSettings"]


@dataclass(frozen=True)
class ModelChoice:
    """Which model to load: ``-m``, ``-s``, ``--k``, ``--offline``, ``--route`` (see
    :func:`bbcu_cli.factory.resolve_model`)."""

    model: str | None = None
    scale: int | None = None
    k: float | None = None
    offline: bool = False
    route: bool | None = None
    """None: route when the model has a clean variant; True: the same, warning when it has none."""


@dataclass(frozen=True)
class EngineSettings:
    """How the model runs: ``--backend``, ``--device``, ``--threads``, ``--tile``, ``--ensemble``,
    ``--copies``."""

    backend: str = "auto"
    device: str = "auto"
    threads: int = 0
    """CPU threads; 0: all cores (torch's default)."""
    tile: int = 0
    """Tile side in input pixels; 0: automatic full-width stripes."""
    ensemble: bool = False
    copies: int | None = None
    """Self-ensemble copies (1, 2, 4 or 8); None: the model's own (8 with ``ensemble``)."""

    def __post_init__(self) -> None:
        """Refuse bad ``--copies`` (or one beside ``--ensemble``) before a model is loaded."""
        from ..engine.ensemble import requested_copies

        requested_copies(self.ensemble, self.copies)

    def lite_blocker(self) -> str:
        """Why these settings need the torch runtime; empty when the torch-free one may run."""
        from ..lite.select import lite_blocker

        return lite_blocker(backend=self.backend, device=self.device)

    def restorer(self, loaded: LoadedModel | LiteModel) -> Restorer:
        """The engine for ``loaded`` (a torch or a torch-free model) with these settings."""
        from ..engine.restore import Restorer

        return Restorer(
            loaded,
            backend=self.backend,
            device=self.device,
            threads=self.threads or None,
            tile=self.tile,
            ensemble=self.ensemble,
            copies=self.copies,
        )


@dataclass(frozen=True)
class InputSettings:
    """What is read: the inputs, ``-r``, ``--ref``, ``--shard``, ``-j`` and ``--max-pixels``."""

    inputs: tuple[str, ...] = ()
    recursive: bool = False
    ref: str | None = None
    shard: str | None = None
    jobs: int = 1
    max_output_pixels: int = 0
    """``--max-pixels``: the largest output, in pixels (``W * H * scale**2`` from the input's
    header, scale 1 for denoise and deblock); 0: no limit."""


@dataclass(frozen=True)
class OutputSettings:
    """What is written and where: ``-o``, ``--suffix``, ``--format``, ``--quality``, frames,
    metadata and the rule for existing outputs."""

    output: str | None = None
    suffix: str | None = None
    out_format: str | None = None
    """``--format``: png, jpg, webp, ...; None: from the output name, else the input's."""
    quality: int | None = None
    first_frame: bool = False
    strip_metadata: bool = False
    skip_existing: bool = False
    overwrite: bool = False

    def restore_options(self, sigma: float | None, scale: int, max_output_pixels: int) -> RestoreOptions:
        """Per-item settings for the batch runner. Existing outputs are skipped unless
        ``--overwrite`` (also when another process writes one while the run works)."""
        from ..batch.item import RestoreOptions

        return RestoreOptions(
            sigma=sigma,
            out_format=self.out_format,
            overwrite=self.overwrite,
            skip_existing=not self.overwrite,
            max_output_pixels=max_output_pixels,
            scale=scale,
            quality=self.quality,
            first_frame=self.first_frame,
            strip_metadata=self.strip_metadata,
        )


@dataclass(frozen=True)
class ReportSettings:
    """What is shown: ``--json``, ``-q``, ``-v``."""

    json_out: bool = False
    quiet: bool = False
    verbose: bool = False

    @property
    def shows_progress(self) -> bool:
        """Header, progress and summary go to stderr (neither ``--json`` nor ``--quiet``)."""
        return not self.quiet and not self.json_out
