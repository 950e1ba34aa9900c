"""Run state of a training session (the base of the loop's ``_Trainer``): the network,
optimiser, sampler and step plan built from a :class:`TrainConfig`; warm start and resume,
checkpoints, the ``log.jsonl`` log, periodic validation and the export at the end.

Also the progress/outcome types :class:`TrainEvent`, :data:`Progress` and :class:`TrainResult`.
The step loop itself is in :mod:`.loop`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import ModelFormatError, option
from ..loading import build_model
from .checkpoint import Export, describe_data, export_run, init_from, save_checkpoint, state_dict_of
from .config import TrainConfig
from .data import PatchSampler
from .distributed import DistContext
from .schedule import StepPlan
from .validation import metrics_entry, validate_model

__all__ = ["TrainEvent", "TrainResult", "Progress"]


@dataclass
class TrainEvent:
    """Progress report. ``kind``: info, step, val, ckpt, plan or done."""

    kind: str
    step: int
    planned: int | None = None
    loss: float | None = None
    lr: float | None = None
    its: float | None = None
    val_psnr: float | None = None
    elapsed: float = 0.0
    eta: float | None = None
    message: str = ""


Progress = Callable[[TrainEvent], None]


@dataclass
class TrainResult:
    """Outcome of :func:`train`. ``losses``: this session's per-step losses (this rank's)."""

    run_dir: Path
    step: int
    planned: int | None
    wall_time_s: float
    losses: list[float] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    export: Export | None = None
    model: torch.nn.Module | None = None  # the trained network (unwrapped, eval mode)


class _RunState:
    """Everything a training session holds between steps, and its non-step duties."""

    def __init__(self, cfg: TrainConfig, ctx: DistContext, progress: Progress | None) -> None:
        self.cfg, self.ctx, self.emit = cfg, ctx, progress or (lambda e: None)
        self.run_dir, self.spec, dev = Path(str(cfg.run_dir)), cfg.model_spec(), ctx.device
        torch.manual_seed(cfg.seed)
        self.net = build_model(self.spec).to(dev)
        self.mf = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.net = self.net.to(memory_format=self.mf)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.amp_dtype = torch.bfloat16 if dev.type == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=bool(cfg.amp) and self.amp_dtype == torch.float16)
        self.gen = torch.Generator().manual_seed(cfg.seed + 1_000_003 * ctx.rank)
        self.sampler = PatchSampler(cfg, self.gen, self.run_dir if cfg.cache_data else None)
        self.step, self.elapsed0, self.val_time, self.metrics = 0, 0.0, 0.0, {}
        self.plan = StepPlan(cfg.iters, calibrated=cfg.time_budget is None)
        self.best: dict[str, Any] = {"psnr": None, "step": None}
        self.losses: list[float] = []
        self.t0, self._window = time.monotonic(), [0, 0.0, 0.0]
        self.last_val_step = -1

    # ---------------------------------------------------------------- state

    def info(self, message: str) -> None:
        if self.ctx.is_main:
            self.emit(TrainEvent("info", self.step, self.planned, elapsed=self.elapsed(), message=message))

    @property
    def planned(self) -> int | None:
        return self.plan.planned

    def elapsed(self) -> float:
        return self.elapsed0 + time.monotonic() - self.t0

    def warm_start(self, path: str) -> None:
        loaded, skipped = init_from(self.net, path)
        if not loaded:  # a checkpoint of another model: training from scratch is not what was asked
            raise ModelFormatError(
                f"{path}: no tensor matches this model's names and shapes",
                f"pass a checkpoint of the same architecture (or a grown one), or drop {option('init_from')}",
            )
        self.info(f"initialised {len(loaded)} tensors from {path}; {len(skipped)} kept fresh")

    def resume(self, ckpt: dict[str, Any]) -> None:
        self.net.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        sched = ckpt["scheduler"]
        self.plan = StepPlan.from_state(sched)
        self.step, self.elapsed0, self.val_time = ckpt["step"], ckpt["elapsed"], sched.get("val_time", 0.0)
        self.best, self.metrics, self.last_val_step = ckpt["best"], ckpt["metrics"], ckpt.get("last_val_step", -1)
        states = ckpt["rng"]["data"]
        if len(states) == self.ctx.world:
            self.gen.set_state(states[self.ctx.rank])
        else:
            self.gen.manual_seed(self.cfg.seed + 1_000_003 * self.ctx.rank + self.step)
        torch.set_rng_state(ckpt["rng"]["torch"])
        if "scaler" in ckpt:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.info(f"resumed at step {self.step} of {self.planned or '?'}")

    def save(self, done: bool = False) -> None:
        states = self.ctx.gather_states(self.gen.get_state())
        if not self.ctx.is_main:
            return
        sched = {**self.plan.state(), "val_time": self.val_time}
        payload = {
            "model": state_dict_of(self.net),
            "optimizer": self.opt.state_dict(),
            "scheduler": sched,
            "step": self.step,
            "elapsed": self.elapsed(),
            "config": self.cfg.to_dict(),
            "rng": {"data": states, "torch": torch.get_rng_state()},
            "best": self.best,
            "metrics": self.metrics,
            "last_val_step": self.last_val_step,
            "done": done,
        }
        if self.scaler.is_enabled():
            payload["scaler"] = self.scaler.state_dict()
        save_checkpoint(self.run_dir / "last.pt", payload)
        self.emit(
            TrainEvent("ckpt", self.step, self.planned, elapsed=self.elapsed(), message=str(self.run_dir / "last.pt"))
        )

    def log(self, record: dict[str, Any]) -> None:
        if self.ctx.is_main:
            with (self.run_dir / "log.jsonl").open("a") as fh:
                fh.write(json.dumps(record) + "\n")

    # ---------------------------------------------------------------- validation

    @property
    def val_enabled(self) -> bool:
        return bool(self.cfg.val) and str(self.cfg.val).lower() != "none"

    def validate(self) -> None:
        if self.ctx.is_main and self.val_enabled:
            self._validate_main()
        self.last_val_step = self.step  # on every rank: they must agree on the final validation
        self.ctx.barrier()

    def _validate_main(self) -> None:
        t = time.monotonic()
        res = validate_model(self.net, self.cfg, self.ctx.device)
        self.val_time = time.monotonic() - t
        self.metrics = metrics_entry(res, self.step)
        if self.best["psnr"] is None or res.psnr > self.best["psnr"]:
            self.best = {"psnr": res.psnr, "step": self.step}
        self.log(
            {
                "step": self.step,
                "val_psnr": res.psnr,
                "val_ssim": res.ssim,
                "val_set": res.dataset,
                "val_s": round(self.val_time, 2),
            }
        )
        self.emit(
            TrainEvent(
                "val",
                self.step,
                self.planned,
                val_psnr=res.psnr,
                elapsed=self.elapsed(),
                message=f"{res.dataset} {res.psnr:.2f} dB",
            )
        )

    # ---------------------------------------------------------------- export

    def export(self) -> Export:
        cfg = self.cfg
        hw = f"{self.ctx.world} x {self.ctx.device.type}, {torch.get_num_threads()} threads, amp {'on' if cfg.amp else 'off'}"
        extra = [cfg.notes, f"trained on {hw}", f"initialised from {cfg.init_from}" if cfg.init_from else ""]
        prov = {
            "data": describe_data(cfg, self.sampler.num_images),
            "iterations": self.step,
            "wall_time_s": max(round(self.elapsed(), 1), 0.1),
            "command": cfg.command,
            "notes": "; ".join(e for e in extra if e),
        }
        return export_run(self.run_dir, self.net, cfg, prov, self.metrics)
