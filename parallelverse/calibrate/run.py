"""Run the planned cells that have no stored result yet, in a process pool.

Each cell is scored and written by whichever worker gets it; its numbers depend only on
the cell (same specs, seed and bars), so one worker or many give identical files.
Cells whose every horizon lies inside a model's training data are skipped unless
--include-in-sample (they would be left out of the scores anyway).
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from parallelverse.calibrate.cells import CalibratePlan, Cell, cell_damaged, read_cell, run_cell

if TYPE_CHECKING:
    from parallelverse.distributed import Cluster


@dataclass(frozen=True)
class CalibrateRun:
    records: tuple[dict, ...]  # one per scored cell, in plan order
    computed: int  # cells computed by this run
    reused: int  # cells found under --out
    skipped_in_sample: int  # cells not run: every horizon inside a model's training data
    seconds: float
    damaged: int = 0  # cell files found changed or unreadable, recomputed


ProgressFn = Callable[[str, int, int], None]  # (task, done, total)


def _needed(plan: CalibratePlan, cell: Cell) -> bool:
    return plan.request.include_in_sample or not all(cell.in_sample)


def run_calibrate(plan: CalibratePlan, progress: ProgressFn | None = None, cluster: Cluster | None = None) -> CalibrateRun:
    """Compute the missing cells: here, in a process pool (--workers), or one task per cell on `cluster`."""
    t0 = time.perf_counter()
    cells = [c for c in plan.cells if _needed(plan, c)]
    stored = {c.key: read_cell(c) for c in cells}
    todo = [c for c in cells if stored[c.key] is None]
    damaged = sum(cell_damaged(c) for c in todo)
    (plan.out / "cells").mkdir(parents=True, exist_ok=True)
    done = len(cells) - len(todo)
    if progress:
        progress("cells", done, len(cells))
    if cluster is not None:
        for i, record in cluster.map(run_cell, todo, label="cell"):
            stored[todo[i].key] = record
            done += 1
            if progress:
                progress("cells", done, len(cells))
    elif plan.workers == 1 or len(todo) <= 1:
        for c in todo:
            stored[c.key] = run_cell(c)
            done += 1
            if progress:
                progress("cells", done, len(cells))
    else:
        # spawn, not fork: the parent may hold torch / BLAS thread pools that do not survive a fork
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(plan.workers, len(todo)), mp_context=ctx) as pool:
            pending = {pool.submit(run_cell, c): c for c in todo}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        c = pending.pop(f)
                        stored[c.key] = f.result()
                        done += 1
                        if progress:
                            progress("cells", done, len(cells))
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    records = tuple(stored[c.key] for c in cells)
    return CalibrateRun(records, len(todo), len(cells) - len(todo), len(plan.cells) - len(cells),
                        time.perf_counter() - t0, damaged)
