"""The Zarr store: real history, one group of synthetic paths per generator run, stress results.

The only package that imports zarr. What goes in and comes out is typed: a SeedSplit
(history), UniverseSpec / Universe / PathBatch (universes), ResultsMeta / Results
(stress results). Layout (Zarr v3, readable with plain `zarr` or `xarray`; full
schema in README.md and in each module's docstring):

    <store>/                      attrs: format (the marker --overwrite looks for), identity (data, symbol,
                                  window, context, horizon)
      history/                    history.py: the real bars, 1-D over dimension "bar"
      universes/<name>/           universes.py: (horizon_bars, n_paths) per field, chunked along paths
      results/<strategy>/         results.py: per-path metrics of a strategy, written by `stress`

Every chunk carries a crc32c checksum checked on read, and the root, the history, each
universe and each results group a seal over their metadata (integrity.py); writers hold
the store's lock (lock.py); names that become paths follow one rule (names.py).
"""

from parallelverse.store.history import FORMAT, package_versions, store_identity
from parallelverse.store.lock import StoreLock, lock_store
from parallelverse.store.names import check_name, name_problem
from parallelverse.store.results import PathResults, RealResults, Results, ResultsMeta, ResultsWriter
from parallelverse.store.root import Store, open_store, open_universe, read_store, store_size_bytes
from parallelverse.store.universes import Universe, UniverseSpec, UniverseWriter, read_paths

__all__ = [
    "FORMAT", "PathResults", "StoreLock", "check_name", "lock_store", "name_problem", "RealResults", "Results", "ResultsMeta", "ResultsWriter", "Store", "Universe",
    "UniverseSpec", "UniverseWriter", "open_store", "open_universe", "package_versions", "read_paths", "read_store",
    "store_identity", "store_size_bytes",
]
