"""Training configuration: one dataclass, task-dependent defaults, validation, durations.

:class:`TrainConfig` holds user choices (``None`` = "use the task default");
:meth:`TrainConfig.resolved` returns a copy with every default filled in and checks it.
The config travels inside checkpoints as a plain dict (:meth:`to_dict` / :meth:`from_dict`).

Paths: see :mod:`.paths` (exported files get :meth:`TrainConfig.portable_dict`).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import archs
from ..errors import UsageError, option

if TYPE_CHECKING:
    from ..degradations import MixedDegradation
from ..archs.spec import Arch, Task
from ..loading import ModelSpec
from ..models.sr import default_k
from .paths import (  # noqa: F401 - re-exported (the config API before the split)
    ABS_MARKER,
    DATASETS_REF,
    REPO_ROOT,
    absolute_paths_in,
    datasets_root,
    default_data_dirs,
    is_absolute_path,
    locate_data,
    portable_path,
    portable_text,
)
from .schedule import cosine_position

__all__ = [
    "TrainConfig",
    "lr_at",
    "parse_duration",
    "fast_low_precision",
    "default_data_dirs",
    "datasets_root",
    "JPEG_QUALITIES",
    "ABS_MARKER",
    "DATASETS_REF",
    "portable_path",
    "portable_text",
    "absolute_paths_in",
    "locate_data",
]

JPEG_QUALITIES = (10, 15, 20, 30, 40, 50, 60, 70, 80, 90)
#: fields that describe this process, not the run: a resumed run takes them from the command line
RUNTIME_FIELDS = ("threads", "device", "run_dir")
#: config fields that hold one path each (made portable as a whole, spaces and all)
PATH_FIELDS = ("val", "run_dir", "init_from")


def _default_val(task: str, in_channels: int) -> str:
    bench = datasets_root() / "bench"
    if task == "sr":
        return str(bench / "Set5")
    return str(bench / ("BSD68" if in_channels == 1 else "CBSD68"))


def fast_low_precision(device: str) -> bool:
    """Whether mixed precision is expected to speed training up on ``device``.

    CUDA: yes. CPU: only with native bf16 instructions (AVX512-BF16 or AMX). Without them
    (e.g. AVX2-only Zen 3) bf16 autocast ran ~30x slower than fp32 in our measurements.
    """
    if device.startswith("cuda"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def parse_duration(text: str | float | int | None) -> float | None:
    """``"45m"``, ``"2h"``, ``"1h30m"``, ``"90s"``, ``"3600"`` -> seconds (``None`` stays ``None``).

    Raises:
        UsageError: not a duration.
    """
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    s = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", s)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([hms])", "", s).strip():
        raise UsageError(f"not a duration: {text!r}", "use e.g. 90s, 45m, 2h, 1h30m or a number of seconds")
    unit = {"h": 3600.0, "m": 60.0, "s": 1.0}
    return sum(float(n) * unit[u] for n, u in parts)


EXTRAS = ("blur", "noise", "jpeg")
"""The optional steps of the mixed degradation that ``mix_extras`` gives probabilities."""


@dataclass
class TrainConfig:
    """Everything a training run needs. ``None`` means the task default (see :meth:`resolved`)."""

    task: Task = "sr"
    arch: Arch | None = None
    scale: int = 4
    num_feat: int = 32
    depth: int | None = None
    in_channels: int = 3
    noise_channel: bool | None = None
    unshuffle: int = 1
    bias: bool = False
    sigma_range: tuple[float, float] = (0.0, 75.0)
    quality_range: tuple[int, int] = (10, 60)
    gray_fraction: float = 0.0
    degradation: str = "classic"
    downscalers: dict[str, float] | None = None  # mixed: weights of the downscalers (None: defaults)
    mix_extras: dict[str, float] | None = None  # mixed: blur / noise / jpeg probabilities (None: defaults)
    patch: int | None = None
    batch: int = 16
    iters: int | None = None
    time_budget: float | None = None
    lr: float = 5e-4
    lr_min_ratio: float = 0.01
    warmup: int = 0
    seed: int = 0
    data: list[str] = field(default_factory=list)
    val: str | None = None
    val_limit: int | None = None
    val_sigma: float = 25.0
    val_quality: int = 10
    val_every: int = 500
    ckpt_every: int = 500
    log_every: int = 10
    run_dir: str | None = None
    name: str | None = None
    init_from: str | None = None
    threads: int | None = None
    device: str = "cpu"
    amp: bool | None = None
    channels_last: bool = False
    cache_data: bool = True
    command: str = ""
    notes: str = ""

    # ------------------------------------------------------------ defaults

    def resolved(self) -> "TrainConfig":
        """A copy with every task default filled in. Raises :class:`UsageError` if inconsistent."""
        self._check_task()
        dncnn = self.task != "sr"
        c = replace(
            self,
            arch=self.arch or archs.default_arch(self.task),
            scale=1 if dncnn else self.scale,
            depth=self.depth or (17 if dncnn else 8),
            noise_channel=(self.task == "denoise") if self.noise_channel is None else self.noise_channel,
            patch=self.patch or (64 if dncnn else 32),
            amp=fast_low_precision(self.device) if self.amp is None else self.amp,
            data=[locate_data(d) for d in self.data] or default_data_dirs(),
            sigma_range=(float(self.sigma_range[0]), float(self.sigma_range[1])),
            quality_range=(int(self.quality_range[0]), int(self.quality_range[1])),
        )
        c = replace(c, val=locate_data(c.val) if c.val is not None else _default_val(c.task, c.in_channels))
        c = replace(c, val_limit=c.val_limit if c.val_limit is not None or c.task == "sr" else 10)
        c = replace(c, name=c.name or c.default_name())
        c = replace(c, run_dir=c.run_dir or str(Path("runs") / c.name))
        c._check()
        return c

    def default_name(self) -> str:
        """E.g. ``bbcu-m-x4-f32-b8``, ``dncnn-denoise-f32-l17``."""
        if self.task == "sr":
            return f"{self.arch}-x{self.scale}-f{self.num_feat}-b{self.depth}"
        return f"{self.arch}-{self.task}-f{self.num_feat}-l{self.depth}"

    def _check_task(self) -> None:
        doing = archs.archs_for_task(self.task)
        if not doing:
            raise UsageError(f"unknown task {self.task!r}", "use sr, denoise or deblock")
        if self.arch is not None and self.arch not in doing:
            raise UsageError(f"arch {self.arch!r} does not do {self.task}", f"use {' or '.join(doing)}")

    def _check(self) -> None:
        if self.task == "sr" and self.scale not in (2, 3, 4):
            raise UsageError(f"scale must be 2, 3 or 4, got {self.scale}")
        if self.in_channels not in (1, 3):
            raise UsageError(f"in_channels must be 1 or 3, got {self.in_channels}")
        if self.task == "sr" and self.in_channels != 3:
            raise UsageError("SR models are trained on colour images", f"drop {option('in_channels')}")
        if self.gray_fraction and (self.task != "deblock" or self.in_channels != 3 or not 0 < self.gray_fraction <= 1):
            raise UsageError(
                f"gray fraction {self.gray_fraction} needs a colour deblocker and a value in (0, 1]",
                f"use it with {option('task', 'deblock')}, e.g. {option('gray_fraction', 0.5)}",
            )
        if self.degradation not in ("classic", "mixed") or self.degradation == "mixed" and self.task != "sr":
            raise UsageError(
                f"degradation {self.degradation!r} is not available for {self.task}",
                f"use {option('degradation', 'classic')}, or mixed with {option('task', 'sr')}",
            )
        if self.downscalers is not None or self.mix_extras is not None:
            self._check_downscalers()
        if self.noise_channel and self.task != "denoise":
            raise UsageError("a noise-level channel only makes sense for denoising")
        if min(self.batch, self.patch or 1, self.num_feat, self.depth or 1) < 1:
            raise UsageError("batch, patch, feat and depth must be positive")
        fam = archs.family(str(self.arch))
        if self.unshuffle < 1 or self.unshuffle > 1 and (not fam.unshuffle or (self.patch or 0) % self.unshuffle):
            raise UsageError(
                f"unshuffle {self.unshuffle} needs a DnCNN and a patch size it divides",
                f"use {option('unshuffle', 2)} with {option('task')} denoise/deblock and an even {option('patch')}",
            )
        if self.task == "deblock" and self.unshuffle > 1 and (self.patch or 0) % 8:
            raise UsageError(
                f"an unshuffled deblocker trains on crops aligned to the 8x8 JPEG grid: patch {self.patch} is not a multiple of 8",
                f"use e.g. {option('patch', 64)}",
            )
        if (self.depth or 0) < fam.min_depth:
            raise UsageError(f"a {fam.title} needs at least {fam.min_depth} {fam.depth_unit}, got {self.depth}")
        self._check_ranges()
        if self.iters is None and self.time_budget is None:
            raise UsageError("no stopping rule", f"give {option('iters')}, {option('time_budget')} or both")
        if self.iters is not None and self.iters < 1 or self.time_budget is not None and self.time_budget <= 0:
            raise UsageError("iters and time budget must be positive")
        if not (math.isfinite(self.lr) and self.lr > 0) or not 0 <= self.lr_min_ratio <= 1:
            raise UsageError(f"lr {self.lr} must be a finite number > 0 and lr_min_ratio in [0, 1]", "e.g. --lr 5e-4")
        self._check_exportable()

    def check_val_folder(self) -> None:
        """Before a run starts (not on every resolve: an exported config names ``<abs>/...``
        folders of another machine): a validation folder that is not there would fail only after
        training. Raises :class:`UsageError`."""
        if self.val and self.val.lower() != "none" and not Path(self.val).is_dir():
            raise UsageError(f"--val {self.val}: no such folder", "pass a folder of images, or --val none")

    def _check_exportable(self) -> None:
        """What would only fail after training: sizes the loader refuses (:data:`SPEC_BOUNDS`) and a
        model name the manifest refuses."""
        from ..checkpoint_checks import SPEC_BOUNDS

        if self.name is not None and not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,79}", self.name):
            raise UsageError(f"--name {self.name!r} is not a model name", "use a-z, 0-9, '.', '_' and '-' (up to 80)")

        for key, value in (("num_feat", self.num_feat), ("depth", self.depth), ("unshuffle", self.unshuffle)):
            low, high = SPEC_BOUNDS[key]
            if value is not None and not low <= value <= high:
                flag = {"num_feat": "feat"}.get(key, key)
                raise UsageError(f"--{flag} {value} is outside {low}..{high}", "the exported model would not load")

    def _check_downscalers(self) -> None:
        if self.degradation != "mixed":
            flag = option("downscalers") if self.downscalers is not None else option("mix_extras")
            raise UsageError(
                f"{flag} only applies with {option('degradation', 'mixed')}", f"add {option('degradation', 'mixed')}"
            )
        unknown = set(self.mix_extras or {}) - set(EXTRAS)
        if unknown:
            raise UsageError(
                f"{option('mix_extras')}: unknown step {', '.join(sorted(unknown))}",
                f"name blur, noise or jpeg, e.g. {option('mix_extras', 'blur:0,noise:0.1,jpeg:0.1')}",
            )
        try:
            self.mixed_degradation()
        except ValueError as exc:
            raise UsageError(
                str(exc), f"e.g. {option('downscalers', 'matlab:0.2,cv2-cubic:0.3,cv2-linear:0.2,pil:0.3')}"
            ) from None

    def mixed_degradation(self) -> "MixedDegradation":
        """The :class:`MixedDegradation` of a ``mixed`` run (defaults unless ``downscalers`` /
        ``mix_extras``). Raises ValueError for weights or probabilities it refuses."""
        from ..degradations import MixedDegradation

        probs = {f"{step}_p": p for step, p in (self.mix_extras or {}).items()}
        if self.downscalers:
            return MixedDegradation(weights=dict(self.downscalers), **probs)
        return MixedDegradation(**probs)

    def _check_ranges(self) -> None:
        lo, hi = self.sigma_range
        if not 0 <= lo <= hi <= 255:
            raise UsageError(f"bad sigma range {lo}..{hi}", "use 0 <= min <= max <= 255, e.g. 0,75")
        qlo, qhi = self.quality_range
        if not 1 <= qlo <= qhi <= 100:
            raise UsageError(f"bad quality range {qlo}..{qhi}", "use 1 <= min <= max <= 100, e.g. 10,60")

    # ------------------------------------------------------------ derived

    def model_spec(self) -> ModelSpec:
        """The :class:`ModelSpec` of the network this config trains (call on a resolved config)."""
        return ModelSpec(
            arch=self.arch,  # type: ignore[arg-type]
            task=self.task,  # type: ignore[arg-type]
            scale=self.scale,
            in_channels=self.in_channels,
            num_feat=self.num_feat,
            depth=int(self.depth or 0),
            k=default_k(self.num_feat),
            bias=self.bias,
            noise_channel=bool(self.noise_channel),
            unshuffle=self.unshuffle,
        )

    def jpeg_qualities(self) -> list[int]:
        """Pre-generated JPEG qualities: the standard list inside the range, plus its ends."""
        lo, hi = self.quality_range
        return sorted({q for q in JPEG_QUALITIES if lo <= q <= hi} | {lo, hi})

    # ------------------------------------------------------------ (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        """The exact config (absolute paths kept): what the run's ``last.pt`` stores to resume."""
        d = asdict(self)
        d["sigma_range"], d["quality_range"] = list(self.sigma_range), list(self.quality_range)
        return d

    def portable_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` for exported files: paths made portable (:func:`portable_path`),
        absolute paths inside ``command`` and ``notes`` too (:func:`portable_text`).

        ``from_dict`` of it still runs where the shared datasets are (see :func:`locate_data`).
        """
        d = self.to_dict()
        d["data"] = [portable_path(p) for p in self.data]
        for key in PATH_FIELDS:
            if d[key] is not None:
                d[key] = portable_path(d[key])
        d["command"], d["notes"] = portable_text(self.command), portable_text(self.notes)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in data.items() if k in known}
        for key in ("sigma_range", "quality_range"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    def merged_for_resume(self, saved: dict[str, Any]) -> "TrainConfig":
        """The saved run's config with this process's runtime fields (threads, device, ...).

        Everything that shapes the run (model, data, schedule, stopping rule, provenance
        command) comes from ``saved``, so a resumed run continues the same schedule.
        """
        base = TrainConfig.from_dict(saved)
        mine = {k: getattr(self, k) for k in RUNTIME_FIELDS if getattr(self, k) is not None}
        return replace(base, **mine)


def lr_at(step: int, planned: int | None, cfg: TrainConfig, anchor: tuple[int, float] | None = None) -> float:
    """LR of the step after ``step`` completed ones: linear warm-up, then cosine to the floor.

    ``anchor``: where a re-estimated plan joined the cosine (see :mod:`.schedule`).
    """
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if not planned:
        return cfg.lr
    t = cosine_position(step, planned, cfg.warmup, anchor)
    floor = cfg.lr * cfg.lr_min_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
