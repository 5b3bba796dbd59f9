"""``latticediff sweep | combine | plot``: the sweep layer's subcommands.

Wired into ``latticediff._cli`` by :func:`add_sweep_parsers`, which adds the three parsers to
the ``subparsers`` object and returns ``{command: handler}`` for the command table. Errors that
are the user's (bad plan, missing file, conflicting options) raise LatticeDiffError subclasses,
which ``latticediff._cli.main`` turns into one line and exit status 2; a failing *task* prints
the task and the worker's traceback and exits with status 1.

This module also runs on its own (``python -m latticediff.sweep.cli sweep plan.toml``), with the
same behaviour.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

__all__ = ["add_sweep_parsers", "cmd_sweep", "cmd_combine", "cmd_plot", "main"]


def add_sweep_parsers(subparsers) -> dict:
    """Add the ``sweep``, ``combine`` and ``plot`` subcommands; return their handlers."""
    from .executors import EXECUTORS

    s = subparsers.add_parser(
        "sweep",
        help="run a sweep plan (TOML); resumes where a previous run stopped",
        description="Run the tasks of a TOML plan that are not yet in the results file.",
    )
    s.add_argument("plan", help="sweep plan (TOML with [[sweep]] blocks)")
    s.add_argument(
        "-o",
        "--output",
        default=None,
        help="results file (JSON Lines; default: PLAN.results.jsonl beside the plan, "
        "PLAN.results.shard-I-of-N.jsonl with --shard)",
    )
    s.add_argument(
        "--executor",
        default="local",
        choices=EXECUTORS,
        help="local worker processes (default), dask, or serial (in-process)",
    )
    s.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address, e.g. tcp://host:8786 (with --executor dask)",
    )
    s.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: available CPUs)"
    )
    s.add_argument("--shard", default=None, help="run only plan positions i mod n: 'i/n'")
    s.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar; log one line per finished task instead (batch jobs)",
    )
    s.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the plan and count done/pending tasks; run nothing",
    )

    c = subparsers.add_parser(
        "combine",
        help="merge results files (shards, interrupted runs) into one",
        description="Merge results files, dropping duplicate rows (which must agree).",
    )
    c.add_argument("out", help="merged results file (written atomically)")
    c.add_argument("inputs", nargs="+", help="results files to merge")
    c.add_argument("--plan", default=None, help="order rows as in this plan (default: by id)")
    c.add_argument("--csv", default=None, help="also write a tidy CSV table here")
    c.add_argument("--force", action="store_true", help="overwrite OUT if it exists")

    p = subparsers.add_parser(
        "plot",
        help="plot a result field against a parameter",
        description="Plot FIELD against PARAM from a results file, one line per --group value.",
    )
    p.add_argument("results", help="results file (JSON Lines)")
    p.add_argument("--x", required=True, help="parameter on the x axis (dotted for tables)")
    p.add_argument("--y", required=True, help="result field on the y axis (error bars: Y_err)")
    p.add_argument("--group", default=None, help="parameter that separates the lines")
    p.add_argument("--kind", default=None, help="only rows of this task kind")
    p.add_argument("--logy", action="store_true", help="logarithmic y axis")
    p.add_argument("-o", "--output", required=True, help="figure file (.png, .pdf, .svg)")
    return {"sweep": cmd_sweep, "combine": cmd_combine, "plot": cmd_plot}


def _default_output(plan: Path, shard) -> Path:
    if shard is None:
        return plan.with_name(f"{plan.stem}.results.jsonl")
    i, n = shard
    return plan.with_name(f"{plan.stem}.results.shard-{i}-of-{n}.jsonl")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (in-process callers may swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


@contextlib.contextmanager
def _logging(quiet: bool):
    """One-line records on stderr for the duration of a command.

    With a progress bar, per-task lines would fight it (WARNING and up only); batch jobs
    (``--quiet``) get one INFO line per finished task instead of the bar.
    """
    logger = logging.getLogger("latticediff.sweep")
    h = _StderrHandler()
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    old_level = logger.level
    logger.addHandler(h)
    logger.setLevel(logging.INFO if quiet else logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(h)
        logger.setLevel(old_level)


def cmd_sweep(a) -> int:
    from .executors import TaskError, parse_shard, run_sweep
    from .plan import load_plan
    from .results import finished_ids

    shard = parse_shard(a.shard)
    plan_path = Path(a.plan)
    tasks = load_plan(plan_path)  # validate everything before any work
    out = Path(a.output) if a.output else _default_output(plan_path, shard)
    if a.dry_run:
        from .executors import select_shard

        sel = select_shard(tasks, shard)
        done = finished_ids(out)
        n_done = sum(t.id in done for t in sel)
        kinds = sorted({t.kind for t in sel})
        print(
            f"{plan_path}: {len(tasks)} valid tasks ({', '.join(kinds)})"
            + (f", {len(sel)} in shard {a.shard}" if shard else "")
            + f"; {n_done} done, {len(sel) - n_done} to run -> {out}"
        )
        return 0
    try:
        with _logging(a.quiet):
            summary = run_sweep(
                tasks,
                out,
                executor=a.executor,
                workers=a.workers,
                scheduler=a.scheduler,
                shard=shard,
                progress=not a.quiet,
                quiet=a.quiet,
            )
    except TaskError as exc:
        print(f"latticediff: task failed: {exc}", file=sys.stderr)
        print(f"latticediff: finished rows are kept in {out}; run again to resume", file=sys.stderr)
        return 1
    print(summary)
    return 0


def cmd_combine(a) -> int:
    from .plan import load_plan
    from .results import combine, to_csv

    out = Path(a.out)
    inputs = [Path(p) for p in a.inputs]
    resolved = {p.resolve() for p in inputs}
    if out.exists() and not a.force and out.resolve() not in resolved:
        raise FileExistsError(f"output file {str(out)!r} exists; use --force to overwrite")
    for p in inputs:
        if not p.exists():
            raise FileNotFoundError(f"results file {str(p)!r} not found")
    tasks = load_plan(a.plan) if a.plan else None
    rows = combine(inputs, out, tasks=tasks)
    msg = f"combined {len(inputs)} files: {len(rows)} rows -> {out}"
    if a.csv:
        to_csv(rows, a.csv)
        msg += f" (CSV: {a.csv})"
    print(msg)
    return 0


def cmd_plot(a) -> int:
    from .results import plot_results

    path = plot_results(
        a.results, x=a.x, y=a.y, group=a.group, out=a.output, kind=a.kind, logy=a.logy
    )
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry with the same error conventions as ``latticediff``."""
    from .._cli import _Parser, run_cli

    parser = _Parser(prog="latticediff", description="latticediff sweep subcommands")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    return run_cli(parser, add_sweep_parsers(sub), argv)


if __name__ == "__main__":
    sys.exit(main())
