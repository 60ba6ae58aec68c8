"""Every exception parallelverse raises on purpose, in one place.

Messages are one line: what was wrong, the offending value, and the fix. The CLI
prints them as they are; only unexpected exceptions get a traceback (with -v).
"""


class ParallelverseError(Exception):
    """Base class: a problem the user can fix from the message alone."""


class DataError(ParallelverseError):
    """The OHLCV input is missing, malformed or inconsistent."""


class WindowError(ParallelverseError):
    """The seed window, context or horizon does not fit the data."""


class StoreError(ParallelverseError):
    """The Zarr store is missing, incomplete, or belongs to another run."""


class ScenarioError(ParallelverseError):
    """A scenario file has unknown keys or values of the wrong type."""


class GeneratorError(ParallelverseError):
    """A generator was misconfigured or could not fit the context."""


class InputError(ParallelverseError):
    """An option or scenario value is not a finite number, is out of range, or names an unusable path."""


class CalibrateError(ParallelverseError):
    """A calibrate option, or its combination with the data, cannot be run."""


class TrainError(ParallelverseError):
    """Training options are invalid or training diverged (a non-finite loss)."""
