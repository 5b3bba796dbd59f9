"""The Dask executor against a real scheduler and two worker processes on 127.0.0.1, started
here with the ``dask`` command line (as a user would on a cluster), and torn down afterwards."""

import json
import os
import subprocess
import sys
import time

import pytest

import latticediff.sweep as sw
from latticediff.sweep import Task, TaskError

pytest.importorskip("distributed")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _start(args, log):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-m", "dask", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # Ctrl-C in the test runner does not hit them mid-teardown
    )


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``dask scheduler`` on a free port (port 0, address read from the scheduler file) and two
    single-threaded ``dask worker`` processes (no nanny: one OS process each)."""
    from distributed import Client

    d = tmp_path_factory.mktemp("dask")
    sched_file = d / "scheduler.json"
    log = open(d / "cluster.log", "wb")
    procs = [
        _start(
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(sched_file)],
            log,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 45
        while not sched_file.exists():
            assert procs[0].poll() is None, (d / "cluster.log").read_text()
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.1)  # the file is written in one go; give it a moment to be complete
        address = json.loads(sched_file.read_text())["address"]
        for _ in range(2):
            procs.append(
                _start(
                    ["worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                     "--host", "127.0.0.1", "--death-timeout", "30"],
                    log,
                )
            )  # fmt: skip
        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=45)
            pids = set(c.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids
        yield address
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        log.close()


def det(path):
    rows = sw.read_results(path)
    return {r["id"]: sw.deterministic_part(r) for r in rows}


def small_plan():
    tasks = [Task("sleep", {"value": float(v), "seconds": 0.05}) for v in range(6)]
    tasks += [Task("sleep", {"value": 1.0}, seed=s) for s in (1, 2)]
    from latticediff import exact

    if hasattr(exact, "ising_energy"):
        tasks += [Task("exact_ising", {"T": T, "L": 4}) for T in (2.0, 2.5)]
    return tasks


def test_dask_scheduler_gives_the_same_results_as_local(dask_cluster, tmp_path):
    tasks = small_plan()
    local = tmp_path / "local.jsonl"
    sw.run_sweep(tasks, local, executor="local", workers=2, quiet=True)
    remote = tmp_path / "dask.jsonl"
    s = sw.run_sweep(tasks, remote, executor="dask", scheduler=dask_cluster, quiet=True)
    assert (s.n_run, s.n_skipped) == (len(tasks), 0)
    assert det(remote) == det(local)
    assert len(det(remote)) == len(tasks)
    workers = {r["worker"] for r in sw.read_results(remote)}
    assert len(workers) == 2  # both worker processes took part
    # Resuming against the cluster does nothing and leaves the file alone.
    data = remote.read_bytes()
    again = sw.run_sweep(tasks, remote, executor="dask", scheduler=dask_cluster, quiet=True)
    assert again.n_run == 0 and remote.read_bytes() == data


def test_dask_task_failure_names_the_task(dask_cluster, tmp_path):
    bad = Task("sleep", {"value": 3.0, "fail": True})
    tasks = [Task("sleep", {"value": 1.0}), bad]
    with pytest.raises(TaskError) as e:
        sw.run_sweep(
            tasks, tmp_path / "r.jsonl", executor="dask", scheduler=dask_cluster, quiet=True
        )
    msg = str(e.value)
    assert f"task {bad.short_id} (sleep value=3.0 fail=True)" in msg
    assert "RuntimeError: sleep task asked to fail" in msg and "worker traceback" in msg


def test_dask_local_cluster_without_address(tmp_path):
    tasks = small_plan()[:4]
    ref = tmp_path / "serial.jsonl"
    sw.run_sweep(tasks, ref, executor="serial", quiet=True)
    out = tmp_path / "dask.jsonl"
    sw.run_sweep(tasks, out, executor="dask", workers=2, quiet=True)
    assert det(out) == det(ref)
