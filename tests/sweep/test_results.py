"""Results files: row format, single writer, torn tails, combine, CSV, plots."""

import csv
import json
import math
import os
import warnings

import pytest

import latticediff.sweep as sw
from latticediff.errors import DataFileError
from latticediff.sweep import ResultsWriter, Task, TornTailWarning, make_row


def rows_for(values, **result_extra):
    out = []
    for v in values:
        t = Task("sleep", {"value": v})
        out.append(make_row(t, {"value": float(v), **result_extra}, wall_s=0.5, worker="w:1"))
    return out


def write_rows(path, rows):
    with ResultsWriter(path) as w:
        for r in rows:
            assert w.append(r)


def test_row_format_is_one_ascii_line_with_fixed_field_order(tmp_path):
    t = Task("mc", {"model": {"model": "ising", "L": 4, "T": 2.0}, "n_samples": 3})
    row = make_row(t, {"z": 1.0, "a": [1, 2], "name": "é"}, wall_s=1.25, worker="h:2")
    line = sw.encode_row(row)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    line.decode("ascii")  # pure ASCII: no encoding questions for other readers
    back = json.loads(line)
    assert back == row
    assert list(back) == [
        "id", "kind", "params", "upstream", "seed", "result", "version",
        "wall_s", "worker", "finished",
    ]  # fmt: skip
    assert list(back["result"]) == ["a", "name", "z"]  # nested keys sorted
    assert back["seed"] == t.effective_seed
    assert sw.deterministic_part(row).keys() == set(row) - set(sw.RUN_FIELDS)


def test_non_finite_results_round_trip(tmp_path):
    t = Task("sleep", {"value": 1.0})
    path = tmp_path / "r.jsonl"
    write_rows(path, [make_row(t, {"a": math.nan, "b": -math.inf}, wall_s=0, worker="w")])
    (r,) = sw.read_results(path)
    assert math.isnan(r["result"]["a"]) and r["result"]["b"] == -math.inf


def test_writer_never_duplicates_an_id(tmp_path):
    path = tmp_path / "r.jsonl"
    rows = rows_for([1, 2])
    write_rows(path, rows)
    with ResultsWriter(path) as w:  # reopened: ids come from the file
        assert not w.append(rows[0])
        assert not w.append({**rows[1], "wall_s": 9.0})
    assert len(path.read_bytes().splitlines()) == 2


def test_second_writer_is_refused_while_first_holds_the_file(tmp_path):
    path = tmp_path / "r.jsonl"
    with ResultsWriter(path):
        with pytest.raises(DataFileError, match="another sweep is writing"):
            ResultsWriter(path)
    with ResultsWriter(path):  # released on close
        pass


def test_torn_tail_is_ignored_by_readers_and_cut_by_the_writer(tmp_path):
    path = tmp_path / "r.jsonl"
    rows = rows_for([1, 2, 3])
    write_rows(path, rows[:2])
    clean = path.read_bytes()
    torn = sw.encode_row(rows[2])[:37]  # a crash in the middle of the third write
    with open(path, "ab") as f:
        f.write(torn)
    with pytest.warns(TornTailWarning, match="torn last line"):
        got = sw.read_results(path)
    assert [r["id"] for r in got] == [r["id"] for r in rows[:2]]
    with pytest.warns(TornTailWarning):
        assert sw.finished_ids(path) == {r["id"] for r in rows[:2]}
    with ResultsWriter(path) as w:
        assert path.read_bytes() == clean  # tail removed before anything is appended
        assert w.append(rows[2])
    assert path.read_bytes() == clean + sw.encode_row(rows[2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(sw.read_results(path)) == 3


def test_unparsable_complete_last_line_counts_as_torn(tmp_path):
    path = tmp_path / "r.jsonl"
    write_rows(path, rows_for([1]))
    with open(path, "ab") as f:
        f.write(b"\x00\x00\x00\n")  # what some file systems leave after a power cut
    with pytest.warns(TornTailWarning):
        assert len(sw.read_results(path)) == 1


def test_corruption_before_the_end_is_an_error(tmp_path):
    path = tmp_path / "r.jsonl"
    rows = rows_for([1, 2])
    path.write_bytes(sw.encode_row(rows[0]) + b"garbage\n" + sw.encode_row(rows[1]))
    with pytest.raises(DataFileError, match="line 2 is not a results row"):
        sw.read_results(path)


def test_combine_dedupes_orders_and_writes_atomically(tmp_path):
    rows = rows_for([1, 2, 3, 4])
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_rows(a, [rows[2], rows[0]])
    write_rows(b, [rows[3], {**rows[0], "wall_s": 7.0, "worker": "other"}, rows[1]])
    out = tmp_path / "all.jsonl"
    merged = sw.combine([a, b], out)
    assert [r["id"] for r in merged] == sorted(r["id"] for r in rows)  # by id
    assert [r["id"] for r in sw.read_results(out)] == [r["id"] for r in merged]
    plan = [Task("sleep", {"value": v}) for v in (4, 3, 2, 1)]
    merged = sw.combine([a, b], out, tasks=plan)
    assert [r["params"]["value"] for r in merged] == [4.0, 3.0, 2.0, 1.0]
    # out may also be an input; the result is the same bytes
    before = out.read_bytes()
    sw.combine([out, a, b], out, tasks=plan)
    assert out.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["a.jsonl", "all.jsonl", "b.jsonl"]  # no temp left


def test_combine_refuses_disagreeing_rows(tmp_path):
    (r,) = rows_for([1])
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_rows(a, [r])
    write_rows(b, [{**r, "result": {"value": 2.0}}])
    with pytest.raises(DataFileError, match=f"task {r['id'][:16]} has different results"):
        sw.combine([a, b], tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_csv_is_a_tidy_table(tmp_path):
    t1 = Task("mc", {"model": {"model": "ising", "L": 4, "T": 2.0}, "n_samples": 3})
    t2 = Task("exact_ising", {"T": 2.5})
    rows = [
        make_row(t1, {"energy": -1.5, "energy_err": 0.01, "warnings": ["w"]}, wall_s=1, worker="x"),
        make_row(t2, {"energy": -0.9, "T": 99.0}, wall_s=2, worker="y"),
    ]
    path = tmp_path / "r.jsonl"
    write_rows(path, rows)
    out = sw.to_csv(path, tmp_path / "r.csv")
    with open(out, newline="") as f:
        recs = list(csv.DictReader(f))
    assert len(recs) == 2
    cols = list(recs[0])
    assert cols[:3] == ["id", "kind", "seed"]
    assert {"model.model", "model.L", "model.T", "n_samples", "T", "L"} <= set(cols)
    assert "result.T" in cols  # a result field named like a parameter is prefixed
    assert recs[0]["model.T"] == "2.0" and recs[0]["energy"] == "-1.5"
    assert recs[0]["warnings"] == '["w"]'
    assert recs[1]["energy"] == "-0.9" and recs[1]["result.T"] == "99.0"
    assert recs[1]["L"] == "" and recs[1]["energy_err"] == ""
    assert float(recs[1]["T"]) == 2.5


def test_plot_results_writes_a_figure(tmp_path):
    rows = []
    for L in (4, 8):
        for T in (2.0, 2.5, 3.0):
            t = Task("exact_ising", {"T": T, "L": L})
            rows.append(make_row(t, {"energy": -T / L, "energy_err": 0.01}, wall_s=0, worker="w"))
    out = sw.plot_results(rows, x="T", y="energy", group="L", out=tmp_path / "f.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = sw.plot_results(rows, x="T", y="energy", out=tmp_path / "f.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    with pytest.raises(sw.PlanError.__mro__[1], match="no rows have numeric 'T' and 'nope'"):
        sw.plot_results(rows, x="T", y="nope", out=tmp_path / "g.png")
