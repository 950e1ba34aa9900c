"""Running a batch: sequentially, or with ``--jobs N`` reader and writer threads.

With ``jobs > 1`` up to N items are decoded ahead by a reader pool and up to N outputs are
encoded and written behind by a writer pool, while the model runs on the calling thread.
Results are reported in input order either way. Ctrl-C (KeyboardInterrupt) stops the batch:
the item being computed is dropped (nothing partial is written: writes are atomic), writes
already handed to the writer pool finish, and :class:`BatchRun` says ``interrupted``.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from .item import ItemResult, RestoreOptions, Staged, compute_item, load_item, save_item

if TYPE_CHECKING:  # the engine imports torch; the restorer is only passed along here
    from ..engine.restore import Restorer

__all__ = ["Work", "BatchRun", "run_batch"]

OnResult = Callable[[ItemResult], None]


@dataclass
class Work:
    """One item to run: input, output, reference, and a stdin opener for ``-``."""

    src: Path
    dst: Path
    ref: Path | None = None
    stdin: Callable[[], object] | None = None


@dataclass
class BatchRun:
    """Results in input order, and whether Ctrl-C cut the batch short."""

    results: list[ItemResult] = field(default_factory=list)
    interrupted: bool = False


def run_batch(
    restorer: Restorer, work: Sequence[Work], *, opts: RestoreOptions, jobs: int = 1, on_result: OnResult | None = None
) -> BatchRun:
    """Run every item; ``on_result`` is called for each result, in input order."""
    run = BatchRun()

    def report(result: ItemResult) -> None:
        run.results.append(result)
        if on_result is not None:
            on_result(result)

    try:
        if jobs <= 1:
            _sequential(restorer, work, opts, report)
        else:
            _pipelined(restorer, work, opts, jobs, report)
    except KeyboardInterrupt:
        run.interrupted = True
    return run


def _sequential(restorer: Restorer, work: Sequence[Work], opts: RestoreOptions, report: OnResult) -> None:
    for w in work:
        staged = load_item(w.src, w.dst, opts=opts, ref=w.ref, stdin=w.stdin)
        if isinstance(staged, Staged):
            staged = compute_item(restorer, staged, opts=opts)
        report(save_item(restorer, staged, opts=opts) if isinstance(staged, Staged) else staged)


def _done(result: ItemResult) -> Future[ItemResult]:
    future: Future[ItemResult] = Future()
    future.set_result(result)
    return future


class _Pipeline:
    """Reader pool ahead, compute here, writer pool behind; at most ``jobs`` in each queue."""

    def __init__(self, restorer: Restorer, opts: RestoreOptions, jobs: int, report: OnResult) -> None:
        self.restorer, self.opts, self.jobs, self.report = restorer, opts, jobs, report
        self.readers = ThreadPoolExecutor(jobs, thread_name_prefix="bbcu-read")
        self.writers = ThreadPoolExecutor(jobs, thread_name_prefix="bbcu-write")
        self.reads: deque[Future[Staged | ItemResult]] = deque()
        self.writes: deque[Future[ItemResult]] = deque()

    def fill(self, pending: Iterator[Work]) -> None:
        while len(self.reads) < self.jobs:
            w = next(pending, None)
            if w is None:
                return
            self.reads.append(self.readers.submit(load_item, w.src, w.dst, opts=self.opts, ref=w.ref, stdin=w.stdin))

    def step(self) -> None:
        staged = self.reads.popleft().result()
        if isinstance(staged, Staged):
            staged = compute_item(self.restorer, staged, opts=self.opts)
        if isinstance(staged, Staged):
            self.writes.append(self.writers.submit(save_item, self.restorer, staged, opts=self.opts))
        else:
            self.writes.append(_done(staged))

    def drain(self, keep: int) -> None:
        """Report finished writes in order, waiting while more than ``keep`` are pending."""
        while self.writes and (len(self.writes) > keep or self.writes[0].done()):
            self.report(self.writes.popleft().result())

    def close(self) -> None:
        for future in self.reads:
            future.cancel()
        self.readers.shutdown(wait=True, cancel_futures=True)
        self.writers.shutdown(wait=True)


def _pipelined(restorer: Restorer, work: Sequence[Work], opts: RestoreOptions, jobs: int, report: OnResult) -> None:
    pipe = _Pipeline(restorer, opts, jobs, report)
    pending = iter(work)
    try:
        pipe.fill(pending)
        while pipe.reads:
            pipe.step()
            pipe.fill(pending)
            pipe.drain(keep=jobs)
        pipe.drain(keep=0)
    except KeyboardInterrupt:
        pipe.close()
        pipe.drain(keep=0)  # writes already handed over are complete items
        raise
    finally:
        pipe.close()
