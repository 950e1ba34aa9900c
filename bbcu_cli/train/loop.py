"""The training loop behind ``bbcu train``: Adam + L1 on random patches, cosine LR, periodic
validation with the benchmark protocol, resumable checkpoints, export at the end.

Stopping rule: ``iters`` and/or ``time_budget`` (wall seconds), whichever comes first. The LR
follows a cosine from ``lr`` to ``lr * lr_min_ratio`` over the *planned* steps: ``iters``, or,
with a time budget, an estimate made after the first ~20 steps (measured speed, including
the cost of validation), re-estimated as the speed changes (:mod:`.schedule`) and kept by
``--resume``.

This module holds the step loop (:class:`_Trainer`) and :func:`train`; the session's state,
resume, checkpoints, validation and export are in :mod:`.run_state`.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..errors import BbcuError, UsageError, option
from .checkpoint import load_checkpoint, make_run_dir, resume_dir
from .config import TrainConfig, lr_at
from .data import Batch
from .distributed import DistContext, setup, teardown
from .run_state import Progress, TrainEvent, TrainResult, _RunState

__all__ = ["TrainEvent", "TrainResult", "Progress", "train", "lr_at"]

_DONE, _BUDGET, _STOPPED = 1, 2, 3


class _Trainer(_RunState):
    """The step loop: one optimiser step at a time until the plan, the budget or the caller
    stops it; validation and checkpoints on their schedule; the finish (see :mod:`.run_state`)."""

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
            if not math.isfinite(loss):  # the weights are NaN from here on: stop before a checkpoint keeps them
                raise BbcuError(
                    f"the loss became {loss} at step {self.step + 1}",
                    f"lower {option('lr')}; {self.run_dir / 'last.pt'} keeps the last good checkpoint, if any",
                )
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
    cfg.check_val_folder()
    if ckpt is None and (Path(str(cfg.run_dir)) / "last.pt").exists():
        raise UsageError(
            f"{cfg.run_dir} already holds a run (last.pt)",
            f"continue it with {option('resume', True)}, or pick another {option('run_dir')}",
        )
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ctx = setup(cfg.device)
    try:
        trainer = _prepare(cfg, ctx, progress, ckpt)
        return trainer.run(should_stop)
    finally:
        teardown(ctx)


def _prepare(cfg: TrainConfig, ctx: DistContext, progress: Progress | None, ckpt: dict[str, Any] | None) -> _Trainer:
    """The trainer with its data, model and weights. A run folder this call created is removed
    again when that fails (unreadable data or ``init_from``): it holds no more than a data cache."""
    run_dir = Path(str(cfg.run_dir))
    fresh = ctx.is_main and not run_dir.exists()
    try:
        if ctx.is_main:
            make_run_dir(run_dir)
        ctx.barrier()
        trainer = _Trainer(cfg, ctx, progress)
        if ckpt is not None:
            trainer.resume(ckpt)
        elif cfg.init_from:
            trainer.warm_start(cfg.init_from)
        return trainer
    except BbcuError:
        if fresh:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
