"""How many steps a time-budgeted run plans, re-estimated as its speed changes.

With ``--time-budget`` (and no ``--iters``) the cosine learning-rate schedule needs a step count
that is only known once the speed is: :class:`StepPlan` measures it after the first few steps
(``CALIB_SKIP`` start-up steps are not timed) and then re-measures it every ``every`` steps
(about ``1 / REPLANS`` of the plan). Each re-estimate keeps the learning rate continuous: the
cosine position reached so far becomes the *anchor* and the rest of the cosine is stretched or
squeezed over the new remaining steps (:func:`cosine_position`). So a run whose machine gets
busier or quieter part-way (another job starting or ending) still ends its cosine near the end
of its budget instead of finishing early or being cut at a high learning rate. No re-estimate
is made in the last ``1 - REPLAN_UNTIL`` of the cosine. Every decision depends on step counts
only, so all ranks of a distributed run ask for a new plan at the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CALIB_SKIP", "CALIB_STEPS", "REPLANS", "REPLAN_UNTIL", "StepPlan", "cosine_position"]

CALIB_SKIP, CALIB_STEPS = 3, 20
REPLANS = 50
REPLAN_UNTIL = 0.9


def cosine_position(step: int, planned: int, warmup: int, anchor: tuple[int, float] | None = None) -> float:
    """Position in [0, 1] along the cosine after ``step`` completed steps.

    Without an anchor: ``(step - warmup) / (planned - warmup)``. With ``anchor = (s, t)``:
    position ``t`` at step ``s``, then linear to 1 at ``planned``. Clamped to [0, 1].
    """
    a_step, a_pos = anchor if anchor is not None else (warmup, 0.0)
    t = a_pos + (1.0 - a_pos) * (step - a_step) / max(1, planned - a_step)
    return min(1.0, max(0.0, t))


@dataclass
class StepPlan:
    """Planned step count of a run and the state needed to re-estimate it.

    ``planned``: steps of the cosine (``None`` until measured); ``anchor``: ``(step, position)``
    where the last re-estimate joined the cosine; ``every``: steps between re-estimates (fixed
    with the first plan); ``calibrated``: the first plan is made.
    """

    planned: int | None = None
    calibrated: bool = False
    anchor: tuple[int, float] | None = None
    every: int = 0
    _mark: int | None = None  # session step where the current timing window started
    _busy: float = 0.0  # seconds of training steps in the window

    def position(self, step: int, warmup: int) -> float | None:
        """Cosine position after ``step`` steps; ``None`` while nothing is planned."""
        return None if self.planned is None else cosine_position(step, self.planned, warmup, self.anchor)

    def measure(self, session_steps: int, seconds: float, step: int, warmup: int) -> float | None:
        """Record one step of ``seconds``; the mean seconds per step when a window is complete.

        Returns ``None`` while the window runs, and always once the cosine is past
        ``REPLAN_UNTIL`` (or when ``every`` is 0: plans from before re-planning existed).
        """
        if self.calibrated and (not self.every or (self.position(step, warmup) or 0.0) >= REPLAN_UNTIL):
            return None
        if self._mark is None:
            if session_steps >= CALIB_SKIP:
                self._mark, self._busy = session_steps, 0.0
            return None
        self._busy += seconds
        size = session_steps - self._mark
        if size < (self.every if self.calibrated else CALIB_STEPS - CALIB_SKIP):
            return None
        self._mark = session_steps
        per_step, self._busy = self._busy / size, 0.0
        return per_step

    def fix(self, step: int, planned: int, warmup: int) -> None:
        """Adopt ``planned`` at ``step``, keeping the learning rate continuous."""
        if self.calibrated and self.planned is not None and step > warmup:
            self.anchor = (step, cosine_position(step, self.planned, warmup, self.anchor))
        if not self.calibrated:
            self.every = max(CALIB_STEPS, (planned - step) // REPLANS)
        self.planned, self.calibrated = planned, True

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps (the timing window starts anew after a resume)."""
        return {
            "planned": self.planned,
            "calibrated": self.calibrated,
            "anchor": list(self.anchor) if self.anchor else None,
            "every": self.every,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "StepPlan":
        """Inverse of :meth:`state`; checkpoints written before re-planning load too."""
        anchor = state.get("anchor")
        return cls(
            state["planned"],
            state["calibrated"],
            (int(anchor[0]), float(anchor[1])) if anchor else None,
            int(state.get("every") or 0),
        )
