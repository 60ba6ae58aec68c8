"""parallelverse: thousands of plausible market histories to stress-test a strategy against."""

__version__ = "0.1.0"


def open_universe(store, name: str):
    """A universe of the store as a lazy xarray.Dataset backed by dask: open/high/low/close/volume (bar, path)."""
    from parallelverse.store.datasets import universe_dataset

    return universe_dataset(store, name)


def open_results(store, strategy: str, universe: str):
    """A strategy's per-path stress metrics on one universe ("real": the real history) as a lazy xarray.Dataset."""
    from parallelverse.store.datasets import results_dataset

    return results_dataset(store, strategy, universe)
