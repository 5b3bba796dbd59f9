"""Plans: TOML and Python expansion, and rejection of bad plans before any work starts."""

from pathlib import Path

import pytest

import latticediff.sweep as sw
from latticediff.sweep import PlanError, Task

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, text, name="plan.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_grid_zip_and_expand_helpers():
    assert sw.grid(a=[1, 2], b=[3]) == [{"a": 1, "b": 3}, {"a": 2, "b": 3}]
    assert sw.zip_(a=[1, 2], b=[3, 4]) == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
    with pytest.raises(PlanError, match="equal lengths"):
        sw.zip_(a=[1, 2], b=[3])
    with pytest.raises(PlanError, match="non-empty list"):
        sw.grid(a=[])
    with pytest.raises(PlanError, match="non-empty list"):
        sw.grid(a="abc")
    tasks = sw.expand(
        "sleep",
        params={"seconds": 0.0},
        grid=sw.grid(value=[1, 2]),
        zip=sw.zip_(fail=[False], log=[""]),
    )
    assert [t.params["value"] for t in tasks] == [1.0, 2.0]
    with pytest.raises(PlanError, match="'value' is given more than once"):
        sw.expand("sleep", params={"value": 1.0}, grid=sw.grid(value=[1, 2]))


def test_toml_plan_expansion_order_and_features(tmp_path):
    p = write(
        tmp_path,
        """
name = "demo"
[[sweep]]
kind = "exact_ising"
[sweep.grid]
L = [4, 8]
T = [2.0, 2.5, 3.0]

[[sweep]]
kind = "mc"
n_samples = 100
model = { model = "ising", L = 8, T = 2.0 }
upstream = "data:abc"
[sweep.grid]
model.T = [2.0, 3.0]
seed = [1, 2]

[[sweep]]
kind = "sleep"
seconds = 0.0
[sweep.zip]
value = [1, 2, 3]
fail = [false, false, false]
""",
    )
    tasks = sw.load_plan(p)
    assert len(tasks) == 6 + 4 + 3
    # grid: first key slowest
    assert [(t.params["L"], t.params["T"]) for t in tasks[:6]] == [
        (4, 2.0), (4, 2.5), (4, 3.0), (8, 2.0), (8, 2.5), (8, 3.0)
    ]  # fmt: skip
    mc = tasks[6:10]
    assert [(t.params["model"]["T"], t.seed) for t in mc] == [
        (2.0, 1), (2.0, 2), (3.0, 1), (3.0, 2)
    ]  # fmt: skip
    assert all(t.params["model"]["L"] == 8 and t.upstream == ("data:abc",) for t in mc)
    assert [t.params["value"] for t in tasks[10:]] == [1.0, 2.0, 3.0]
    # The same plan given as Python tasks has the same ids, in the same order.
    py = [Task("exact_ising", {"L": L, "T": T}) for L in (4, 8) for T in (2.0, 2.5, 3.0)]
    assert [t.id for t in py] == [t.id for t in tasks[:6]]


def test_example_plan_is_valid():
    tasks = sw.load_plan(REPO / "analysis" / "sweeps" / "example.toml")
    assert {t.kind for t in tasks} == {"exact_ising", "mc", "chain_cmi"}
    assert len(tasks) == len({t.id for t in tasks})


BAD_PLANS = {
    # case: (toml, pattern naming task index, field, and what is wrong)
    "unknown kind": (
        '[[sweep]]\nkind = "sleep"\n[sweep.grid]\nvalue = [1, 2]\n'
        '[[sweep]]\nkind = "exact_isnig"\nT = 2.0\n',
        r"task\[2\] \(kind 'exact_isnig', id [0-9a-f]{16}\): unknown kind 'exact_isnig'; "
        r"known kinds: .*exact_ising",
        "kind",
    ),
    "missing parameter": (
        '[[sweep]]\nkind = "exact_ising"\n[sweep.grid]\nL = [4, 8]\n',
        r"task\[0\] \(kind 'exact_ising', id [0-9a-f]{16}\): missing parameter 'T'",
        "T",
    ),
    "wrong type": (
        '[[sweep]]\nkind = "exact_ising"\n[sweep.grid]\nT = [2.0, 2.5]\nL = [4, "8"]\n',
        r"task\[1\] \(kind 'exact_ising', id [0-9a-f]{16}\): parameter 'L' must be an integer, "
        r"got '8' \(str\)",
        "L",
    ),
    "out of range": (
        '[[sweep]]\nkind = "chain_cmi"\nK = 1.0\nr = 2\n[sweep.grid]\np = [0.1, 0.3, 0.7]\n',
        r"task\[2\] \(kind 'chain_cmi', id [0-9a-f]{16}\): parameter 'p' must be <= 0.5, got 0.7",
        "p",
    ),
    "out of range in a model table": (
        '[[sweep]]\nkind = "mc"\nn_samples = 10\nmodel = {model = "ising", L = 8, T = 2.0}\n'
        "[sweep.grid]\nmodel.L = [8, 1]\n",
        r"task\[1\] \(kind 'mc', id [0-9a-f]{16}\): parameter 'model' is invalid: Ising: L must "
        r"be >= 2, got 1",
        "model",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PLANS))
def test_bad_plans_rejected_naming_task_and_field(tmp_path, case):
    text, pattern, field = BAD_PLANS[case]
    p = write(tmp_path, text)
    with pytest.raises(PlanError, match=pattern) as e:
        sw.load_plan(p)
    assert str(e.value).startswith(str(p))
    assert e.value.field == field
    assert e.value.index is not None and f"task[{e.value.index}]" in str(e.value)


@pytest.mark.parametrize("case", list(BAD_PLANS))
def test_bad_plans_do_no_work(tmp_path, case):
    """The bad task comes after good ones: nothing runs, no results file appears."""
    text, _, _ = BAD_PLANS[case]
    log = tmp_path / "runs.log"
    good = f'[[sweep]]\nkind = "sleep"\nlog = "{log}"\n[sweep.grid]\nvalue = [10, 20, 30]\n'
    p = write(tmp_path, good + text)
    out = tmp_path / "results.jsonl"
    for executor in ("serial", "local"):
        with pytest.raises(PlanError):
            sw.run_sweep(p, out, executor=executor, workers=2, quiet=True)
    assert not log.exists() and not out.exists()


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('[[sweep]]\nkind = "sleep"\nvalue = 1.0\n[sweep.grid]\nvalue = [1.0, 2.0]\n',
         r"task\[0\].*'value' is given more than once"),
        ('[[sweep]]\nkind = "sleep"\n[sweep.zip]\nvalue = [1.0, 2.0]\nseconds = [0.0]\n',
         r"sweep block 0: .*equal lengths"),
        ('[[sweep]]\nkind = "sleep"\n[sweep.grid]\nvalue = []\n', r"non-empty list"),
        ('[[sweep]]\nkind = "sleep"\n[sweep.grid]\nvalue = [1.0, 1]\n',
         r"task\[1\] \(id [0-9a-f]{16}\) duplicates task\[0\]"),
        ('[[sweep]]\nvalue = 1.0\n', r"sweep block 0 \(task\[0\] onwards\): missing 'kind'"),
        ('[[sweep]]\nkind = "sleep"\nseed = 1\n[sweep.grid]\nseed = [1, 2]\n',
         r"'seed' is given more than once"),
        ('[[sweep]]\nkind = "sleep"\nseed = -3\n', r"task\[0\].*seed must be a non-negative"),
        ('[[sweep]]\nkind = "mc"\nn_samples = 5\nmodel = 3\n[sweep.grid]\nmodel.T = [1.0]\n',
         r"'model.T' addresses a key inside 'model', which is not a table"),
        ("[[sweep]]\nkind = 'sleep'\n[runs]\nx = 1\n", r"unknown top-level key 'runs'"),
        ("title = 'x'\n", r"unknown top-level key 'title'"),
        ("name = 'x'\n", r"no \[\[sweep\]\] blocks"),
        ("[[sweep]\nkind = 'sleep'\n", r"not valid TOML"),
    ],
)  # fmt: skip
def test_other_plan_errors(tmp_path, text, pattern):
    with pytest.raises(PlanError, match=pattern):
        sw.load_plan(write(tmp_path, text))


def test_missing_plan_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="plan file"):
        sw.load_plan(tmp_path / "nope.toml")


def test_check_plan_rejects_non_tasks_and_duplicates():
    t = Task("sleep", {"value": 1.0})
    with pytest.raises(PlanError, match=r"task\[1\] is not a Task"):
        sw.check_plan([t, {"kind": "sleep"}])
    with pytest.raises(PlanError, match=r"task\[1\] .*duplicates task\[0\]"):
        sw.check_plan([t, Task("sleep", {"value": 1})])
