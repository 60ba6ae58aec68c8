"""The calibrate stage: score every generator across many held-out seed windows.

cells (plan the symbol x window x generator cells, run and store one) -> scores (one
cell against its realized future) -> aggregate (per generator x horizon tests,
intervals, leaderboard, regimes). `parallelverse calibrate` is the CLI; the HTML page
is `report.calibrate_html`.
"""

from parallelverse.calibrate.aggregate import Calibration, aggregate
from parallelverse.calibrate.cells import CalibratePlan, CalibrateRequest, Cell, plan_calibrate, window_specs
from parallelverse.calibrate.run import CalibrateRun, run_calibrate

__all__ = ["CalibratePlan", "CalibrateRequest", "CalibrateRun", "Calibration", "Cell", "aggregate", "plan_calibrate",
           "run_calibrate", "window_specs"]
