"""Run a stage's tasks on a dask.distributed cluster: `--cluster local[:N] | tcp://HOST:PORT | SCHEDULER.json`.

The stages stay in charge of their data; this module only moves tasks. A stage cuts its
work into independent tasks (a store chunk, a batch of paths, a calibration cell), each a
pure function of its arguments, and calls `Cluster.map`, which keeps at most
`in_flight` tasks submitted (memory stays bounded however many paths are asked for),
yields results as they finish, and cancels the rest on the first error. Results are
bit-identical to a single-process run because every path draws from its own stream
(`rng.path_rngs`) and nothing depends on which worker ran a task.

A worker lost mid-run (killed, out of memory, machine gone) costs only its tasks: the
scheduler reruns them elsewhere, up to `distributed.scheduler.allowed-failures` times
(dask's default, 3); a task that keeps killing workers ends the run with one line.
Large objects every task needs (a fitted generator, the seed split) go to the cluster
once with `Cluster.share`, as a task the scheduler can recompute if every copy is lost.

dask is imported only when a cluster is asked for: without `--cluster` nothing here runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from parallelverse.errors import ParallelverseError

CONNECT_TIMEOUT_S = 10
WORKER_WAIT_S = 60  # a fresh cluster's workers take a few seconds to start
NOTICE_AFTER_S = 5  # then the wait is said, with how to start a worker
IN_FLIGHT_PER_THREAD = 2  # one task running, one queued behind it: workers never wait on the client


class ClusterError(ParallelverseError):
    """The --cluster value is malformed, the scheduler cannot be reached, or a task keeps killing workers."""


@dataclass(frozen=True)
class ClusterSpec:
    """What --cluster asked for: a local cluster of `n_workers` processes, or an existing scheduler."""

    kind: str  # "local", "address" or "file"
    target: str = ""  # scheduler address or scheduler file
    n_workers: int = 0  # local only; 0 = one per CPU

    def describe(self) -> str:
        if self.kind == "local":
            return f"local cluster of {self.n_workers} worker process(es)"
        return f"scheduler {self.target}"


_FORMS = "local, local:N, tcp://HOST:PORT or a scheduler file (SCHEDULER.json)"


def parse_cluster(text: str) -> ClusterSpec:
    """`local` / `local:N` / `tcp://HOST:PORT` (any dask protocol) / a scheduler JSON file."""
    text = str(text).strip()
    m = re.fullmatch(r"local(?::(\S*))?", text)
    if m:
        if m.group(1) is None:
            return ClusterSpec("local", n_workers=os.cpu_count() or 1)
        if not m.group(1).isdigit() or not 1 <= int(m.group(1)) <= 1024:
            raise ClusterError(f"--cluster {text!r}: the number of local workers must be 1..1024, e.g. --cluster local:4")
        return ClusterSpec("local", n_workers=int(m.group(1)))
    if re.fullmatch(r"(tcp|tls|ucx|ws|wss|inproc)://\S+", text):
        return ClusterSpec("address", text)
    if text.endswith(".json"):
        if not Path(text).is_file():
            raise ClusterError(f"--cluster {text!r}: no such scheduler file; start one with "
                               f"`dask scheduler --scheduler-file {text}`, or give tcp://HOST:PORT")
        try:
            address = json.loads(Path(text).read_text()).get("address")
        except (OSError, ValueError, AttributeError):
            address = None
        if not isinstance(address, str) or "://" not in address:
            raise ClusterError(f"--cluster {text!r} is not a dask scheduler file (JSON with the scheduler's address, "
                               "as `dask scheduler --scheduler-file` writes it); check the file or give tcp://HOST:PORT")
        return ClusterSpec("file", text)
    raise ClusterError(f"--cluster {text!r} is not a cluster; give {_FORMS}")


class Cluster:
    """A connected dask Client with the two things the stages need: `share` and `map`."""

    def __init__(self, client, spec: ClusterSpec):
        self.client, self.spec = client, spec

    @property
    def n_threads(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def share(self, obj: Any):
        """Send `obj` to the cluster once; pass the returned future to `map` in place of the object.

        A task (not scattered data), so that if every worker holding it dies the scheduler
        recomputes it from its spec instead of failing the run."""
        with warnings.catch_warnings():  # a model is a "large object in the task graph" on purpose: sent once
            warnings.filterwarnings("ignore", message="Large object")
            return self.client.submit(_identity, obj, pure=False, key=f"shared-{type(obj).__name__}-{uuid.uuid4().hex}")

    def map(self, fn: Callable, tasks: Iterable, *shared, in_flight: int | None = None,
            label: str = "task") -> Iterator[tuple[int, Any]]:
        """Yield (index, fn(task, *shared)) for every task, in the order they finish.

        At most `in_flight` tasks (default two per worker thread) are submitted at once; the
        next is submitted when one finishes, so results wait in the client's memory only
        until the caller consumes them. On an error the remaining tasks are cancelled and the
        task's own exception is raised (a StrategyError stays a StrategyError)."""
        import asyncio

        from distributed import as_completed
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        limit = in_flight or IN_FLIGHT_PER_THREAD * self.n_threads
        todo = iter(enumerate(tasks))
        run_id = uuid.uuid4().hex[:8]
        index: dict = {}
        queue = as_completed()

        def submit_next() -> bool:
            nxt = next(todo, None)
            if nxt is None:
                return False
            i, task = nxt
            f = self.client.submit(fn, task, *shared, pure=False, key=f"{label}-{run_id}-{i}")
            index[f.key] = (i, f)
            queue.add(f)
            return True

        for _ in range(limit):
            if not submit_next():
                break
        try:
            for f in queue:
                i, _ = index.pop(f.key)
                try:
                    result = f.result()
                except KilledWorker as exc:
                    raise ClusterError(
                        f"{label} {i} was running on every worker that died ({exc}); it is likely to run out of "
                        "memory: use smaller chunks or batches, or give workers more memory (dask worker --memory-limit)"
                    ) from None
                except (FutureCancelledError, asyncio.CancelledError, OSError) as exc:
                    if self.client.status == "running" and not isinstance(exc, FutureCancelledError):
                        raise  # the task's own OSError
                    raise ClusterError(
                        f"the dask {self.spec.describe()} went away during {label} {i}; start it again "
                        "and rerun the same command: finished work is kept"
                    ) from None
                f.release()
                submit_next()
                yield i, result
        finally:
            for _, f in index.values():  # an error, or the caller stopped early: nothing keeps running
                f.cancel()


def _blas_env() -> dict[str, str]:
    """numpy's OpenBLAS thread count as in this process, for local workers (dask would set it to 1).

    A GARCH fit's last bits depend on OpenBLAS's thread count, so calibrate cells (which
    fit inside the workers) match a single-process run only when the counts match. torch's
    threads (OMP_NUM_THREADS) stay at dask's 1 per worker: its sampling does not depend on them."""
    n = str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    return {"OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", n))}


def _identity(x):
    return x


def _within(seconds: float, make):
    """make() in a daemon thread, or TimeoutError after `seconds` (what it was doing is abandoned with it)."""
    import threading

    box: dict = {}

    def run():
        try:
            box["value"] = make()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise TimeoutError(f"no answer from a dask scheduler within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """Ctrl-C held back while child processes (or a local dask cluster) are started, then acted on.

    SIGINT is blocked in this thread, and children inherit the mask through fork and exec: a Ctrl-C that reaches
    the whole process group while a spawned child still imports (before it can ignore SIGINT) stays pending in it
    instead of printing a KeyboardInterrupt traceback from multiprocessing/spawn.py. In the main thread a
    recording handler stands in meanwhile (another thread may take the signal), so what is being started is
    never left half started; the Ctrl-C is acted on as the block ends (nothing is lost)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    import threading
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # now: starting it later unblocks SIGINT (multiprocessing/resource_tracker.py)
    pending: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: pending.append(1)) if main else None
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        if main and previous is not None:  # None: a handler not set from Python, left as it was
            signal.signal(signal.SIGINT, previous)
            if pending and callable(previous):
                previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt
            elif pending and previous == signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGINT)


def ignore_sigint() -> None:
    """In a child started under sigint_blocked: ignore Ctrl-C (the parent's to handle; a pending one is dropped),
    then lift the inherited block."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextmanager
def connect(spec: ClusterSpec | str, timeout_s: float = CONNECT_TIMEOUT_S,
            say: Callable[[str], None] | None = None) -> Iterator[Cluster]:
    """A Cluster for the run; a local cluster is started here and shut down on exit.

    Local workers are processes with one thread each (numba kernels and torch release the
    GIL only in parts; processes keep them from contending), started with spawn."""
    spec = parse_cluster(spec) if isinstance(spec, str) else spec
    from distributed import Client, LocalCluster

    if spec.kind == "local":
        import dask

        # set before the worker processes start (and kept by their nannies for restarts): BLAS reads them at import
        # sigint_blocked: the nannies' loop thread and the worker processes start with Ctrl-C blocked, so a Ctrl-C to
        # the process group is the client's alone to handle (no KeyboardInterrupt tracebacks from the workers)
        # (a Ctrl-C meanwhile is raised as the block ends, and both are closed quietly: no atexit traceback)
        cluster = client = None
        try:
            with dask.config.set({f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in _blas_env().items()}), \
                    sigint_blocked():
                cluster = LocalCluster(n_workers=spec.n_workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                                       silence_logs=logging.CRITICAL)  # no dashboard; its HTTP port: any free one. A task's
                # error reaches the user once, as the run's one-line error, not also as the workers' tracebacks
                client = Client(cluster)
        except BaseException:
            for c in (client, cluster):
                try:
                    if c is not None:
                        c.close()
                except Exception:  # noqa: BLE001 - already failing; the first error is the one to say
                    pass
            raise
    else:
        cluster = None
        kw = {"scheduler_file": spec.target} if spec.kind == "file" else {"address": spec.target}
        import dask

        try:  # the whole handshake within the timeout: a port that accepts but is no scheduler must not hang
            with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout_s}s",
                                  "distributed.comm.retry.count": 0}):
                client = _within(timeout_s + 5, lambda: Client(**kw, timeout=timeout_s))
        except KeyboardInterrupt:
            raise
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ClusterError(
                f"cannot reach the dask scheduler at {spec.target} ({reason[:120]}); start it with `dask scheduler` "
                "and workers with `dask worker ADDRESS`, or check --cluster"
            ) from None
        except BaseException as exc:  # e.g. MemoryError decoding what a web server answered
            raise ClusterError(f"{spec.target} answered, but not as a dask scheduler ({type(exc).__name__}); check "
                               "--cluster") from None
    names = [n for n in list(logging.Logger.manager.loggerDict) if n.startswith(("distributed.", "tornado."))]
    quiet = {name: logging.getLogger(name).level for name in ("distributed", "tornado", "asyncio", *names)}
    for name in quiet:  # the client's own logging of a failed task or a closed stream: the error line says it
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        try:
            try:
                client.wait_for_workers(1, timeout=NOTICE_AFTER_S)
            except (TimeoutError, OSError):
                if say is not None:  # a scheduler without workers would otherwise look like a hang
                    say(f"waiting for a dask worker to join {spec.describe()} (up to {WORKER_WAIT_S} s; start one with "
                        f"`dask worker {spec.target or 'ADDRESS'}`)")
                client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (TimeoutError, OSError):
            raise ClusterError(f"no worker joined {spec.describe()} within {WORKER_WAIT_S} s; "
                               f"start workers with `dask worker {spec.target or 'ADDRESS'}`") from None
        yield Cluster(client, spec)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


@contextmanager
def maybe_connect(cluster: str | None, say: Callable[[str], None] | None = None) -> Iterator[Cluster | None]:
    """`connect(cluster)`, or None without --cluster (today's single-process run); `say` prints a notice."""
    if cluster is None:
        yield None
        return
    with connect(cluster, say=say) as c:
        yield c
