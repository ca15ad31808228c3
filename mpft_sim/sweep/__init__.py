"""Parameter sweeps for capacity planning: vary a design and a workload over a grid, run every
point (in this process, a local process pool or a Dask cluster), and tabulate and plot the
results.

The public API::

    from mpft_sim.sweep import load_sweep, sweep
    spec = load_sweep("sweeps/planes-16k.yaml")      # validated; spec.points() expands it
    result = sweep(spec, "reports/planes-16k", jobs=4, progress=lambda done, total: ...)
    result.rows                                       # one dict per point, as in sweep.csv

See :mod:`mpft_sim.sweep.spec` for the sweep file and :mod:`mpft_sim.sweep.params` for the
parameters a grid can vary.
"""

from mpft_sim.sweep.params import PARAMS
from mpft_sim.sweep.point import METRICS, SweepEstimate, estimate_points, point_specs
from mpft_sim.sweep.run import Progress, SweepResult, sweep
from mpft_sim.sweep.spec import Point, SweepSpec, load_sweep

__all__ = [
    "METRICS",
    "PARAMS",
    "Point",
    "Progress",
    "SweepEstimate",
    "SweepResult",
    "SweepSpec",
    "estimate_points",
    "load_sweep",
    "point_specs",
    "sweep",
]
