"""The locality profiler: rules, window, schedule, compute prediction vs ComputeReport, CLI."""

import json
import math

import numpy as np
import pytest

import latticediff as ld
from latticediff._cli import main
from latticediff.errors import DataFileError, ParameterError
from latticediff.info.markov import MarkovFit
from latticediff.profiler import (
    LocalityProfile,
    _radius_rule,
    load_profile_data,
    profile_locality,
    schedule_from_dict,
)

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def loopgas_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("lg") / "lg.h5"
    m = ld.LoopGas(L=6, x=1.0)
    ld.write_samples(p, ld.sample(m, n_samples=8, seed=0), model=m)
    return p


@pytest.fixture(scope="module")
def loopgas_profile(loopgas_file):
    return profile_locality(
        loopgas_file,
        path="bitflip",
        p=[0.02, 0.1, 0.3],
        radii=[1, 2],
        estimator_options={"n_samples": 12, "n_threads": 1},
        eps=0.3,
        r_max=1,
        n_steps=30,
        local_kwargs={"hidden": 4, "depth": 2},
        global_kwargs={"hidden": 4, "levels": 1},
    )


def _fit(xi, err=0.1, amp=0.1, window=(1, 2, 3)):
    return MarkovFit(
        xi=xi,
        xi_stderr=err,
        amplitude=amp,
        window=window,
        chi2=1.0,
        dof=1,
        slope=-1 / xi if xi and math.isfinite(xi) else 0.1,
    )


# ---------------------------------------------------------------------------------------------
# rules


RADII, CMI, ERR = [1, 2, 3], [0.1, 0.03, 0.01], [1e-3] * 3


def _rule(fit, cmi=CMI, **kw):
    rules = (
        dict(
            eps=0.05,
            tolerance="relative",
            r_min=1,
            r_max=5,
            max_rel_err=0.5,
            snr=3.0,
            negative_cmi="global",
        )
        | kw
    )
    return _radius_rule(RADII, cmi, ERR, fit, **rules)


def _nofit(window=()):
    return MarkovFit(
        xi=math.nan,
        xi_stderr=math.nan,
        amplitude=math.nan,
        window=window,
        chi2=0,
        dof=0,
        status="no fit",
    )


def test_radius_rule_relative_and_absolute():
    r, why = _rule(_fit(1.0))
    assert r == math.ceil(math.log(20)) and "ln(1/eps)" in why
    assert _rule(_fit(1.0, amp=0.5), tolerance="absolute")[0] == math.ceil(math.log(10))
    assert _rule(_fit(1.0, amp=0.01), tolerance="absolute", r_min=2)[0] == 2  # gamma < eps
    r, why = _rule(_fit(3.0))
    assert r is None and "r_max" in why  # ceil(3 ln 20) = 9 > 5


def test_radius_rule_global_and_unresolved_cases():
    assert _rule(_fit(math.inf))[0] is None
    assert _rule(_fit(1.0, err=0.8))[0] is None
    r, why = _rule(_nofit(), cmi=[1e-3, 0.0, -1e-3])
    assert r == 1 and "not resolved" in why
    r, why = _rule(_nofit(), cmi=[1e-3, -0.01, 0.0])  # -10 stderr: a failed estimate
    assert r is None and "negative" in why
    assert _rule(_nofit(), cmi=[1e-3, -0.01, 0.0], negative_cmi="ignore")[0] == 1
    assert _rule(_nofit(window=(1,)))[0] == 2


def test_reschedule_reuses_measurements(loopgas_profile):
    rep = loopgas_profile
    wide = rep.reschedule(r_max=2, n_steps=10)
    assert [p.cmi for p in wide.points] == [p.cmi for p in rep.points]
    assert wide.r_max == 2 and wide.predicted["n_steps"] == 10
    assert "2" in wide.cost["local_flops_per_site"]
    with pytest.raises(ParameterError, match="unknown rules"):
        rep.reschedule(bogus=1)


def test_global_tail_serves_every_step_below_the_window():
    from latticediff.nn import GlobalDenoiser, LocalDenoiser
    from latticediff.profiler import _EXAMPLE

    rep = LocalityProfile.from_dict(_EXAMPLE)  # window (0.1, 0.3], r(t) = 1 below it
    assert rep.tail == "local" and "tail" not in _EXAMPLE  # older reports read as "local"
    tg, tl = rep.reschedule(tail="global"), rep.reschedule(tail="local")
    assert tg.window == tl.window == rep.window
    assert [p.cmi for p in tg.points] == [p.cmi for p in rep.points]
    segs = [(s["t_lo"], s["t_hi"], s["kind"]) for s in tg.schedule_dict()["segments"]]
    assert segs == [(0.0, 0.3, "global"), (0.3, 1.0, "local")]
    # the prediction counts the tail's steps as global
    assert (tl.predicted["steps_global"], tg.predicted["steps_global"]) == (4, 6)
    assert tg.predicted["fraction_of_global"] > tl.predicted["fraction_of_global"]
    loc = [LocalDenoiser(r, 1, 1, hidden=2, prediction="x0") for r in (1, 2, 3)]
    glob = GlobalDenoiser(1, 1, hidden=2, prediction="x0")
    assert (
        repr(tg.hybrid_schedule(loc, glob)) == "HybridSchedule([0, 0.3] global, (0.3, 1] local r=3)"
    )
    d = json.loads(tg.to_json())
    assert d["tail"] == "global" and LocalityProfile.from_dict(d).tail == "global"
    assert "t = 0" in tg.rules["tail"] and "the tail below it" in tg.summary()
    # no window: nothing to extend
    none = rep.reschedule(r_max=3, eps=0.5, tail="global")
    if none.window is None:
        assert all(s["kind"] == "local" for s in none.schedule_dict()["segments"])
    with pytest.raises(ParameterError, match="tail must be 'local' or 'global'"):
        rep.reschedule(tail="everywhere")


# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
# the loop gas end to end (syndrome, detected from the HDF5 model)


def test_loopgas_profile_report(loopgas_profile):
    rep = loopgas_profile
    assert rep.estimator["method"] == "syndrome"
    assert rep.data["model"] == {"model": "loopgas", "L": 6, "x": 1.0}
    assert [round(p.noise, 6) for p in rep.points] == [0.02, 0.1, 0.3]
    assert len(rep.boundaries) == 4 and rep.boundaries[0] == 0 and math.isinf(rep.t_max)
    # cells: midpoints in the keep coefficient u = 1 - 2p
    bf = ld.BitFlip()
    assert bf.p(rep.boundaries[1]) == pytest.approx(0.06)
    # the window is the hull of the global cells
    glob = [i for i, r in enumerate(rep.radius_schedule) if r is None]
    if glob:
        assert rep.window == (rep.boundaries[glob[0]], rep.boundaries[glob[-1] + 1])
    else:
        assert rep.window is None
    segs = rep.schedule_dict()["segments"]
    assert segs[0]["t_lo"] == 0 and segs[-1]["t_hi"] == "inf"
    for a, b in zip(segs, segs[1:], strict=False):
        assert a["t_hi"] == b["t_lo"] and a["radius"] != b["radius"]
    d = rep.to_dict()
    for k in (
        "t",
        "xi",
        "xi_stderr",
        "radius_schedule",
        "window",
        "schedule",
        "predicted",
        "estimator",
        "cost",
        "rules",
        "cmi",
        "cmi_stderr",
    ):
        assert k in d
    json.dumps(d, allow_nan=False)


def test_json_round_trip(loopgas_profile, tmp_path):
    p = tmp_path / "r.json"
    loopgas_profile.to_json(p)
    back = LocalityProfile.from_json(p)
    assert back.radius_schedule == loopgas_profile.radius_schedule
    assert back.window == loopgas_profile.window
    assert back.schedule_dict() == loopgas_profile.schedule_dict()
    assert back.predicted_fraction() == loopgas_profile.predicted


def test_prediction_matches_compute_report_discrete(loopgas_profile):
    """The predicted FLOPs fraction is what sample_discrete's ComputeReport measures."""
    from latticediff.nn.sampling import sample_discrete

    rep = loopgas_profile
    loc, glob = rep.default_models()
    sched = rep.hybrid_schedule(loc, glob)
    _, cr = sample_discrete(sched, ld.BitFlip(), (6, 6), 2, n_steps=30, seed=0, dtype=np.uint8)
    pred = rep.predicted_fraction(local_models=loc, global_model=glob)
    assert cr.fraction_of_global(glob) == pytest.approx(pred["fraction_of_global"], rel=1e-12)
    # the default cost model is the same architecture, so the stored prediction agrees too
    assert pred["fraction_of_global"] == pytest.approx(rep.predicted["fraction_of_global"])


def test_schedule_picks_smallest_wide_enough_model(loopgas_profile):
    from latticediff.nn import GlobalDenoiser, LocalDenoiser

    spec = {
        "t_max": "inf",
        "segments": [
            {"t_lo": 0, "t_hi": 0.1, "radius": 2},
            {"t_lo": 0.1, "t_hi": 0.2, "radius": 5},
            {"t_lo": 0.2, "t_hi": "inf", "radius": 1},
        ],
    }
    loc = {r: LocalDenoiser(r, 2, 4, hidden=2) for r in (1, 3)}
    g = GlobalDenoiser(2, 4, hidden=2, levels=0)
    s = schedule_from_dict(spec, loc, g)
    assert repr(s) == "HybridSchedule([0, 0.1] local r=3, (0.1, 0.2] global, (0.2, inf] local r=1)"
    with pytest.raises(ParameterError, match="global model"):
        schedule_from_dict(spec, [g], g)


# ---------------------------------------------------------------------------------------------
# the neural estimators (tiny budgets: the pipeline, not the numbers)


def test_gaussian_images_profile_and_sampler(tmp_path):
    from latticediff.nn.sampling import sample_gaussian

    rng = np.random.default_rng(0)
    img = rng.random((40, 9, 9)).astype(np.float32)
    np.savez(tmp_path / "x.npz", images=img)
    rep = profile_locality(
        tmp_path / "x.npz",
        path="linear",
        t=[0.2, 0.6],
        radii=[1, 2],
        estimator_options={"steps": 15, "hidden": 4, "n_boot": 20},
        n_steps=8,
        local_kwargs={"hidden": 4, "depth": 1},
        global_kwargs={"hidden": 4, "levels": 1},
    )
    assert rep.estimator["method"] == "immse"
    assert rep.data["kind"] == "images" and rep.t_max == 1.0
    loc, glob = rep.default_models()
    if not loc:  # everything global: give the schedule a local model anyway
        loc = {1: rep.default_models(radii=[1])[0][1]}
    _, cr = sample_gaussian(
        rep.hybrid_schedule(loc, glob), ld.GaussianPath(), (9, 9), 2, n_steps=8, seed=0
    )
    pred = rep.predicted_fraction(local_models=loc, global_model=glob, n_steps=8)
    assert cr.fraction_of_global(glob) == pytest.approx(pred["fraction_of_global"], rel=1e-12)


def test_discrete_neural_profile():
    x = np.random.default_rng(1).choice(np.array([-1, 1], np.int8), size=(24, 1, 8, 8))
    rep = profile_locality(
        x,
        path="bitflip",
        p=[0.1],
        radii=[1, 2],
        n_steps=5,
        estimator_options={"steps": 8, "hidden": 4, "n_boot": 20},
        local_kwargs={"hidden": 4, "depth": 1},
        global_kwargs={"hidden": 4, "levels": 1},
    )
    assert rep.estimator["method"] == "neural"
    assert len(rep.points) == 1 and rep.points[0].radii == (1, 2)


# ---------------------------------------------------------------------------------------------
# data loading and validation


def test_load_mnist_dir(mnist_dir):
    x, info = load_profile_data(mnist_dir, n=5)
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    assert info["kind"] == "images" and not info["periodic"]
    assert -1.0 <= x.min() and x.max() <= 1.0


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"path": "gauss"}, "path must be one of"),
        ({"path": "linear"}, "Gaussian path for real-valued data"),
        ({"path": "bitflip", "estimator": "magic"}, "estimator must be one of"),
        ({"path": "bitflip", "radii": [1, 9]}, "too large"),
        ({"path": "bitflip", "eps": 2.0}, "eps must be"),
        ({"path": "bitflip", "t": [0.1], "p": [0.1]}, "not both"),
        ({"path": "bitflip", "estimator_options": {"bogus": 1}}, "bogus"),
        ({"path": "bitflip", "tail": "both"}, "tail must be 'local' or 'global', got 'both'"),
    ],
)
def test_bad_options(loopgas_file, kw, needle):
    with pytest.raises(ParameterError, match=needle):
        profile_locality(loopgas_file, **{"p": [0.1], "radii": [1, 2], **kw})


def test_missing_data():
    with pytest.raises(DataFileError, match="does not exist"):
        profile_locality("/nonexistent/x.h5", path="bitflip")


# ---------------------------------------------------------------------------------------------
# CLI, in-process


def test_cli_profile(capsys, tmp_path, loopgas_file):
    out = tmp_path / "prof"
    argv = [
        "profile",
        str(loopgas_file),
        "--path",
        "bitflip",
        "--p",
        "0.05",
        "0.2",
        "--radii",
        "1",
        "2",
        "--estimator-options",
        '{"n_samples": 8}',
        "--r-max",
        "2",
        "--n-steps",
        "10",
        "-o",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    capsys.readouterr()
    d = json.loads((out / "profile.json").read_text())
    for k in (
        "t",
        "noise",
        "xi",
        "xi_stderr",
        "radius_schedule",
        "window",
        "schedule",
        "predicted",
        "estimator",
        "rules",
        "cost",
    ):
        assert k in d
    assert d["estimator"]["method"] == "syndrome" and d["noise_name"] == "p"
    assert json.loads((out / "schedule.json").read_text())["segments"]
    assert (out / "profile.png").stat().st_size > 0
    # an existing profile is not overwritten
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["/nonexistent/data.h5", "--path", "bitflip"], "does not exist"),
        (["{lg}", "--path", "nope"], "path must be one of"),
        (["{lg}", "--path", "bitflip", "--estimator-options", "{bad"], "not valid JSON"),
        (["{lg}", "--path", "bitflip", "--radii", "1", "x"], "invalid int value"),
        (["{lg}"], "required: --path"),
        (["{lg}", "--path", "bitflip", "--tail", "both"], "tail must be 'local' or 'global'"),
    ],
)
def test_cli_profile_errors(capsys, tmp_path, loopgas_file, extra, needle):
    argv = ["profile"] + [a.replace("{lg}", str(loopgas_file)) for a in extra]
    code = main(argv + ["-o", str(tmp_path / "o")])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("latticediff: error:")
    assert needle in err


def test_default_models_global_extra_changes_only_the_global_network():
    from latticediff.profiler import _EXAMPLE, LocalityProfile

    rep = LocalityProfile.from_dict(_EXAMPLE)
    loc0, g0 = rep.default_models(seed=0)
    loc1, g1 = rep.default_models(seed=0, global_extra={"hidden": 8})
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(g1) < n(g0)
    assert {r: n(m) for r, m in loc0.items()} == {r: n(m) for r, m in loc1.items()}
