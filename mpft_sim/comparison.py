"""Run one workload on several designs and put them side by side.

The figures per design are the ones a design review asks for (one
:class:`~mpft_sim.results.Metrics` row each, the same a sweep reports): the step time (or TPOT
for decode, makespan for a flow list), the all-to-all times, the p99 flow completion time,
the peak and mean utilisation per tier, the exposed communication, the network's cost and cost
per GPU, and performance per dollar.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from mpft_sim.engine import Model, simulate
from mpft_sim.errors import MpftError, SpecError
from mpft_sim.progress import Progress, ProgressCallback
from mpft_sim.results import Breakdown, Metrics, Result, RunSummary, metrics_row
from mpft_sim.results.summary import to_plain
from mpft_sim.spec.prices import PriceBook
from mpft_sim.spec.run import RunOptions
from mpft_sim.spec.topology import FailureSpec, TopologySpec, load_topology
from mpft_sim.spec.workload import WorkloadSpec, load_workload
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.cost import bill_of_materials

__all__ = ["Comparison", "DesignRow", "compare"]


@dataclass(frozen=True)
class DesignRow:
    """One design's figures in a comparison."""

    design: str
    kind: str
    failures: tuple[str, ...]
    metrics: Metrics
    time_vs_first: float | None
    """This design's time over the first design's."""
    breakdown: Breakdown | None
    """The (slowest) training job's step breakdown."""

    def to_dict(self) -> dict[str, Any]:
        """Flat plain data: the design, then the metrics, then the breakdown's rows."""
        out: dict[str, Any] = {"design": self.design, "kind": self.kind,
                               "failures": list(self.failures), **self.metrics.to_dict(),
                               "time_vs_first": self.time_vs_first}
        if self.breakdown is not None:
            out.update({f"breakdown_{k}": v for k, v in to_plain(self.breakdown).items()})
        return out


@dataclass(frozen=True)
class Comparison:
    """Designs side by side: one row per design (``rows``), each design's run summary
    (``summaries``) and, if asked for, its whole :class:`~mpft_sim.results.Result`."""

    workload: str
    model: str
    rows: tuple[DesignRow, ...]
    summaries: tuple[RunSummary, ...] = ()
    results: tuple[Result, ...] = field(default=(), repr=False)

    @property
    def metric(self) -> str:
        """What 'time' means here: ``step_time_s``, ``tpot_s`` or ``makespan_s``."""
        return (self.rows[0].metrics.metric or "step_time_s") if self.rows else "step_time_s"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for compare.json (rows, then each design's summary under
        ``details``)."""
        # a comparison assembled by hand may come without its runs' summaries
        details = ([{"design": r.design, **s.to_dict()}
                    for r, s in zip(self.rows, self.summaries, strict=True)]
                   if self.summaries else [])
        return {"workload": self.workload, "model": self.model, "metric": self.metric,
                "designs": [r.to_dict() for r in self.rows], "details": details}

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame (needs pandas).

        Raises
        ------
        MpftError
            If pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:
            raise MpftError("to_dataframe needs pandas: pip install 'mpft-sim[pandas]'") \
                from None
        return pd.DataFrame([r.to_dict() for r in self.rows])


def compare(topologies: Sequence[TopologySpec | str | Path],
            workload: WorkloadSpec | str | Path, model: Model = "fluid", *, seed: int = 0,
            routing: str | None = None, cross_plane: str | None = None,
            failures: Sequence[FailureSpec | str] = (),
            degrade: Sequence[FailureSpec | str] = (), tolerance: float = 0.0,
            prices: PriceBook | None = None, keep_results: bool = False,
            progress: ProgressCallback | None = None, jobs: int = 1) -> Comparison:
    """Run ``workload`` on each design and compare them.

    Parameters
    ----------
    topologies : sequence of TopologySpec or paths
        The designs, in the order the comparison lists them (the first is the reference).
    workload : WorkloadSpec or path
        What every design runs; it must fit each one.
    model, seed, routing, cross_plane, failures, degrade, tolerance
        The run options, the same for every design (see :func:`mpft_sim.simulate`).
    prices : PriceBook, optional
        Unit prices for the network's cost (default: the shipped price book).
    keep_results : bool
        Keep each design's full :class:`Result` (memory: a training step's flows).
    progress : callable, optional
        Called with each design's :class:`~mpft_sim.progress.Progress` events, which carry
        the design's name, its place (``index``) and how many there are (``total``).
    jobs : int
        Designs run at once, each in its own worker process (1: one after another, in this
        process). The designs are independent runs, so the comparison is the same whatever
        ``jobs`` is; peak memory is about that of the ``jobs`` largest designs together. A
        script that uses ``jobs > 1`` needs ``if __name__ == "__main__":``, as the workers
        import it. With ``keep_results``, the designs run in this process.

    Returns
    -------
    Comparison

    Raises
    ------
    MpftError
        On bad run options, a workload that does not fit a design (naming the design), or
        a worker process that died.
    """
    # the run options are checked once, before any design is built
    RunOptions(model=model, seed=seed, routing=routing, cross_plane=cross_plane,  # type: ignore[arg-type]
               tolerance=tolerance)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise MpftError(f"jobs: must be a whole number of at least 1, got {jobs!r}")
    work = workload if not isinstance(workload, str | Path) else load_workload(workload)
    specs = [t if isinstance(t, TopologySpec) else load_topology(t) for t in topologies]
    options = {"model": model, "seed": seed, "routing": routing, "cross_plane": cross_plane,
               "failures": tuple(failures), "degrade": tuple(degrade), "tolerance": tolerance}
    runs = [_DesignRun(spec, work, options, {"design": spec.name, "index": i,
                                            "total": len(specs)}, keep_results)
            for i, spec in enumerate(specs)]
    workers = min(jobs, len(runs))
    if workers <= 1 or keep_results:
        outcomes = [run(progress) for run in runs]
    else:
        outcomes = _run_in_workers(runs, workers, progress)
    rows, summaries, results = [], [], []
    reference: float | None = None
    for spec, (summary, n_gpus, result) in zip(specs, outcomes, strict=True):
        cost = bill_of_materials(spec, prices).cost_usd
        metrics = metrics_row(summary, cost, n_gpus)
        if reference is None:
            reference = metrics.time_s
        slowest = summary.slowest
        rows.append(DesignRow(
            design=spec.name, kind=spec.fabric.kind,
            failures=summary.info.failures, metrics=metrics,
            time_vs_first=(metrics.time_s / reference if reference and metrics.time_s
                           is not None else None),
            breakdown=slowest.breakdown if slowest is not None else None))
        summaries.append(summary)
        if result is not None:
            results.append(result)
    return Comparison(work.name, model, tuple(rows), tuple(summaries), tuple(results))


_Outcome = tuple[RunSummary, int, "Result | None"]


@dataclass(frozen=True)
class _DesignRun:
    """One design's run, picklable so that a worker process can make it."""

    spec: TopologySpec
    work: WorkloadSpec
    options: dict[str, Any]
    context: dict[str, Any]
    keep: bool

    def __call__(self, progress: ProgressCallback | None) -> _Outcome:
        events = None if progress is None else (
            lambda event: progress(dataclasses.replace(event, **self.context)))
        fabric = build_fabric(self.spec)
        try:
            result = simulate(fabric, self.work, progress=events, **self.options)
        except SpecError as exc:
            # say which design the workload does not fit (after the file, if it has one)
            where = f"{self.work.name} on {self.spec.name}"
            raise exc.within(file=f"{exc.file}: {where}" if exc.file else where) from None
        return result.summary, fabric.n_gpus, result if self.keep else None


@dataclass(frozen=True)
class _ToQueue:
    """A worker's progress callback: events go to the parent through ``queue``."""

    queue: Any

    def __call__(self, event: Progress) -> None:
        self.queue.put(event)


def _in_worker(run: _DesignRun, queue: Any) -> _Outcome:
    return run(None if queue is None else _ToQueue(queue))


def _run_in_workers(runs: Sequence[_DesignRun], workers: int,
                    progress: ProgressCallback | None) -> list[_Outcome]:
    """Each run in a worker process, ``workers`` at a time; outcomes in the runs' order.
    Progress events come back through a queue and reach ``progress`` in this process."""
    import mpft_sim._fluid  # noqa: F401  # drops a stale kernel cache here, before workers race to

    # spawn, not fork, as the sweep's pool: forking a process that runs threads can deadlock
    context = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as stack:
        manager = stack.enter_context(context.Manager()) if progress is not None else None
        queue = manager.Queue() if manager is not None else None
        pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers, mp_context=context))
        futures = [pool.submit(_in_worker, run, queue) for run in runs]
        try:
            pending = set(futures)
            while pending and not _first_failure_known(futures):
                _, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                _drain(queue, progress)
            _drain(queue, progress)
            return [f.result() for f in futures]  # a failed design raises its error here
        except BrokenProcessPool as exc:
            _stop_workers(pool)
            raise MpftError(f"a comparison worker process died ({exc}); out of memory? Run "
                            "fewer designs at once (--jobs)") from None
        except BaseException:
            _stop_workers(pool)  # before the pool's own shutdown, which waits for them
            raise


def _first_failure_known(futures: Sequence[Future[_Outcome]]) -> bool:
    """Whether a design has failed and every design before it has finished: its error is
    then the one a serial run raises (whatever the timing), and no later design matters."""
    for f in futures:
        if not f.done():
            return False
        if f.exception() is not None:
            return True
    return False


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel the designs not started and end the running ones: after a failure nothing
    more is wanted, and the pool's own shutdown would wait for every running design."""
    pool.shutdown(wait=False, cancel_futures=True)
    # the pool has no public way to end running work before Python 3.14
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        if process.is_alive():
            process.terminate()


def _drain(queue: Any, progress: ProgressCallback | None) -> None:
    if queue is None or progress is None:
        return
    while True:
        try:
            event = queue.get_nowait()
        except Empty:
            return
        progress(event)
