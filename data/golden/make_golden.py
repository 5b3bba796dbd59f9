"""Write ising2d_kaufman.json: exact u(L, T), c(L, T) and ln Z(L, T) of the periodic L x L Ising
model (J = 1, h = 0, 2 L^2 bonds), from Kaufman's partition function evaluated in 50-digit
arithmetic (mpmath), with derivatives in K = 1/T taken by mpmath's numerical differentiation at
that precision.

This is deliberately an independent implementation of latticediff.exact.ising2d: a direct
transcription of Kaufman's formula (B. Kaufman, Phys. Rev. 76, 1232 (1949)), with none of the
float64 stabilisation tricks, so the golden file checks the module's accuracy rather than just
its reproducibility.

Run from the repository root (needs mpmath, which ships with sympy):

    .venv/bin/python data/golden/make_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mpmath as mp

SIZES = (4, 8, 16, 32, 64)
TEMPERATURES = (1.5, 2.0, 2.269, 2.269185314, 3.0)
DPS = 50
OUT = Path(__file__).with_name("ising2d_kaufman.json")


def log_partition(K, L: int):
    """ln Z of the L x L torus (Kaufman 1949) in mpmath arithmetic."""
    m = n = L
    A = mp.cosh(2 * K) * mp.coth(2 * K)

    def gamma(j):
        if j == 0:  # signed: negative above Tc
            return 2 * K + mp.log(mp.tanh(K))
        return mp.acosh(A - mp.cos(mp.pi * j / n))

    g = [gamma(j) for j in range(2 * n)]
    odd = [g[2 * r + 1] for r in range(n)]
    even = [g[2 * r] for r in range(n)]
    total = (
        mp.fprod(2 * mp.cosh(m * x / 2) for x in odd)
        + mp.fprod(2 * mp.sinh(m * x / 2) for x in odd)
        + mp.fprod(2 * mp.cosh(m * x / 2) for x in even)
        + mp.fprod(2 * mp.sinh(m * x / 2) for x in even)
    )
    return mp.log(total / 2) + mp.mpf(m * n) / 2 * mp.log(2 * mp.sinh(2 * K))


def main() -> None:
    mp.mp.dps = DPS
    records = []
    for L in SIZES:
        for T in TEMPERATURES:
            K = 1 / mp.mpf(T)  # the float64 value of T, exactly
            f = lambda k, L=L: log_partition(k, L)  # noqa: E731
            logz = f(K)
            d1 = mp.diff(f, K, 1)
            d2 = mp.diff(f, K, 2)
            N = L * L
            records.append(
                {
                    "L": L,
                    "T": T,
                    "log_partition": float(logz),
                    "energy": float(-d1 / N),
                    "specific_heat": float(K**2 * d2 / N),
                }
            )
    doc = {
        "description": "Exact energy and specific heat per site of the periodic L x L 2D Ising "
        "model (J = 1, h = 0, 2 L^2 bonds), Kaufman's partition function",
        "generator": "data/golden/make_golden.py",
        "method": f"Kaufman 1949 formula in mpmath with {DPS} digits; d/dK by mpmath.diff",
        "conventions": "energy = <E>/N, specific_heat = beta^2 Var(E)/N, log_partition = ln Z; "
        "T is the float64 value listed",
        "records": records,
    }
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, OUT)
    print(f"wrote {len(records)} records to {OUT}")


if __name__ == "__main__":
    main()
