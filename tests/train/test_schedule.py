"""Time-budgeted step plans: measured, re-estimated when the speed changes, LR kept continuous."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

from bbcu_cli.train import TrainConfig, lr_at, train
from bbcu_cli.train.loop import _Trainer
from bbcu_cli.train.schedule import CALIB_SKIP, CALIB_STEPS, REPLAN_UNTIL, StepPlan, cosine_position

CFG = TrainConfig(lr=1e-3, lr_min_ratio=0.01, warmup=10)


def _simulate(budget: float, seconds_at: Callable[[float], float]) -> tuple[StepPlan, list[float], list[int]]:
    """Drive a StepPlan the way the trainer does, on a simulated clock; LR per step, plans."""
    plan, clock, step, lrs, plans = StepPlan(), 0.0, 0, [], []
    while not (plan.planned is not None and step >= plan.planned) and clock < budget:
        lrs.append(lr_at(step, plan.planned, CFG, plan.anchor))
        dt = seconds_at(clock)
        clock, step = clock + dt, step + 1
        per_step = plan.measure(step, dt, step, CFG.warmup)
        if per_step is not None:
            plan.fix(step, step + max(1, int((budget - clock) / per_step)), CFG.warmup)
            plans.append(plan.planned)
    return plan, lrs, plans


def test_cosine_position_with_and_without_anchor() -> None:
    assert cosine_position(10, 110, 10) == 0.0 and cosine_position(60, 110, 10) == 0.5
    assert cosine_position(200, 110, 10) == 1.0
    assert cosine_position(60, 160, 10, (60, 0.5)) == 0.5 and cosine_position(160, 160, 10, (60, 0.5)) == 1.0


def test_first_plan_after_calibration_steps() -> None:
    plan, _, plans = _simulate(1000.0, lambda t: 1.0)
    assert plans[0] == CALIB_STEPS + int((1000 - CALIB_STEPS) / 1.0)
    assert plan.every == max(CALIB_STEPS, (plans[0] - CALIB_STEPS) // 50)
    assert plan.anchor is not None  # constant speed: re-estimates agree and keep the LR continuous


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_speed_change_replans_and_the_cosine_still_ends_at_the_budget(factor: float) -> None:
    plan, lrs, plans = _simulate(2000.0, lambda t: 1.0 if t < 400 else factor)
    expected = 400 + (2000 - 400) / factor  # steps that fit the budget
    assert abs(plans[-1] - expected) < 0.03 * expected, plans[-3:]
    assert len(lrs) == pytest.approx(expected, rel=0.03)
    assert lrs[-1] < 0.03 * CFG.lr  # finished the cosine: not cut at a high LR, nor ended early
    jumps = [abs(a - b) for a, b in zip(lrs[CFG.warmup + 1 :], lrs[CFG.warmup + 2 :])]
    assert max(jumps) < 0.01 * CFG.lr  # no step in the LR where the plan changed


def test_no_replan_late_in_the_cosine() -> None:
    plan = StepPlan(planned=100, calibrated=True, every=5)
    plan._mark = 1  # a window is open
    for step in range(int(REPLAN_UNTIL * 100) + 1, 100):
        assert plan.measure(step, 1.0, step, 0) is None


def test_state_round_trip_and_old_checkpoints() -> None:
    plan = StepPlan(planned=500, calibrated=True, anchor=(40, 0.1), every=20)
    assert StepPlan.from_state(json.loads(json.dumps(plan.state()))) == plan
    old = StepPlan.from_state({"planned": 300, "calibrated": True, "val_time": 0.5})
    assert old.anchor is None and old.every == 0
    for step in range(CALIB_SKIP + 40):  # a plan from before re-planning stays as it was
        assert old.measure(step, 1.0, step, 0) is None


def test_trainer_replans_when_steps_slow_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "train"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(data / f"t{i}.png")
    real_step = _Trainer.train_step

    def slower_after_60(self: _Trainer, model: torch.nn.Module) -> float:
        if self.step >= 60:
            time.sleep(0.03)
        return real_step(self, model)

    monkeypatch.setattr(_Trainer, "train_step", slower_after_60)
    cfg = TrainConfig(
        task="denoise",
        num_feat=8,
        depth=3,
        batch=2,
        patch=8,
        time_budget=6.0,
        lr=1e-3,
        data=[str(data)],
        val="none",
        val_every=0,
        ckpt_every=0,
        log_every=5,
        run_dir=str(tmp_path / "run"),
        amp=False,
        threads=1,
    )
    res = train(cfg)
    records = [json.loads(x) for x in (res.run_dir / "log.jsonl").read_text().splitlines()]
    plans = [r["planned"] for r in records if "planned" in r]
    assert len(plans) >= 2 and plans[-1] < 0.8 * plans[0], plans
    ckpt = torch.load(res.run_dir / "last.pt", weights_only=True)
    assert ckpt["scheduler"]["planned"] == res.planned == plans[-1]
    assert ckpt["scheduler"]["anchor"] is not None
