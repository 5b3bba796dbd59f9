"""A sweep killed with SIGKILL mid-run resumes and ends with exactly the complete set of rows,
identical (deterministic part) to an uninterrupted run; finished tasks are never redone."""

import os
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter

import pytest

import latticediff.sweep as sw

N_TASKS = 12


def complete_rows(path):
    if not path.exists():
        return 0
    return path.read_bytes().count(b"\n")


def det(path):
    rows = sw.read_results(path)
    return {r["id"]: sw.deterministic_part(r) for r in rows}


def sweep_cmd(plan, out):
    return [
        sys.executable, "-m", "latticediff.sweep.cli", "sweep", str(plan),
        "-o", str(out), "--workers", "2", "--quiet",
    ]  # fmt: skip


def test_sigkill_mid_run_then_resume(tmp_path):
    psutil = pytest.importorskip("psutil")
    log = tmp_path / "runs.log"
    plan = tmp_path / "plan.toml"
    values = ", ".join(str(v) for v in range(N_TASKS))
    plan.write_text(
        f'[[sweep]]\nkind = "sleep"\nseconds = 0.3\nlog = "{log}"\n'
        f"[sweep.grid]\nvalue = [{values}]\n"
    )
    out = tmp_path / "results.jsonl"
    with open(tmp_path / "first.err", "wb") as err:
        proc = subprocess.Popen(sweep_cmd(plan, out), stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 90
        while complete_rows(out) < 2:
            assert proc.poll() is None, (tmp_path / "first.err").read_text()
            assert time.monotonic() < deadline, "sweep did not start"
            time.sleep(0.02)
        helpers = psutil.Process(proc.pid).children(recursive=True)  # forkserver + workers
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    n_before = complete_rows(out)
    assert 2 <= n_before < N_TASKS, "the kill must land mid-run"
    # Orphaned workers notice the coordinator is gone and stop computing.
    _, alive = psutil.wait_procs(helpers, timeout=20)
    assert not alive, f"orphaned processes still running: {alive}"
    done_before = {r["params"]["value"] for r in sw.read_results(out)}

    # Also emulate a crash in the middle of writing a row.
    with open(out, "ab") as f:
        f.write(b'{"id":"0123456789abcdef","kind":"sle')

    proc2 = subprocess.run(sweep_cmd(plan, out), capture_output=True, text=True, timeout=180)
    assert proc2.returncode == 0, proc2.stderr
    assert f"{n_before} already done, {N_TASKS - n_before} run" in proc2.stdout

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torn tail left
        rows = sw.read_results(out, dedupe=False)
    ids = [r["id"] for r in rows]
    tasks = sw.load_plan(plan)
    assert len(ids) == len(set(ids)) == N_TASKS
    assert set(ids) == {t.id for t in tasks}
    assert out.read_bytes().count(b"\n") == N_TASKS and out.read_bytes().endswith(b"\n")

    # Tasks finished before the kill ran exactly once.
    runs = Counter(float(line.split()[0]) for line in log.read_text().splitlines())
    assert all(runs[v] == 1 for v in done_before)
    assert set(runs) == set(map(float, range(N_TASKS)))

    # Identical to an uninterrupted run (deterministic part of each row).
    ref = tmp_path / "reference.jsonl"
    sw.run_sweep(tasks, ref, executor="local", workers=2, quiet=True)
    assert det(out) == det(ref)
