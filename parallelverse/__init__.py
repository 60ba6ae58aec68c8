"""parallelverse: thousands of plausible market histories to stress-test a strategy against."""

__version__ = "0.1.0"
