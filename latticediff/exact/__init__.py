"""Exact results that everything else in latticediff is validated against.

* :mod:`.ising2d`: Onsager (infinite lattice), Kaufman (finite periodic L x L), Yang's
  spontaneous magnetization;
* :mod:`.chain`: the clean 1D Ising chain by transfer matrix;
* :mod:`.enumeration`: every state of a tiny lattice model with its exact weight;
* :mod:`.critical`: known critical points with sources, and the bit-flip time <-> p map;
* :mod:`.fidelity`: the fidelity bound 2 TV^2 <= I(A:C|B) of a local recovery, exactly.

Only NumPy and SciPy are imported here.

>>> import latticediff as ld
>>> round(ld.exact.ising_energy(ld.exact.TC_ISING), 12)
-1.414213562373
>>> round(ld.exact.critical_point("potts4").value, 6)
0.910239
"""

from .chain import (
    chain_correlation,
    chain_energy,
    chain_free_energy,
    chain_log_partition,
    chain_nn_correlation,
)
from .critical import (
    CRITICAL_POINTS,
    CriticalPoint,
    bitflip_probability,
    bitflip_time,
    critical_point,
    potts_tc,
)
from .enumeration import (
    MAX_STATES,
    enumerate_states,
    exact_distribution,
    exact_observables,
    n_states,
)
from .fidelity import (
    LOOPGAS_GEOMETRIES,
    FidelityBound,
    bitflip_channel,
    fidelity_bound_chain,
    fidelity_bound_loopgas,
    fidelity_bound_table,
    fidelity_loopgas_regions,
    fidelity_radius,
)
from .gaussian_field import GaussianField
from .ising2d import (
    KC_ISING,
    TC_ISING,
    ising_energy,
    ising_free_energy,
    ising_log_partition,
    ising_magnetization,
    ising_specific_heat,
)
from .noisy_chain import (
    chain_cmi,
    chain_decay_rate,
    chain_denoiser_entropy,
    chain_denoiser_gap,
    chain_limits,
    chain_markov_length,
    chain_shell_entropy,
    sample_noisy_chain,
)

__all__ = [
    # 2D Ising
    "TC_ISING",
    "KC_ISING",
    "ising_log_partition",
    "ising_free_energy",
    "ising_energy",
    "ising_specific_heat",
    "ising_magnetization",
    # 1D chain
    "chain_log_partition",
    "chain_free_energy",
    "chain_energy",
    "chain_nn_correlation",
    "chain_correlation",
    "GaussianField",
    # noisy 1D chain (hidden Markov model, exact)
    "chain_cmi",
    "chain_decay_rate",
    "chain_denoiser_entropy",
    "chain_denoiser_gap",
    "chain_limits",
    "chain_markov_length",
    "chain_shell_entropy",
    "sample_noisy_chain",
    # fidelity bound of a local recovery (exact)
    "FidelityBound",
    "LOOPGAS_GEOMETRIES",
    "bitflip_channel",
    "fidelity_bound_table",
    "fidelity_bound_chain",
    "fidelity_bound_loopgas",
    "fidelity_loopgas_regions",
    "fidelity_radius",
    # enumeration
    "MAX_STATES",
    "n_states",
    "enumerate_states",
    "exact_distribution",
    "exact_observables",
    # critical points
    "CriticalPoint",
    "CRITICAL_POINTS",
    "critical_point",
    "potts_tc",
    "bitflip_probability",
    "bitflip_time",
]
