"""The local executor: determinism across executors/workers/order, no-op re-runs, shards,
failures, thread limits, and the missing-main-guard message. Worker counts stay at 2."""

import logging
import os
import subprocess
import sys
import textwrap

import pytest

import latticediff.sweep as sw
from latticediff.sweep import Task, TaskError


def det(path):
    """id -> deterministic part of each row of a results file."""
    rows = sw.read_results(path)
    out = {r["id"]: sw.deterministic_part(r) for r in rows}
    assert len(out) == len(rows)
    return out


def plan(n=6, **params):
    return [Task("sleep", {"value": float(v), **params}) for v in range(n)]


def count_runs(log):
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_local_matches_serial_whatever_workers_and_order(tmp_path):
    tasks = plan(6)
    if hasattr(__import__("latticediff").exact, "ising_energy"):
        tasks += [Task("exact_ising", {"T": T, "L": 4}) for T in (2.0, 3.0)]
    ref = tmp_path / "serial.jsonl"
    sw.run_sweep(tasks, ref, executor="serial", quiet=True)
    want = det(ref)
    assert set(want) == {t.id for t in tasks}
    sw.run_sweep(tasks[::-1], tmp_path / "reversed.jsonl", executor="serial", quiet=True)
    assert det(tmp_path / "reversed.jsonl") == want
    for workers in (1, 2):
        path = tmp_path / f"local{workers}.jsonl"
        s = sw.run_sweep(tasks, path, executor="local", workers=workers, quiet=True)
        assert (s.n_run, s.n_skipped) == (len(tasks), 0)
        assert det(path) == want
        workers_seen = {r["worker"] for r in sw.read_results(path)}
        assert all(not w.endswith(f":{os.getpid()}") for w in workers_seen)  # ran elsewhere
        assert len(workers_seen) <= workers


@pytest.mark.parametrize("executor", ["local", "serial"])
def test_second_run_does_no_work_and_leaves_file_byte_identical(tmp_path, executor):
    log = tmp_path / "runs.log"
    tasks = plan(5, log=str(log))
    path = tmp_path / "r.jsonl"
    first = sw.run_sweep(tasks, path, executor=executor, workers=2, quiet=True)
    assert first.n_run == 5 and count_runs(log) == 5
    data, st = path.read_bytes(), path.stat()
    again = sw.run_sweep(tasks, path, executor=executor, workers=2, quiet=True)
    assert (again.n_run, again.n_skipped) == (0, 5)
    assert count_runs(log) == 5  # no task function was called
    st2 = path.stat()
    assert path.read_bytes() == data
    assert (st2.st_mtime_ns, st2.st_size, st2.st_ino) == (st.st_mtime_ns, st.st_size, st.st_ino)
    # A longer plan runs only what is missing.
    more = tasks + plan(7, log=str(log))[5:]
    s = sw.run_sweep(more, path, executor=executor, workers=2, quiet=True)
    assert (s.n_run, s.n_skipped) == (2, 5) and count_runs(log) == 7
    assert path.read_bytes().startswith(data)


def test_shards_partition_the_plan_and_combine_to_the_full_run(tmp_path):
    tasks = plan(7)
    full = tmp_path / "full.jsonl"
    sw.run_sweep(tasks, full, executor="serial", quiet=True)
    parts = []
    for i in range(3):
        p = tmp_path / f"part{i}.jsonl"
        s = sw.run_sweep(tasks, p, executor="serial", shard=f"{i}/3", quiet=True)
        assert s.n_selected == len(range(i, 7, 3))
        parts.append(p)
    assert sum(len(sw.read_results(p)) for p in parts) == 7
    merged = sw.combine(parts, tmp_path / "all.jsonl", tasks=tasks)
    assert [r["id"] for r in merged] == [t.id for t in tasks]
    assert det(tmp_path / "all.jsonl") == det(full)
    assert sw.select_shard(tasks, (1, 3)) == [tasks[1], tasks[4]]


@pytest.mark.parametrize("executor", ["local", "serial"])
def test_failing_task_is_named_and_finished_rows_are_kept(tmp_path, executor):
    tasks = plan(2) + [Task("sleep", {"value": 7.0, "fail": True, "seconds": 0.2})]
    path = tmp_path / "r.jsonl"
    with pytest.raises(TaskError) as e:
        sw.run_sweep(tasks, path, executor=executor, workers=2, quiet=True)
    msg = str(e.value)
    bad = tasks[-1]
    assert f"task {bad.short_id} (sleep seconds=0.2 value=7.0 fail=True)" in msg
    assert "RuntimeError: sleep task asked to fail (value=7.0)" in msg
    assert "worker traceback" in msg and "in _sleep" in msg
    ids = set(det(path)) if path.exists() else set()
    assert bad.id not in ids and ids <= {t.id for t in tasks[:2]}
    # Resume without the failing task finishes the rest.
    sw.run_sweep(tasks[:2], path, executor=executor, workers=2, quiet=True)
    assert set(det(path)) == {t.id for t in tasks[:2]}


def _env_probe(params, seed):
    import numpy as np

    out = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out["draw"] = float(np.random.default_rng(seed).random())
    import numba  # imported after the worker set NUMBA_NUM_THREADS=1

    out["numba_threads"] = numba.get_num_threads()
    return out


sw.register_kind("test_env_probe", _env_probe, {"x": sw.Param("int")})


def test_user_kind_runs_in_workers_limited_to_one_thread(tmp_path):
    tasks = [Task("test_env_probe", {"x": i}) for i in range(3)]
    path = tmp_path / "r.jsonl"
    sw.run_sweep(tasks, path, executor="local", workers=2, quiet=True)
    rows = sw.read_results(path)
    assert len(rows) == 3
    for r in rows:
        assert r["result"]["OMP_NUM_THREADS"] == "1" and r["result"]["MKL_NUM_THREADS"] == "1"
        assert r["result"]["numba_threads"] == 1
    # The seeded draw is the same in-process (where thread settings are left alone).
    sw.run_sweep(tasks, tmp_path / "s.jsonl", executor="serial", quiet=True)
    draws = {k: (v["seed"], v["result"]["draw"]) for k, v in det(path).items()}
    assert draws == {
        k: (v["seed"], v["result"]["draw"]) for k, v in det(tmp_path / "s.jsonl").items()
    }


def test_progress_bar_and_one_log_line_per_task(tmp_path, capsys, caplog):
    tasks = plan(3)
    with caplog.at_level(logging.INFO, logger="latticediff.sweep"):
        sw.run_sweep(tasks, tmp_path / "r.jsonl", executor="serial", progress=True)
    err = capsys.readouterr().err
    assert "sweep" in err and "3/3" in err  # tqdm bar on stderr
    done = [r.getMessage() for r in caplog.records if r.getMessage().startswith("done ")]
    assert len(done) == 3 and all(t.short_id in " ".join(done) for t in tasks)
    assert all("\n" not in m for m in done)
    with caplog.at_level(logging.INFO, logger="latticediff.sweep"):
        sw.run_sweep(plan(4), tmp_path / "r.jsonl", executor="serial", quiet=True)
    assert "sweep" not in capsys.readouterr().err  # quiet: no bar


def test_conflicting_and_bad_options_raise(tmp_path):
    tasks, out = plan(1), tmp_path / "r.jsonl"
    cases = [
        (dict(executor="local", scheduler="tcp://127.0.0.1:1"), "needs executor='dask'"),
        (dict(executor="dask", scheduler="tcp://127.0.0.1:1", workers=2), "conflict"),
        (dict(executor="threads"), "executor must be one of local, dask, serial"),
        (dict(workers=0), "workers must be an integer >= 1"),
        (dict(shard="3/3"), "0 <= i < n"),
        (dict(shard="a/b"), "shard must be 'i/n'"),
        (dict(start_method="vfork"), "start_method must be one of"),
    ]
    for kw, pattern in cases:
        with pytest.raises(sw.PlanError.__mro__[1], match=pattern):
            sw.run_sweep(tasks, out, quiet=True, **kw)
    assert not out.exists()


def test_missing_main_guard_gives_a_clear_message(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import latticediff.sweep as sw
            tasks = [sw.Task("sleep", {{"value": float(v)}}) for v in range(2)]
            sw.run_sweep(tasks, {str(tmp_path / "r.jsonl")!r}, workers=2, quiet=True)
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode != 0
    assert 'put the sweep under `if __name__ == "__main__":`' in proc.stderr
    assert "TaskError: worker processes could not start" in proc.stderr
