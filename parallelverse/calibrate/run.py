"""Run the planned cells that have no stored result yet, in a process pool.

Each cell is scored and written by whichever worker gets it; its numbers depend only on
the cell (same specs, seed and bars), so one worker or many give identical files.
Cells whose every horizon lies inside a model's training data are skipped unless
--include-in-sample (they would be left out of the scores anyway).
"""

from __future__ import annotations

import multiprocessing
import signal
import time
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


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _indexed_cell(item: tuple[int, Cell]) -> tuple[int, dict]:
    i, cell = item
    return i, run_cell(cell)


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
        # spawn, not fork: the parent may hold torch / BLAS thread pools that do not survive a fork. Workers ignore
        # Ctrl-C (it reaches the whole process group): the parent stops them at once (terminate), so an interrupt
        # is one line and a prompt exit, never a worker's traceback or a wait for the cells in flight. A cell is
        # written whole (atomic rename) or not at all, so the rerun resumes.
        ctx = multiprocessing.get_context("spawn")
        pool = ctx.Pool(min(plan.workers, len(todo)), initializer=_ignore_interrupts)
        try:
            for i, record in pool.imap_unordered(_indexed_cell, list(enumerate(todo))):
                stored[todo[i].key] = record
                done += 1
                if progress:
                    progress("cells", done, len(cells))
            pool.close()
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
    records = tuple(stored[c.key] for c in cells)
    return CalibrateRun(records, len(todo), len(cells) - len(todo), len(plan.cells) - len(cells),
                        time.perf_counter() - t0, damaged)
