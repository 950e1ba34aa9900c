"""The training loop behind ``bbcu train``: Adam + L1 on random patches, cosine LR, periodic
validation with the benchmark protocol, resumable checkpoints, export at the end.

Stopping rule: ``iters`` and/or ``time_budget`` (wall seconds), whichever comes first. The LR
follows a cosine from ``lr`` to ``lr * lr_min_ratio`` over the *planned* steps: ``iters``, or,
with a time budget, an estimate made after the first ~20 steps (measured speed, including
the cost of validation), re-estimated as the speed changes (:mod:`.schedule`) and kept by
``--resume``.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..errors import UsageError, option
from ..loading import build_model
from .checkpoint import (
    Export,
    describe_data,
    export_run,
    init_from,
    load_checkpoint,
    make_run_dir,
    resume_dir,
    save_checkpoint,
    state_dict_of,
)
from .config import TrainConfig, lr_at
from .data import Batch, PatchSampler
from .distributed import DistContext, setup, teardown
from .schedule import StepPlan
from .validation import metrics_entry, validate_model

__all__ = ["TrainEvent", "TrainResult", "Progress", "train", "lr_at"]

_DONE, _BUDGET, _STOPPED = 1, 2, 3


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


class _Trainer:
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

    # ---------------------------------------------------------------- steps

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if not self.cfg.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.ctx.device.type, dtype=self.amp_dtype)

    def forward(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return model(batch.inp) if batch.sigma is None else model(batch.inp, batch.sigma)

    def train_step(self, model: torch.nn.Module) -> float:
        lr = lr_at(self.step, self.planned, self.cfg, self.plan.anchor)
        for group in self.opt.param_groups:
            group["lr"] = lr
        batch = self.sampler.next_batch().to(self.ctx.device, self.mf)
        with self._autocast():
            out = self.forward(model, batch)
        loss = F.l1_loss(out.float(), batch.target)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        return float(loss.detach())

    def stop_reason(self, should_stop: Callable[[int], bool] | None) -> int:
        reason = 0
        if self.planned is not None and self.step >= self.planned:
            reason = _DONE
        elif self.cfg.time_budget is not None and self.elapsed() >= self.cfg.time_budget:
            reason = _BUDGET
        elif should_stop is not None and should_stop(self.step):
            reason = _STOPPED
        return self.ctx.broadcast_int(reason)

    def replan(self, session_steps: int, seconds: float) -> None:
        """Feed the step time to the plan; fix a new step count when a timing window ends."""
        per_step = self.plan.measure(session_steps, seconds, self.step, self.cfg.warmup)
        if per_step is None:
            return
        if self.cfg.val_every > 0 and self.val_enabled:
            per_step += self.val_time / self.cfg.val_every
        left = float(self.cfg.time_budget or 0) - self.elapsed() - self.val_time
        planned = self.step + max(1, int(left / per_step))
        planned = self.ctx.broadcast_int(min(planned, self.cfg.iters) if self.cfg.iters else planned)
        first, before = not self.plan.calibrated, self.planned
        self.plan.fix(self.step, planned, self.cfg.warmup)
        self.log({"step": self.step, "planned": planned, "s_per_step": round(per_step, 4)})
        if first or abs(planned - (before or 0)) > 0.05 * planned:
            self.info(f"{per_step:.3f} s/step: schedule {'fixed' if first else 're-planned'} at {planned} steps")

    def after_step(self, loss: float, dt: float) -> None:
        self.losses.append(loss)
        w = self._window
        w[0], w[1], w[2] = w[0] + 1, w[1] + dt, w[2] + loss
        its = w[0] / w[1] if w[1] > 0 else None
        eta = (self.planned - self.step) / its if its and self.planned else None
        if self.cfg.time_budget is not None:
            left = self.cfg.time_budget - self.elapsed()
            eta = left if eta is None else min(eta, left)
        lr = lr_at(self.step - 1, self.planned, self.cfg, self.plan.anchor)
        if self.ctx.is_main:
            self.emit(TrainEvent("step", self.step, self.planned, loss, lr, its, elapsed=self.elapsed(), eta=eta))
        if self.step % max(1, self.cfg.log_every) == 0:
            self.log(
                {"step": self.step, "loss": w[2] / w[0], "lr": lr, "it_s": its, "elapsed": round(self.elapsed(), 2)}
            )
            self._window = [0, 0.0, 0.0]

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

    # ---------------------------------------------------------------- run

    def run(self, should_stop: Callable[[int], bool] | None) -> TrainResult:
        self.net.train()
        model = self.ctx.wrap(self.net)
        if self.step == 0 and not self.plan.calibrated and self.val_enabled:
            self.validate()  # baseline score, and the validation cost for the time plan
        session, reason = 0, 0
        while not (reason := self.stop_reason(should_stop)):
            t = time.monotonic()
            loss = self.train_step(model)
            self.step, session, dt = self.step + 1, session + 1, time.monotonic() - t
            self.after_step(loss, dt)
            if self.cfg.time_budget is not None:
                self.replan(session, dt)
            if self.cfg.val_every > 0 and self.step % self.cfg.val_every == 0:
                self.validate()
            if self.cfg.ckpt_every > 0 and self.step % self.cfg.ckpt_every == 0:
                self.save()
        return self.finish(reason == _STOPPED)

    def finish(self, interrupted: bool) -> TrainResult:
        if not interrupted and self.last_val_step != self.step:
            self.validate()
        self.save(done=not interrupted)
        export = self.export() if self.ctx.is_main and not interrupted else None
        self.ctx.barrier()
        if export is not None:
            self.emit(TrainEvent("done", self.step, self.planned, elapsed=self.elapsed(), message=str(export.weights)))
        return TrainResult(
            self.run_dir,
            self.step,
            self.planned,
            self.elapsed(),
            self.losses,
            self.metrics,
            interrupted,
            export,
            self.net.eval(),
        )

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


def train(
    cfg: TrainConfig,
    progress: Progress | None = None,
    *,
    resume: bool = False,
    should_stop: Callable[[int], bool] | None = None,
) -> TrainResult:
    """Train (or, with ``resume``, continue) the run described by ``cfg``; see module doc.

    ``progress`` receives :class:`TrainEvent` objects (rank 0 only); ``should_stop(step)``
    returning True ends the session after a checkpoint, without export (resume later).

    Raises:
        UsageError: inconsistent config. InputError: unreadable data.
        ModelFormatError: bad ``init_from`` / resume checkpoint. OutputError: unwritable run dir.
    """
    ckpt = load_checkpoint(resume_dir(cfg) / "last.pt") if resume else None
    cfg = (cfg.merged_for_resume(ckpt["config"]) if ckpt else cfg).resolved()
    if ckpt is None and (Path(str(cfg.run_dir)) / "last.pt").exists():
        raise UsageError(
            f"{cfg.run_dir} already holds a run (last.pt)",
            f"continue it with {option('resume', True)}, or pick another {option('run_dir')}",
        )
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ctx = setup(cfg.device)
    try:
        if ctx.is_main:
            make_run_dir(Path(str(cfg.run_dir)))
        ctx.barrier()
        trainer = _Trainer(cfg, ctx, progress)
        if ckpt is not None:
            trainer.resume(ckpt)
        elif cfg.init_from:
            trainer.warm_start(cfg.init_from)
        return trainer.run(should_stop)
    finally:
        teardown(ctx)
