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
from multiprocessing.connection import wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from parallelverse.calibrate.cells import CalibratePlan, Cell, cell_damaged, read_cell, run_cell
from parallelverse.distributed import ignore_sigint, sigint_blocked
from parallelverse.errors import CalibrateError

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
    skipped: tuple[dict, ...] = ()  # the cells not run (skipped_in_sample of them): universe, symbol, window and
    # the horizons with realized bars, for aggregate's in-sample counts


ProgressFn = Callable[[str, int, int], None]  # (task, done, total)


def _needed(plan: CalibratePlan, cell: Cell) -> bool:
    return plan.request.include_in_sample or not all(cell.in_sample)


def _in_processes(todo: list[Cell], n: int) -> Iterator[tuple[int, dict]]:
    """(index, record) of every cell, computed in n worker processes, as they finish.

    A minimal pool on purpose: one pipe per worker, one cell at a time, no shared queue or lock. Ctrl-C and
    SIGTERM reach the whole process group; a multiprocessing.Pool whose worker died holding its queue's lock
    hangs in terminate(), and a ProcessPoolExecutor waits for the cells in flight. Here workers ignore SIGINT,
    the parent kills them all (SIGKILL) on any exit that is not the end, and a cell is written whole (atomic
    rename) or not at all, so the rerun resumes. spawn, not fork: the parent may hold torch / BLAS thread pools."""
    ctx = multiprocessing.get_context("spawn")
    workers = []
    try:
        with sigint_blocked():  # the workers start with Ctrl-C blocked: none arrives while they import
            for _ in range(n):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(child,), daemon=True)
                proc.start()
                child.close()
                workers.append((proc, parent))
        queue = list(enumerate(todo))[::-1]
        busy = {}
        for proc, conn in workers:
            if queue:
                conn.send(queue.pop())
                busy[conn] = proc
        while busy:
            for conn in wait(list(busy)):
                try:
                    kind, i, value = conn.recv()
                except EOFError:
                    busy[conn].join(1)
                    code = busy[conn].exitcode
                    if code in (-signal.SIGTERM, -signal.SIGINT, -signal.SIGHUP):  # the group's stop reached it first
                        raise KeyboardInterrupt from None
                    raise CalibrateError(f"a calibrate worker process died (exit {code}); rerun the same command to "
                                         "resume (finished cells are kept), with fewer --workers if memory ran out") \
                        from None
                if kind == "error":
                    raise value
                yield i, value
                if queue:
                    conn.send(queue.pop())
                else:
                    conn.send(None)
                    del busy[conn]
    finally:
        for proc, conn in workers:
            if proc.is_alive():
                proc.kill()
            proc.join()
            conn.close()


def _worker(conn) -> None:
    ignore_sigint()  # Ctrl-C is the parent's to handle
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        if item is None:
            return
        i, cell = item
        try:
            conn.send(("ok", i, run_cell(cell)))
        except Exception as exc:  # raised in the parent, as a single process would
            conn.send(("error", i, exc))


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
        for i, record in _in_processes(todo, min(plan.workers, len(todo))):
            stored[todo[i].key] = record
            done += 1
            if progress:
                progress("cells", done, len(cells))
    records = tuple(stored[c.key] for c in cells)
    skipped = tuple({"universe": c.name, "symbol": c.symbol, "window": c.window,
                     "horizons": [h for h in c.horizons if c.split.realized_end - c.split.context_end >= h]}
                    for c in plan.cells if not _needed(plan, c))
    return CalibrateRun(records, len(todo), len(cells) - len(todo), len(skipped), time.perf_counter() - t0, damaged,
                        skipped)
