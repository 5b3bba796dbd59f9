"""Parameter sweeps: validated tasks, resumable results, local processes or Dask.

A sweep is a list of :class:`Task` objects (from Python, or a TOML plan via :func:`load_plan`),
run by :func:`run_sweep` into an append-only JSON Lines results file. Each task's identity is a
hash of its canonical JSON; its seed derives from that identity, so results do not depend on the
executor, the worker count or the order. Re-running a finished sweep does no work; an interrupted
one (even by SIGKILL) resumes with nothing lost and nothing duplicated. Shards (``shard="i/n"``)
and :func:`combine` cover clusters without Dask; :func:`to_csv` gives a tidy table.

>>> import tempfile, pathlib
>>> import latticediff.sweep as sw
>>> out = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
>>> tasks = sw.expand("sleep", grid=sw.grid(value=[0.5, 1.5]))
>>> sw.run_sweep(tasks, out, executor="serial", quiet=True).n_run
2
>>> [r["result"]["value"] for r in sw.read_results(out)]
[0.5, 1.5]
"""

from .executors import EXECUTORS, SweepSummary, TaskError, parse_shard, run_sweep, select_shard
from .kinds import REQUIRED, Kind, Param, get_kind, known_kinds, register_kind, unregister_kind
from .plan import check_plan, expand, grid, load_plan, plan_from_dict, zip_
from .results import (
    RUN_FIELDS,
    ResultsWriter,
    TornTailWarning,
    combine,
    deterministic_part,
    encode_row,
    finished_ids,
    make_row,
    plot_results,
    read_results,
    table,
    to_csv,
)
from .task import PlanError, Task, canonical_json

__all__ = [
    "Task",
    "PlanError",
    "TaskError",
    "canonical_json",
    "Param",
    "Kind",
    "REQUIRED",
    "register_kind",
    "unregister_kind",
    "get_kind",
    "known_kinds",
    "grid",
    "zip_",
    "expand",
    "load_plan",
    "plan_from_dict",
    "check_plan",
    "run_sweep",
    "SweepSummary",
    "select_shard",
    "parse_shard",
    "EXECUTORS",
    "ResultsWriter",
    "make_row",
    "encode_row",
    "read_results",
    "finished_ids",
    "deterministic_part",
    "combine",
    "table",
    "to_csv",
    "plot_results",
    "TornTailWarning",
    "RUN_FIELDS",
]
