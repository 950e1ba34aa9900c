"""``bbcu train``: train a BBCU super-resolver, denoiser or deblocker on folders of clean images.

Thin layer over :func:`bbcu_cli.train.train`: options -> :class:`TrainConfig`, a Rich live
display on stderr, Ctrl-C = checkpoint and stop (continue with ``--resume``; twice = abort).
Under ``torchrun --nproc_per_node=N -m bbcu_cli train ...`` it trains data-parallel.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sys
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Iterator, Optional

import typer

from ..errors import UsageError
from . import options as opt
from .report import stderr_console

if TYPE_CHECKING:  # bbcu_cli.train imports torch: only when the command runs
    from rich.progress import Progress

    from ..train import TrainEvent, TrainResult

__all__ = ["train_command", "parse_range"]


_RANGE = re.compile(r"\s*(\d+(?:\.\d*)?)\s*(?:[,:-]\s*(\d+(?:\.\d*)?)\s*)?")


def parse_range(text: Optional[str], what: str, integers: bool = False) -> Optional[tuple[float, float]]:
    """``"0,75"`` / ``"0-75"`` / ``"25"`` -> ``(lo, hi)``: non-negative numbers (whole numbers
    with ``integers``), ``lo <= hi``. Raises :class:`UsageError` (``"-5,10"`` is not a range)."""
    if text is None:
        return None
    match = _RANGE.fullmatch(text)
    values = [float(v) for v in match.groups() if v is not None] if match else []
    if not values or (integers and any(v != int(v) for v in values)) or values[0] > values[-1]:
        example = "10,60" if integers else "0,75"
        raise UsageError(f"bad {what} range {text!r}", f"write MIN,MAX with 0 <= MIN <= MAX, e.g. {example}")
    return (values[0], values[-1])


def _command_line() -> str:
    """The command as typed (``bbcu train ...``), prefixed by torchrun when distributed."""
    args = sys.argv[1:]
    if "train" not in args:
        return ""
    tail = shlex.join(args[args.index("train") :])
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return f"torchrun --nproc_per_node={world} -m bbcu_cli {tail}" if world > 1 else f"bbcu {tail}"


def _device(name: str) -> str:
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


@contextmanager
def _graceful_interrupt() -> Iterator[threading.Event]:
    """First Ctrl-C sets the returned flag (the loop checkpoints and stops); the second aborts."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()
        stderr_console.print("stopping after this step (Ctrl-C again to abort)...", markup=False)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _fmt_time(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-:--:--"
    s = int(max(0, seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class _Display:
    """Rich progress line: step/planned, loss, last val PSNR, it/s, ETA; other events as lines."""

    def __init__(self, progress: Optional[Progress]) -> None:
        self.progress, self.val = progress, "-"
        self.task = progress.add_task("train", total=None, stats="", eta="") if progress else None

    def __call__(self, ev: TrainEvent) -> None:
        if self.progress is None or self.task is None:
            return
        if ev.kind == "val":
            self.val = f"{ev.val_psnr:.2f} dB"
        if ev.kind in ("info", "val"):
            self.progress.console.print(f"step {ev.step}: {ev.message}", markup=False)
        if ev.kind == "step":
            its = f"{ev.its:.2f} it/s" if ev.its else "- it/s"
            stats = f"loss {ev.loss:.4f}  val {self.val}  {its}"
            self.progress.update(
                self.task, completed=ev.step, total=ev.planned, stats=stats, eta=f"ETA {_fmt_time(ev.eta)}"
            )


@contextmanager
def _display(enabled: bool) -> Iterator[_Display]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    if not enabled:
        yield _Display(None)
        return
    cols = (
        BarColumn(bar_width=12),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TextColumn("{task.fields[eta]}"),
    )
    with Progress(*cols, console=stderr_console, transient=True) as progress:
        yield _Display(progress)


def _summary(res: TrainResult) -> str:
    if res.interrupted:
        return f"stopped at step {res.step}; checkpoint {res.run_dir / 'last.pt'} (continue with --resume)"
    scores = "; ".join(f"{k} {v['psnr']:.2f} dB" for k, v in res.metrics.items())
    where = res.export.weights if res.export else res.run_dir
    return f"trained {res.step} steps in {_fmt_time(res.wall_time_s)}; {scores or 'no validation'}; wrote {where}"


def _weights(
    text: str | None, flag: str = "--downscalers", example: str = "matlab:0.2,cv2-cubic:0.3"
) -> dict[str, float] | None:
    """``"matlab:0.2,cv2-cubic:0.3"`` -> ``{"matlab": 0.2, "cv2-cubic": 0.3}``."""
    if text is None:
        return None
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.partition(":")
        try:
            out[name.strip()] = float(weight)
        except ValueError:
            sep = ""
        if not sep:
            raise UsageError(
                f"{flag}: {part!r} is not NAME:{'WEIGHT' if flag == '--downscalers' else 'P'}", f"e.g. {flag} {example}"
            )
    return out


def train_command(
    task: Annotated[str, typer.Option("--task", help=opt.TASK_HELP)] = "sr",
    arch: Annotated[Optional[str], typer.Option("--arch", help=opt.arch_help())] = None,
    scale: Annotated[int, typer.Option("-s", "--scale", help="SR factor: 2, 3 or 4.")] = 4,
    feat: Annotated[int, typer.Option("--feat", min=1, help="Feature channels.")] = 32,
    depth: Annotated[
        Optional[int],
        typer.Option("--depth", min=1, help="Binary blocks (sr, default 8) or layers (dncnn, default 17)."),
    ] = None,
    in_channels: Annotated[int, typer.Option("--in-channels", help="3 (colour) or 1 (gray; denoise/deblock).")] = 3,
    noise_channel: Annotated[
        Optional[bool],
        typer.Option("--noise-channel/--no-noise-channel", help="Sigma-map input (default: on for denoise)."),
    ] = None,
    unshuffle: Annotated[
        int,
        typer.Option(
            "--unshuffle",
            min=1,
            help="DnCNN only: run at 1/r resolution on r*r pixel-unshuffled planes (FFDNet-style; 2 is a good choice).",
        ),
    ] = 1,
    data: Annotated[
        Optional[list[str]],
        typer.Option("--data", help="Folder of clean training images (repeatable; default T91 + BSD200)."),
    ] = None,
    patch: Annotated[
        Optional[int], typer.Option("--patch", min=4, help="Input patch side (LR for sr; default 32 sr, 64 otherwise).")
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Patches per step (per process).")] = 16,
    iters: Annotated[
        Optional[int], typer.Option("--iters", min=1, help="Steps to train (with --time-budget: whichever ends first).")
    ] = None,
    time_budget: Annotated[
        Optional[str], typer.Option("--time-budget", help="Wall-time budget: 90s, 45m, 2h, 1h30m or seconds.")
    ] = None,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (Adam; cosine decay to 1%).")] = 5e-4,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Linear warm-up steps.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (data and initialisation).")] = 0,
    val: Annotated[
        Optional[str],
        typer.Option("--val", help="Validation folder, or 'none' (default Set5 / first 10 of CBSD68 or BSD68)."),
    ] = None,
    val_every: Annotated[
        int, typer.Option("--val-every", min=0, help="Validate every N steps (0: only at the end).")
    ] = 500,
    ckpt_every: Annotated[
        int, typer.Option("--ckpt-every", min=0, help="Write last.pt every N steps (0: only at the end).")
    ] = 500,
    sigma_range: Annotated[
        Optional[str], typer.Option("--sigma-range", help="Training noise levels MIN,MAX (denoise; default 0,75).")
    ] = None,
    quality_range: Annotated[
        Optional[str], typer.Option("--quality-range", help="Training JPEG qualities MIN,MAX (deblock; default 10,60).")
    ] = None,
    gray_fraction: Annotated[
        float,
        typer.Option("--gray-fraction", help="Share of gray patches (R = G = B, gray JPEG) for a colour deblocker."),
    ] = 0.0,
    degradation: Annotated[
        str,
        typer.Option(
            "--degradation",
            help="SR inputs: classic (MATLAB bicubic, the benchmark) or mixed (random downscaler, blur, noise, JPEG per patch; see bbcu_cli/degradations.py).",
        ),
    ] = "classic",
    downscalers: Annotated[
        Optional[str],
        typer.Option(
            "--downscalers",
            help="With --degradation mixed: downscaler weights NAME:W,... (default matlab:0.3,cv2-cubic:0.15,cv2-linear:0.1,cv2-area:0.15,cv2-lanczos:0.1,pil:0.2).",
        ),
    ] = None,
    mix_extras: Annotated[
        Optional[str],
        typer.Option(
            "--mix-extras",
            help="With --degradation mixed: probabilities of the optional steps blur:P,noise:P,jpeg:P (default blur:0.25,noise:0.25,jpeg:0.3; unnamed ones keep theirs).",
        ),
    ] = None,
    run_dir: Annotated[Optional[str], typer.Option("--run-dir", help="Run folder (default runs/NAME).")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Model name (default e.g. bbcu-m-x4-f32-b8).")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --run-dir from its last.pt (same schedule).")
    ] = False,
    init_from: Annotated[
        Optional[str],
        typer.Option("--init-from", help="Initialise from a checkpoint (tensors of matching name and shape)."),
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", min=0, max=opt.MAX_THREADS, help="CPU threads per process (0: torch default).")
    ] = 0,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:N or auto.")] = "cpu",
    amp: Annotated[
        Optional[bool],
        typer.Option(
            "--amp/--no-amp",
            help="Mixed precision: bf16 autocast (fp16 on GPUs without bf16). Default: on for CUDA and CPUs with native bf16, else off.",
        ),
    ] = None,
    channels_last: Annotated[
        bool, typer.Option("--channels-last/--no-channels-last", help="channels_last memory format.")
    ] = False,
    notes: Annotated[str, typer.Option("--notes", help="Free text stored in the provenance.")] = "",
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No live display.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the manifest entry (or run state) as JSON on stdout.")
    ] = False,
) -> None:
    """Train a binarized BBCU model; writes checkpoints, logs and the exported weights to the run folder."""
    from ..train import TrainConfig, parse_duration, train

    sig, qual = parse_range(sigma_range, "sigma"), parse_range(quality_range, "quality", integers=True)
    cfg = TrainConfig(
        task=task,
        arch=arch,
        scale=scale,
        num_feat=feat,
        depth=depth,
        in_channels=in_channels,
        noise_channel=noise_channel,
        unshuffle=unshuffle,
        patch=patch,
        batch=batch,
        iters=iters,
        time_budget=parse_duration(time_budget),
        lr=lr,
        warmup=warmup,
        seed=seed,
        data=list(data or []),
        val=val,
        val_every=val_every,
        ckpt_every=ckpt_every,
        run_dir=run_dir,
        name=name,
        init_from=init_from,
        threads=threads or None,
        device=_device(device),
        amp=amp,
        channels_last=channels_last,
        command=_command_line(),
        notes=notes,
        gray_fraction=gray_fraction,
        degradation=degradation,
        downscalers=_weights(downscalers),
        mix_extras=_weights(mix_extras, "--mix-extras", "blur:0,noise:0.1,jpeg:0.1"),
    )
    if sig:
        cfg.sigma_range = sig
    if qual:
        cfg.quality_range = (int(qual[0]), int(qual[1]))
    main = int(os.environ.get("RANK", "0")) == 0
    with _graceful_interrupt() as flag, _display(main and not quiet) as show:
        res = train(cfg, show, resume=resume, should_stop=lambda step: flag.is_set())
    if main:
        _report(res, json_out)


def _report(res: TrainResult, json_out: bool) -> None:
    stderr_console.print(_summary(res), markup=False, soft_wrap=True)
    if json_out:
        payload = (
            res.export.entry
            if res.export
            else {"run_dir": str(res.run_dir), "step": res.step, "interrupted": res.interrupted}
        )
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
