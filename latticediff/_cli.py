"""``latticediff`` command line: a thin layer over the API (flag names = keyword names).

Every error that is the user's (bad value, missing file, existing output) prints one line
``latticediff: error: ...`` and exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import LatticeDiffError

MODELS = ("ising", "potts", "loopgas", "chain")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + message otherwise)
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="latticediff", description=__doc__.splitlines()[0])
    from ._version import __version__

    p.add_argument("--version", action="version", version=f"latticediff {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("sample", help="run Monte Carlo and write an HDF5 data set")
    s.add_argument("model", help=f"one of: {', '.join(MODELS)}")
    s.add_argument("--L", type=int, help="linear size (ising, potts, loopgas)")
    s.add_argument("--N", type=int, help="number of spins (chain)")
    s.add_argument("--T", type=float, help="temperature (ising, potts)")
    s.add_argument("--h", type=float, default=0.0, help="magnetic field (ising)")
    s.add_argument("--q", type=int, help="number of states (potts)")
    s.add_argument("--x", type=float, help="bond weight in (0, 1] (loopgas)")
    s.add_argument("--K", type=float, help="coupling J/T (chain)")
    s.add_argument("--open", action="store_true", help="open boundary (chain)")
    s.add_argument("--n", type=int, required=True, help="number of samples")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--method", default="auto")
    s.add_argument("--burn-in", type=int, default=None)
    s.add_argument("--thin", type=int, default=None)
    s.add_argument("--chains", type=int, default=None)
    s.add_argument("-o", "--output", required=True, help="output HDF5 file")
    s.add_argument("--name", default=None, help="data set name inside the file")
    s.add_argument("--force", action="store_true", help="overwrite an existing output file")
    s.add_argument("--append", action="store_true", help="add a data set to an existing file")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    i = sub.add_parser("info", help="summarise an HDF5 data file")
    i.add_argument("file")
    i.add_argument("--verify", action="store_true", help="read every chunk and check checksums")

    e = sub.add_parser("exact", help="exact results (Onsager/Kaufman/Yang, chain, critical points)")
    e.add_argument("what", choices=("ising", "chain", "critical"))
    e.add_argument("--T", type=float, nargs="+", help="temperature(s) (ising)")
    e.add_argument("--L", type=int, default=None, help="finite periodic L x L (ising)")
    e.add_argument("--K", type=float, nargs="+", help="coupling(s) (chain)")
    e.add_argument("--json", action="store_true", help="machine-readable output")

    d = sub.add_parser("demo", help="run the embedded default study end to end")
    d.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    d.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")
    d.add_argument("--seed", type=int, default=2026)

    pr = sub.add_parser(
        "profile",
        help="locality profile: Markov length along a noising path, r(t), global window, saving",
    )
    pr.add_argument("data", help="HDF5 samples file, MNIST directory, image folder or .npz/.h5")
    pr.add_argument("--path", required=True, help="bitflip, uniform, linear, vp or ve")
    pr.add_argument("--t", type=float, nargs="+", default=None, help="time grid")
    pr.add_argument("--p", type=float, nargs="+", default=None, help="flip probabilities")
    pr.add_argument("--radii", type=int, nargs="+", default=None)
    pr.add_argument("--estimator", default="auto")
    pr.add_argument(
        "--estimator-options", default=None, help="JSON object, e.g. '{\"n_samples\": 200}'"
    )
    pr.add_argument("--cmi-value", default="held_out", help="held_out or bias_corrected")
    pr.add_argument("--eps", type=float, default=0.05)
    pr.add_argument("--tolerance", default="relative", help="relative or absolute")
    pr.add_argument("--r-min", type=int, default=1)
    pr.add_argument("--r-max", type=int, default=None)
    pr.add_argument("--max-rel-err", type=float, default=0.5)
    pr.add_argument("--snr", type=float, default=3.0)
    pr.add_argument(
        "--tail", default="local", help="local or global: who serves the steps below the window"
    )
    pr.add_argument("--n-steps", type=int, default=100, help="reverse steps for the prediction")
    pr.add_argument("--gamma", type=float, default=None, help="rate of the discrete paths")
    pr.add_argument("--key", default=None, help="data set name inside an HDF5/.npz file")
    pr.add_argument("--n", type=int, default=None, help="use the first n samples")
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--threads", type=int, default=1, help="torch and Numba threads")
    pr.add_argument("-o", "--out", required=True, help="output folder (profile.json, .png)")
    pr.add_argument("--force", action="store_true", help="overwrite existing outputs")
    pr.add_argument("--quiet", action="store_true")

    from .sweep.cli import add_sweep_parsers

    _COMMANDS.update(add_sweep_parsers(sub))
    return p


def _model_from_args(a):
    from .systems import Ising, IsingChain, LoopGas, Potts

    name = a.model.lower()

    def need(*flags):
        for f in flags:
            if getattr(a, f) is None:
                raise LatticeDiffError(f"model {name!r} needs --{f}")

    if name == "ising":
        need("L", "T")
        return Ising(L=a.L, T=a.T, h=a.h)
    if name == "potts":
        need("L", "q", "T")
        return Potts(L=a.L, q=a.q, T=a.T)
    if name == "loopgas":
        need("L")
        return LoopGas(L=a.L, x=1.0 if a.x is None else a.x)
    if name == "chain":
        need("N", "K")
        return IsingChain(N=a.N, K=a.K, periodic=not a.open)
    raise LatticeDiffError(f"unknown model {a.model!r}; known models: {', '.join(MODELS)}")


def _cmd_sample(a) -> int:
    from . import h5io
    from .mc.front import run_mc

    model = _model_from_args(a)
    out = Path(a.output)
    if a.force and a.append:
        raise LatticeDiffError("--force and --append conflict: choose one")
    if out.exists() and not (a.force or a.append):
        raise LatticeDiffError(f"output file {str(out)!r} exists; use --force to overwrite")
    if a.append and not out.exists():
        raise LatticeDiffError(f"--append: file {str(out)!r} does not exist")
    if a.append:
        h5io.validate_file(out)
    res = run_mc(
        model,
        n_samples=a.n,
        seed=a.seed,
        burn_in=a.burn_in,
        thin=a.thin,
        method=a.method,
        n_chains=a.chains,
        progress=not a.quiet,
    )
    kw = dict(model=model, observables=res.observables, provenance=res.provenance())
    if a.append:
        name = h5io.append_samples(out, res.samples, name=a.name, **kw)
    else:
        name = h5io.write_samples(out, res.samples, name=a.name, overwrite=a.force, **kw)
    taus = ", ".join(f"{k} {v.tau:.2f}" for k, v in res.tau_int.items())
    print(
        f"wrote {res.samples.shape[0]} samples of {model!r} to {out}:{name} "
        f"(method {res.method}, thin {res.thin}, tau_int [sweeps] {taus}, {res.wall_time:.1f} s)"
    )
    return 0


def _cmd_info(a) -> int:
    from . import h5io

    if a.verify:
        h5io.validate_file(a.file)
    print(h5io.describe(a.file))
    return 0


def _cmd_exact(a) -> int:
    from . import exact

    rows = []
    if a.what == "ising":
        if not a.T:
            raise LatticeDiffError("exact ising needs --T (one or more temperatures)")
        for T in a.T:
            rows.append(
                {
                    "T": T,
                    "L": a.L,
                    "energy": float(exact.ising_energy(T, L=a.L)),
                    "specific_heat": float(exact.ising_specific_heat(T, L=a.L)),
                    "free_energy": float(exact.ising_free_energy(T, L=a.L)),
                    "spontaneous_magnetization": float(exact.ising_magnetization(T)),
                }
            )
    elif a.what == "chain":
        if not a.K:
            raise LatticeDiffError("exact chain needs --K (one or more couplings)")
        import math

        for K in a.K:
            rows.append({"K": K, "nn_correlation": math.tanh(K), "correlation_length": _xi(K)})
    else:
        for cp in exact.CRITICAL_POINTS.values():
            rows.append(
                {
                    "name": cp.name,
                    "value": cp.value,
                    "uncertainty": cp.uncertainty,
                    "parameter": cp.parameter,
                    "source": cp.source,
                }
            )
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        keys = list(rows[0]) if rows else []
        print("  ".join(f"{k:>14}" for k in keys))
        for r in rows:
            print("  ".join(_fmt(r[k]) for k in keys))
    return 0


def _xi(K: float) -> float:
    import math

    t = abs(math.tanh(K))
    return float("inf") if t == 1 else (-1.0 / math.log(t) if t > 0 else 0.0)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:>14.8g}"
    return f"{'-' if v is None else str(v):>14}"


def _cmd_demo(a) -> int:
    from .demo import run_demo

    run_demo(out_dir=a.out, quick=a.quick, seed=a.seed)
    return 0


def _cmd_profile(a) -> int:
    from .profiler import profile_locality

    out = Path(a.out)
    files = [out / "profile.json", out / "schedule.json", out / "profile.png"]
    if not a.force and any(f.exists() for f in files):
        raise LatticeDiffError(f"output folder {str(out)!r} holds a profile; use --force")
    opts = None
    if a.estimator_options is not None:
        try:
            opts = json.loads(a.estimator_options)
        except ValueError as exc:
            raise LatticeDiffError(f"--estimator-options is not valid JSON: {exc}") from None
    if a.threads is not None:
        if a.threads < 1:
            raise LatticeDiffError(f"--threads must be >= 1, got {a.threads}")
        _set_threads(a.threads)
    rep = profile_locality(
        a.data,
        path=a.path,
        t=a.t,
        p=a.p,
        radii=a.radii,
        estimator=a.estimator,
        estimator_options=opts,
        cmi_value=a.cmi_value,
        eps=a.eps,
        tolerance=a.tolerance,
        r_min=a.r_min,
        r_max=a.r_max,
        max_rel_err=a.max_rel_err,
        snr=a.snr,
        tail=a.tail,
        n_steps=a.n_steps,
        gamma=a.gamma,
        key=a.key,
        n=a.n,
        seed=a.seed,
        progress=not a.quiet,
    )
    out.mkdir(parents=True, exist_ok=True)
    rep.to_json(files[0])
    files[1].write_text(json.dumps(rep.schedule_dict(), indent=1) + "\n")
    rep.plot(files[2], title=f"{a.data} ({a.path})")
    print(rep.summary())
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def _set_threads(n: int) -> None:
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass


_COMMANDS = {
    "sample": _cmd_sample,
    "info": _cmd_info,
    "exact": _cmd_exact,
    "demo": _cmd_demo,
    "profile": _cmd_profile,
}


def main(argv: list[str] | None = None) -> int:
    return run_cli(_build_parser(), _COMMANDS, argv)


def run_cli(parser: argparse.ArgumentParser, commands: dict, argv: list[str] | None) -> int:
    """Parse ``argv`` and run ``commands[args.command]``; any usage or package error becomes
    one line on stderr and exit status 2 (interrupt: 130)."""
    try:
        args = parser.parse_args(argv)
        return commands[args.command](args)
    except _UsageError as exc:
        print(f"latticediff: error: {exc}", file=sys.stderr)
        return 2
    except (LatticeDiffError, FileExistsError, FileNotFoundError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"latticediff: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latticediff: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
