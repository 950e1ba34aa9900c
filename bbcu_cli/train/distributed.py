"""Data-parallel helpers: works alone or under ``torchrun`` (gloo on CPU, nccl on CUDA).

Under ``torchrun`` the environment holds ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; every rank
trains on its own data stream and DistributedDataParallel averages gradients. Only rank 0
logs, validates and writes files; decisions that must agree (the planned number of steps,
when to stop) are broadcast from rank 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["DistContext", "setup", "teardown"]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world`` processes, and its device."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped in DistributedDataParallel when running distributed."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def broadcast_int(self, value: int) -> int:
        """Rank 0's ``value`` on every rank."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.int64, device=self._comm_device())
        dist.broadcast(t, src=0)
        return int(t.item())

    def gather_states(self, state: Tensor) -> list[Tensor]:
        """All ranks' ``state`` (same-size uint8 tensors, e.g. RNG states), in rank order."""
        if not self.enabled:
            return [state]
        local = state.to(self._comm_device())
        out = [torch.empty_like(local) for _ in range(self.world)]
        dist.all_gather(out, local)
        return [t.cpu() for t in out]

    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def _device(name: str, local_rank: int) -> torch.device:
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            from ..errors import UsageError, option

            raise UsageError(
                f"{option('device', 'cuda')} asked for, but no CUDA GPU is available", f"use {option('device', 'cpu')}"
            )
        index = local_rank if name == "cuda" else torch.device(name).index or 0
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def setup(device: str = "cpu") -> DistContext:
    """Join the process group if launched by ``torchrun``; otherwise a single-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _device(device, local_rank)
    if world <= 1:
        return DistContext(0, 1, dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), dev)


def teardown(ctx: DistContext) -> None:
    """Leave the process group (no-op when not distributed)."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
