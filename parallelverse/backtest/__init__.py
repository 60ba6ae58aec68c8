"""A library: run a strategy's params grid on bars with costs, get typed per-path metrics.

    strategy.py   load a strategy file, call it safely, the look-ahead check
    engine.py     costs, the execution rule (when a decision is filled), buy-and-hold, excess, `run_grid`
    kernels.py    numba kernels (numpy in, numpy out) with their plain-Python twins

It knows nothing about stores or stages: `stress` and `verdict` both call it.
"""
