"""Run sweeps: local worker processes (default), Dask distributed, or in-process (``serial``).

:func:`run_sweep` validates the whole plan, skips tasks whose id is already in the results file,
runs the rest, and appends one row per finished task from the coordinating process (the only
writer). Each task function gets a seed derived from the task itself, so the deterministic part
of every row is the same whatever the executor, the number of workers or the order.

Local processes
---------------
``executor="local"`` uses a :class:`concurrent.futures.ProcessPoolExecutor` with the
``forkserver`` start method on POSIX (``spawn`` elsewhere). ``fork`` would start fastest but
copies a process that may hold threads (tqdm's monitor, Numba or torch pools, Dask), which can
deadlock the child; ``forkserver`` forks from a clean single-threaded server, is Python 3.14's
default on Linux, and pickles tasks the same way as ``spawn``. As with ``spawn``, worker
processes import the main script, so a script must call :func:`run_sweep` under
``if __name__ == "__main__":`` — a missing guard is detected and reported in those words.
Each worker limits Numba, OpenMP, MKL/OpenBLAS and torch to one thread (one level of parallelism,
DESIGN.md §9.7), ignores Ctrl-C (the coordinator cleans up), and exits by itself if the
coordinator dies (e.g. SIGKILL), so no orphans keep computing.

Dask
----
``executor="dask"`` with ``scheduler="tcp://host:8786"`` submits to an existing Dask cluster;
without an address it starts a ``LocalCluster`` of ``workers`` single-threaded processes. Worker
machines need latticediff (and any module defining custom kinds) installed. On SLURM or PBS, start
workers with dask-jobqueue from a small driver script::

    from dask_jobqueue import SLURMCluster            # or PBSCluster
    from latticediff.sweep import load_plan, run_sweep

    if __name__ == "__main__":
        cluster = SLURMCluster(cores=1, processes=1, memory="4GB", walltime="02:00:00",
                               job_extra_directives=["--cpus-per-task=1"])
        cluster.scale(jobs=32)                        # 32 one-core jobs, each one Dask worker
        run_sweep(load_plan("plan.toml"), "results.jsonl",
                  executor="dask", scheduler=cluster.scheduler_address)

or from the shell: ``dask scheduler --scheduler-file s.json`` on the login node, ``dask worker
--scheduler-file s.json --nthreads 1`` in each batch job, and ``latticediff sweep plan.toml
--executor dask --scheduler ADDRESS`` with the ``"address"`` written in ``s.json``.

Without Dask networking (compute nodes that cannot reach the login node), use job arrays and
shards: ``latticediff sweep plan.toml --shard $SLURM_ARRAY_TASK_ID/$N -o part$SLURM_ARRAY_TASK_ID
.jsonl`` in each array job, then ``latticediff combine results.jsonl part*.jsonl``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import LatticeDiffError, ParameterError
from .kinds import get_kind
from .plan import check_plan, load_plan
from .results import ResultsWriter, finished_ids, make_row
from .task import Task, thaw

__all__ = ["run_sweep", "select_shard", "parse_shard", "SweepSummary", "TaskError", "EXECUTORS"]

log = logging.getLogger("latticediff.sweep")

EXECUTORS = ("local", "dask", "serial")
_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


class TaskError(LatticeDiffError):
    """A task failed; the message names the task (id, kind, params), the worker and the
    worker's traceback. Rows of tasks finished before the failure are kept."""


@dataclass(frozen=True)
class SweepSummary:
    """What a :func:`run_sweep` call did."""

    path: Path
    n_plan: int
    n_selected: int
    n_skipped: int
    n_run: int
    wall_s: float
    executor: str

    def __str__(self):
        sel = "" if self.n_selected == self.n_plan else f" ({self.n_selected} in this shard)"
        return (
            f"{self.n_plan} tasks{sel}: {self.n_skipped} already done, {self.n_run} run "
            f"({self.executor}) in {self.wall_s:.1f} s -> {self.path}"
        )


# ---------------------------------------------------------------------------------------------
# Shards
# ---------------------------------------------------------------------------------------------


def parse_shard(shard) -> tuple[int, int] | None:
    """``"i/n"`` or ``(i, n)`` -> ``(i, n)`` with ``0 <= i < n``; None stays None.

    >>> parse_shard("2/8")
    (2, 8)
    """
    if shard is None:
        return None
    try:
        if isinstance(shard, str):
            i_s, n_s = shard.split("/")
            i, n = int(i_s), int(n_s)
        else:
            i, n = shard
            if isinstance(i, bool) or isinstance(n, bool):
                raise TypeError
            i, n = int(i), int(n)
    except (ValueError, TypeError):
        raise ParameterError(
            f"shard must be 'i/n' with integers 0 <= i < n, got {shard!r}"
        ) from None
    if not (n >= 1 and 0 <= i < n):
        raise ParameterError(f"shard must be 'i/n' with 0 <= i < n, got {shard!r}")
    return i, n


def select_shard(tasks: Sequence[Task], shard) -> list[Task]:
    """Tasks whose position in plan order is ``i`` mod ``n`` (round robin keeps shards balanced
    when costs vary along the plan). The shards of ``0/n ... n-1/n`` partition the plan.

    >>> from latticediff.sweep import Task
    >>> ts = [Task("sleep", {"value": v}) for v in range(5)]
    >>> [t.params["value"] for t in select_shard(ts, "1/2")]
    [1.0, 3.0]
    """
    s = parse_shard(shard)
    if s is None:
        return list(tasks)
    i, n = s
    return [t for k, t in enumerate(tasks) if k % n == i]


# ---------------------------------------------------------------------------------------------
# What runs in a worker
# ---------------------------------------------------------------------------------------------

_LIMITED = False
_THREADPOOL_LIMITS = None


def _limit_threads() -> None:
    """One thread per library in this process (workers already run tasks in parallel)."""
    global _LIMITED, _THREADPOOL_LIMITS
    if _LIMITED:
        return
    _LIMITED = True
    for v in _THREAD_VARS:
        os.environ[v] = "1"  # for libraries imported from now on
    # Libraries already imported (e.g. by the user's main script) read the variables too early.
    if "torch" in sys.modules:
        try:
            sys.modules["torch"].set_num_threads(1)
        except Exception:  # noqa: BLE001
            pass
    if "numpy" in sys.modules:
        try:
            from threadpoolctl import threadpool_limits

            _THREADPOOL_LIMITS = threadpool_limits(1)
        except Exception:  # noqa: BLE001 - threadpoolctl is optional
            pass


def _limit_numba_threads() -> None:
    # Numba's thread count is per calling thread (Dask runs tasks in executor threads), and
    # only matters if Numba was imported before NUMBA_NUM_THREADS=1 was set.
    nb = sys.modules.get("numba")
    if nb is not None and nb.config.NUMBA_NUM_THREADS > 1:
        try:
            nb.set_num_threads(1)
        except Exception:  # noqa: BLE001 - best effort
            pass


def _watch_coordinator(conn) -> None:
    try:
        conn.poll(None)  # returns at EOF: every copy of the write end is closed
    except (OSError, EOFError):
        pass
    # The coordinator is gone (e.g. SIGKILL): nobody will collect this result, so stop now
    # rather than compute as an orphan. (Watching the parent pid does not work under forkserver:
    # the parent is the fork server, which itself waits for its children to exit.)
    os._exit(3)


def _init_worker(alive_r=None, alive_w=None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _limit_threads()
    if alive_r is not None:
        if alive_w is not None:
            alive_w.close()  # our copy (inherited under fork, duplicated under forkserver/spawn)
        threading.Thread(target=_watch_coordinator, args=(alive_r,), daemon=True).start()


def _jsonify(value, where: str):
    import numpy as np

    if value is None or isinstance(value, bool | str | int | float):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: result keys must be strings, got {k!r}")
            out[k] = _jsonify(v, f"{where}.{k}")
        return out
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonify(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"{where} is not a JSON value: {type(value).__name__} (store large arrays in HDF5 "
        "files and return their path or id)"
    )


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _execute(fn, params: dict, seed: int, label: str, limit_threads: bool) -> dict:
    """Run one task function; errors become a TaskError naming the task and carrying the
    worker's traceback as text (so it survives pickling to the coordinator)."""
    if limit_threads:
        _limit_threads()
        _limit_numba_threads()
    t0 = time.perf_counter()
    try:
        result = fn(params, seed)
        if not isinstance(result, dict):
            raise TypeError(f"task function returned {type(result).__name__}, must return a dict")
        result = _jsonify(result, "result")
    except Exception as exc:  # noqa: BLE001 - re-raised with the task named
        tb = traceback.format_exc()
        raise TaskError(
            f"task {label} failed on {_worker_name()}: {type(exc).__name__}: {exc}\n"
            f"worker traceback:\n{tb}"
        ) from None
    return {
        "result": result,
        "wall_s": time.perf_counter() - t0,
        "worker": _worker_name(),
        "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def _label(task: Task) -> str:
    return f"{task.short_id} ({task.describe()})"


def _payload(task: Task, limit_threads: bool) -> tuple:
    return (
        get_kind(task.kind).fn,
        thaw(task.params),
        task.effective_seed,
        _label(task),
        limit_threads,
    )


# ---------------------------------------------------------------------------------------------
# Executors: generators of (task, outcome dict) in completion order
# ---------------------------------------------------------------------------------------------


def _run_serial(tasks: Sequence[Task], **_) -> Iterator[tuple[Task, dict]]:
    for t in tasks:
        yield t, _execute(*_payload(t, False))


def _default_start_method() -> str:
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # respects cgroups/cpusets (SLURM allocations)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_GUARD_HINT = (
    "run_sweep() was called while a worker process was importing the main script. Worker "
    "processes import the script that started them, so put the sweep under "
    '`if __name__ == "__main__":` (see the multiprocessing docs, \'safe importing of main '
    "module')."
)


def _main_lacks_guard() -> bool:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not os.path.exists(path):
        return False
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return False
    return "__main__" not in text


def _run_local(
    tasks: Sequence[Task], *, workers: int | None, start_method: str | None, **_
) -> Iterator[tuple[Task, dict]]:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    n = min(workers or _cpu_count(), len(tasks))
    ctx = mp.get_context(start_method or _default_start_method())
    # A pipe whose write end only the coordinator keeps: workers see EOF when it dies.
    alive_r, alive_w = ctx.Pipe(duplex=False)
    pool = ProcessPoolExecutor(
        max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(alive_r, alive_w)
    )
    futures = {}
    try:
        for t in tasks:
            futures[pool.submit(_execute, *_payload(t, True))] = t
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            # Deterministic order within a batch, so logs read the same for the same timing.
            for fut in sorted(done, key=lambda f: futures[f].id):
                try:
                    outcome = fut.result()
                except BrokenProcessPool:
                    raise TaskError(_broken_pool_message(futures[fut])) from None
                yield futures[fut], outcome
    finally:
        _shutdown_pool(pool)
        alive_r.close()
        alive_w.close()


def _broken_pool_message(task: Task) -> str:
    tail = "Rows of finished tasks are kept; run again to resume."
    if _main_lacks_guard():
        return f"worker processes could not start: {_GUARD_HINT} {tail}"
    return (
        f"a worker process died while task {_label(task)} was running or queued: it was killed "
        "(out of memory?) or crashed in native code; if the sweep runs from a script, check that "
        f'it is under `if __name__ == "__main__":`. {tail}'
    )


def _shutdown_pool(pool) -> None:
    # Running tasks are abandoned, not awaited (they may take hours); their rows were not
    # written, so a resumed sweep redoes them.
    procs = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)


def _run_dask(
    tasks: Sequence[Task], *, workers: int | None, scheduler: str | None, **_
) -> Iterator[tuple[Task, dict]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ParameterError(
            "executor='dask' needs dask.distributed: pip install 'dask[distributed]'"
        ) from None
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        cluster = LocalCluster(
            n_workers=min(workers or _cpu_count(), len(tasks)),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",  # a free port: never clash with another cluster's 8787
            silence_logs=logging.WARNING,
        )
        client = Client(cluster)
        log.info("Dask local cluster: %s, dashboard %s", cluster.scheduler_address,
                 cluster.dashboard_link)  # fmt: skip
    futures = {}
    try:
        for t in tasks:
            # The key is the task id: two sweeps submitting the same task share the result.
            fut = client.submit(
                _execute, *_payload(t, True), key=f"latticediff-{t.id}", pure=False, retries=0
            )
            futures[fut.key] = (fut, t)
        for fut in as_completed([f for f, _ in futures.values()]):
            task = futures[fut.key][1]
            try:
                outcome = fut.result()
            except TaskError:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker, lost connection
                raise TaskError(
                    f"task {_label(task)} failed on the Dask cluster: {type(exc).__name__}: {exc}"
                ) from exc
            fut.release()
            yield task, outcome
    finally:
        for fut, _ in futures.values():
            if not fut.done():
                fut.cancel()
        client.close()
        if cluster is not None:
            cluster.close()


_RUNNERS = {"local": _run_local, "dask": _run_dask, "serial": _run_serial}


# ---------------------------------------------------------------------------------------------


def _as_tasks(tasks) -> list[Task]:
    if isinstance(tasks, str | os.PathLike):
        return load_plan(tasks)
    if isinstance(tasks, Task):
        tasks = [tasks]
    if not isinstance(tasks, Iterable):
        raise ParameterError(
            f"run_sweep: tasks must be a plan path or a list of Task, got {tasks!r}"
        )
    return check_plan(tasks)


def _warmup(tasks: Sequence[Task]) -> None:
    by_kind: dict[str, list] = {}
    for t in tasks:
        by_kind.setdefault(t.kind, []).append(thaw(t.params))
    for name, plist in by_kind.items():
        kind = get_kind(name)
        if kind.warmup is None:
            continue
        t0 = time.perf_counter()
        try:
            kind.warmup(plist)
            log.info("warmed up kind %s in %.1f s", name, time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - warm-up only saves time; the tasks will tell
            log.info("warm-up of kind %s skipped: %s: %s", name, type(exc).__name__, exc)


def run_sweep(
    tasks,
    results_path,
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    shard=None,
    progress: bool = True,
    quiet: bool = False,
    start_method: str | None = None,
) -> SweepSummary:
    """Run the tasks not yet in ``results_path`` and append a row for each as it finishes.

    Parameters
    ----------
    tasks : a list of :class:`Task` or the path of a TOML plan; validated in full first.
    results_path : JSON Lines results file (created if missing; only appended to).
    executor : ``"local"`` (worker processes, default), ``"dask"``, or ``"serial"`` (in this
        process, one task after another: for debugging).
    workers : number of worker processes (default: the CPUs available to this process).
        For ``dask``, the size of the local cluster; it conflicts with ``scheduler``.
    scheduler : Dask scheduler address (``tcp://host:port``); only with ``executor="dask"``.
    shard : ``"i/n"`` or ``(i, n)``: only the tasks at plan positions ``i mod n``.
    progress : show a tqdm progress bar with ETA (stderr).
    quiet : no progress bar (batch jobs); one log record per finished task is emitted on the
        ``latticediff.sweep`` logger either way.
    start_method : multiprocessing start method for ``local`` (default ``forkserver`` on POSIX).

    A task failure raises :class:`TaskError` naming the task, after keeping the rows of finished
    tasks; running it again resumes. A finished sweep does no work and leaves the file untouched.

    >>> import tempfile, pathlib
    >>> from latticediff.sweep import Task, run_sweep, read_results
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> tasks = [Task("sleep", {"value": v}) for v in (1, 2, 3)]
    >>> print(run_sweep(tasks, out, executor="serial", quiet=True))  # doctest: +ELLIPSIS
    3 tasks: 0 already done, 3 run (serial) in ... s -> ...r.jsonl
    >>> run_sweep(tasks, out, executor="serial", quiet=True).n_run
    0
    """
    t_start = time.perf_counter()
    if executor not in EXECUTORS:
        raise ParameterError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if scheduler is not None and executor != "dask":
        raise ParameterError(
            f"scheduler={scheduler!r} needs executor='dask' (got executor={executor!r})"
        )
    if scheduler is not None and workers is not None:
        raise ParameterError(
            "workers and scheduler conflict: with a scheduler address the cluster's own "
            "workers run the tasks"
        )
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ParameterError(f"workers must be an integer >= 1, got {workers!r}")
    if start_method is not None and start_method not in mp.get_all_start_methods():
        raise ParameterError(
            f"start_method must be one of {mp.get_all_start_methods()}, got {start_method!r}"
        )
    if executor == "local" and getattr(mp.current_process(), "_inheriting", False):
        raise RuntimeError(_GUARD_HINT)
    plan = _as_tasks(tasks)
    selected = select_shard(plan, shard)
    path = Path(results_path)

    done = finished_ids(path)
    pending = [t for t in selected if t.id not in done]
    n_skipped = len(selected) - len(pending)
    if not pending:
        # Nothing to do: do not open the file for writing at all (byte- and mtime-identical).
        summary = SweepSummary(path, len(plan), len(selected), n_skipped, 0, 0.0, executor)
        log.info("nothing to do: %s", summary)
        return summary

    n_run = 0
    with ResultsWriter(path) as writer:
        pending = [t for t in pending if t.id not in writer.ids]  # re-read under the lock
        n_skipped = len(selected) - len(pending)
        log.info(
            "sweep: %d tasks, %d already done, %d to run (%s)",
            len(selected),
            n_skipped,
            len(pending),
            executor,
        )
        if executor != "serial" and scheduler is None:
            _warmup(pending)
        bar = _bar(len(selected), n_skipped, progress and not quiet)
        runner = _RUNNERS[executor]
        try:
            for task, out in runner(
                pending, workers=workers, scheduler=scheduler, start_method=start_method
            ):
                row = make_row(
                    task, out["result"], wall_s=out["wall_s"], worker=out["worker"],
                    finished=out["finished"],
                )  # fmt: skip
                writer.append(row)
                n_run += 1
                if bar is not None:
                    bar.update(1)
                log.info(
                    "done %s in %.2f s on %s [%d/%d]",
                    _label(task),
                    out["wall_s"],
                    out["worker"],
                    n_skipped + n_run,
                    len(selected),
                )
        finally:
            if bar is not None:
                bar.close()
    summary = SweepSummary(
        path, len(plan), len(selected), n_skipped, n_run, time.perf_counter() - t_start, executor
    )
    log.info("finished: %s", summary)
    return summary


def _bar(total: int, initial: int, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, desc="sweep", unit="task", dynamic_ncols=True, smoothing=0.05
    )
