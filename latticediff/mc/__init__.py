"""Numba Monte Carlo samplers, one module per model family, and the ``sample`` front door.

Driver protocol
---------------
Each family module (``ising``, ``potts``, ``loopgas``, ``chain``) exposes::

    METHODS: tuple[str, ...]
        concrete update methods it implements, e.g. ("metropolis", "wolff", "sw").
    resolve_method(model, method) -> str
        maps "auto" (and any alias) to a concrete method; raises ParameterError naming the
        method and the allowed ones, or the incompatibility (e.g. checkerboard needs even L).
    is_iid(model, method) -> bool
        True when successive samples are exact and independent (tau_int = 1/2 by construction).
    init_state(model, method, rng) -> np.ndarray
        an initial configuration drawn with ``rng`` (a xoshiro256** uint64[4] state, see _rng).
    run_chain(model, method, state, rng, *, burn_in, n_samples, thin)
            -> (samples, energy_series, order_series, info)
        advances ``state`` and ``rng`` in place: ``burn_in`` sweeps, then ``n_samples`` times
        (``thin`` sweeps, copy the state). ``samples`` has shape (n_samples, *model.shape) and
        dtype model.dtype; the two series hold the energy per site and the order parameter
        (|m| per site; occupation per edge for the loop gas) after every sweep, length
        burn_in + n_samples * thin; ``info`` is a small JSON-able dict (e.g. clusters per sweep).

Hot loops are ``@njit(cache=True, nogil=True)`` pure functions over arrays with an explicit
generator, each paired with a NumPy reference; the front door runs chains in threads.
"""
