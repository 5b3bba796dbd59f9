"""``latticediff sweep | combine | plot``, tested in-process (DESIGN.md §7.6).

Runs through ``latticediff.sweep.cli.main`` and, once the subcommands are wired into
``latticediff._cli``, through the package's own entry point too."""

import csv

import pytest

import latticediff.sweep as sw
from latticediff.sweep import cli as sweep_cli


def _package_main():
    from latticediff import _cli

    _cli._build_parser()  # wiring, if any, happens here
    if "sweep" not in _cli._COMMANDS:
        pytest.skip("sweep subcommands not wired into latticediff._cli yet")
    return _cli.main


@pytest.fixture(params=["sweep.cli", "_cli"])
def main(request):
    return sweep_cli.main if request.param == "sweep.cli" else _package_main()


def write_plan(tmp_path, body, name="plan.toml"):
    p = tmp_path / name
    p.write_text(body)
    return p


def sleep_plan(tmp_path, n=4, extra=""):
    log = tmp_path / "runs.log"
    values = ", ".join(str(v) for v in range(n))
    body = f'[[sweep]]\nkind = "sleep"\nlog = "{log}"\n{extra}[sweep.grid]\nvalue = [{values}]\n'
    return write_plan(tmp_path, body), log


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("latticediff: error: ")
    return lines[0]


def test_sweep_runs_then_resumes_as_a_no_op(main, tmp_path, capsys):
    plan, log = sleep_plan(tmp_path)
    assert main(["sweep", str(plan), "--workers", "2", "--quiet"]) == 0
    out = tmp_path / "plan.results.jsonl"  # default output beside the plan
    assert "4 tasks: 0 already done, 4 run (local)" in capsys.readouterr().out
    assert len(sw.read_results(out)) == 4 and len(log.read_text().splitlines()) == 4
    data = out.read_bytes()
    assert main(["sweep", str(plan), "--executor", "serial", "-o", str(out)]) == 0
    assert "4 already done, 0 run" in capsys.readouterr().out
    assert out.read_bytes() == data and len(log.read_text().splitlines()) == 4


BAD = {
    "unknown kind": ('[[sweep]]\nkind = "sleeep"\n', r"task[0] (kind 'sleeep'", "unknown kind"),
    "missing parameter": (
        '[[sweep]]\nkind = "chain_cmi"\nK = 1.0\n[sweep.grid]\np = [0.1]\n',
        "task[0] (kind 'chain_cmi'",
        "missing parameter 'r'",
    ),
    "wrong type": (
        '[[sweep]]\nkind = "chain_cmi"\nK = 1.0\np = 0.1\n[sweep.grid]\nr = [1, 2.5]\n',
        "task[1] (kind 'chain_cmi'",
        "parameter 'r' must be an integer, got 2.5 (float)",
    ),
    "out of range": (
        '[[sweep]]\nkind = "exact_ising"\n[sweep.grid]\nT = [2.0, -1.0]\n',
        "task[1] (kind 'exact_ising'",
        "parameter 'T' must be > 0, got -1.0",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_plan_one_line_exit_2_no_work(main, tmp_path, capsys, case):
    good, log = sleep_plan(tmp_path, n=3)
    text, where, what = BAD[case]
    plan = write_plan(tmp_path, good.read_text() + text, "bad.toml")
    out = tmp_path / "r.jsonl"
    assert main(["sweep", str(plan), "-o", str(out), "--workers", "2"]) == 2
    line = one_error_line(capsys.readouterr().err)
    # tasks 0-2 are the good sleep tasks, so the bad task's index is shifted by 3
    i = int(where[5])
    assert where.replace(f"task[{i}]", f"task[{i + 3}]") in line and what in line
    assert str(plan) in line
    assert not out.exists() and not log.exists()


def test_dry_run_counts_without_running(main, tmp_path, capsys):
    plan, log = sleep_plan(tmp_path, n=5)
    out = tmp_path / "r.jsonl"
    assert main(["sweep", str(plan), "-o", str(out), "--executor", "serial", "--shard", "0/2"]) == 0
    capsys.readouterr()
    assert main(["sweep", str(plan), "-o", str(out), "--dry-run"]) == 0
    assert "5 valid tasks (sleep); 3 done, 2 to run" in capsys.readouterr().out
    assert len(log.read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--scheduler", "tcp://127.0.0.1:1"], "needs executor='dask'"),
        (["--shard", "2/2"], "shard must be 'i/n' with 0 <= i < n"),
        (["--workers", "many"], "invalid int value"),
        (["--executor", "threads"], "invalid choice"),
    ],
)
def test_bad_options_one_line_exit_2(main, tmp_path, capsys, args, pattern):
    plan, log = sleep_plan(tmp_path, n=2)
    assert main(["sweep", str(plan), *args]) == 2
    assert pattern in one_error_line(capsys.readouterr().err)
    assert not log.exists()


def test_missing_plan_file(main, tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert "plan file" in one_error_line(capsys.readouterr().err)


def test_task_failure_exit_1_names_the_task(main, tmp_path, capsys):
    plan, _ = sleep_plan(tmp_path, n=2, extra="fail = true\n")
    bad = sw.load_plan(plan)[0]
    assert main(["sweep", str(plan), "--executor", "serial"]) == 1
    err = capsys.readouterr().err
    assert f"task failed: task {bad.short_id}" in err
    assert "RuntimeError: sleep task asked to fail" in err and "worker traceback" in err


def test_shards_combine_csv_and_plot(main, tmp_path, capsys):
    plan = write_plan(
        tmp_path,
        '[[sweep]]\nkind = "sleep"\n[sweep.grid]\nseconds = [0.0, 0.01]\nvalue = [1, 2, 3]\n',
    )
    for i in range(2):
        assert main(["sweep", str(plan), "--shard", f"{i}/2", "--executor", "serial"]) == 0
    parts = [tmp_path / f"plan.results.shard-{i}-of-2.jsonl" for i in range(2)]
    assert [len(sw.read_results(p)) for p in parts] == [3, 3]
    out, table = tmp_path / "all.jsonl", tmp_path / "all.csv"
    args = ["combine", str(out), *map(str, parts), "--plan", str(plan), "--csv", str(table)]
    assert main(args) == 0
    assert "combined 2 files: 6 rows" in capsys.readouterr().out
    assert [r["id"] for r in sw.read_results(out)] == [t.id for t in sw.load_plan(plan)]
    with open(table, newline="") as f:
        recs = list(csv.DictReader(f))
    assert [(r["seconds"], r["value"]) for r in recs][:2] == [("0.0", "1.0"), ("0.0", "2.0")]
    # An existing output needs --force (unless it is one of the inputs).
    assert main(["combine", str(out), str(parts[0])]) == 2
    assert "exists; use --force" in one_error_line(capsys.readouterr().err)
    assert main(["combine", str(out), str(out), str(parts[0])]) == 0
    assert main(["combine", str(out), str(parts[0]), "--force"]) == 0
    assert len(sw.read_results(out)) == 3
    capsys.readouterr()
    fig = tmp_path / "fig.png"
    assert main(["plot", str(parts[0]), "--x", "value", "--y", "draw", "--group", "seconds",
                 "-o", str(fig)]) == 0  # fmt: skip
    assert fig.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", str(parts[0]), "--x", "value", "--y", "nope", "-o", str(fig)]) == 2
    assert "no rows have numeric 'value' and 'nope'" in one_error_line(capsys.readouterr().err)
    assert main(["combine", str(out), str(tmp_path / "missing.jsonl"), "--force"]) == 2
    assert "not found" in one_error_line(capsys.readouterr().err)
