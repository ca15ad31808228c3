"""Where sweep points run: in this process, in a local process pool, or on a Dask cluster.

Each executor is a generator yielding :class:`~mpft_sim.sweep.point.PointOutcome` as points
finish (in completion order); the caller records them. Closing the generator early (an error,
Ctrl-C) cancels the points not yet started.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal

from mpft_sim.errors import MpftError
from mpft_sim.sweep.point import PointOutcome, PointTask, run_point

__all__ = ["EXECUTORS", "Executor", "Outcomes", "check_executor", "run_points"]

Outcomes = Generator[PointOutcome, None, None]

Executor = Literal["local", "dask"]
EXECUTORS: tuple[str, ...] = ("local", "dask")

# seconds to wait for a Dask scheduler before giving up with a clear error
DASK_CONNECT_TIMEOUT_S = 10


def run_points(tasks: Sequence[PointTask], executor: str = "local", jobs: int | None = None,
               scheduler: str | None = None) -> Outcomes:
    """Run ``tasks`` and yield their outcomes as they finish.

    Parameters
    ----------
    tasks : sequence of PointTask
    executor : {"local", "dask"}
        ``local``: a process pool of ``jobs`` workers (in this process if ``jobs`` is 1 or
        there is one task). ``dask``: a ``distributed.Client`` on ``scheduler``.
    jobs : int, optional
        Local workers (default: the CPU count); with Dask and no scheduler, the workers of
        the local Dask cluster started for the sweep.
    scheduler : str, optional
        Dask scheduler address, such as ``tcp://10.0.0.5:8786``; None starts a local cluster.

    Raises
    ------
    MpftError
        On a bad executor or job count, if Dask is not installed or its scheduler cannot be
        reached, or if a worker process dies.
    """
    check_executor(executor, jobs, scheduler)
    if executor == "dask":
        return _run_dask(tasks, jobs, scheduler)
    workers = min(jobs or os.cpu_count() or 1, len(tasks))
    if workers <= 1:
        return _run_here(tasks)
    return _run_pool(tasks, workers)


def check_executor(executor: str, jobs: int | None, scheduler: str | None) -> None:
    """Check the executor options before anything runs.

    Raises
    ------
    MpftError
        On an unknown executor, a job count below 1, or a scheduler without Dask.
    """
    if executor not in EXECUTORS:
        raise MpftError(f"executor: must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise MpftError(f"jobs: must be a whole number of at least 1, got {jobs!r}")
    if scheduler is not None and executor != "dask":
        raise MpftError(f"scheduler: only the dask executor has one, got {scheduler!r} with "
                        f"the {executor} executor")


def _run_here(tasks: Sequence[PointTask]) -> Outcomes:
    for task in tasks:
        yield run_point(task)


def _run_pool(tasks: Sequence[PointTask], workers: int) -> Outcomes:
    # spawn, not fork: forking a process that runs threads (a Dask client, a GUI) can
    # deadlock the child, and spawn behaves the same on every platform
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        pending: set[Future[PointOutcome]] = {pool.submit(run_point, t) for t in tasks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            # several may finish at once: hand them over in point order, for tidy logs
            for future in sorted(done, key=lambda f: f.result().index):
                yield future.result()
    except BrokenProcessPool as exc:
        raise MpftError(
            f"a sweep worker process died ({exc}); out of memory? (A script that starts a "
            "sweep needs `if __name__ == '__main__':`, as workers import it.) The points "
            "that finished are in points.jsonl: rerun with resume to go on") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(tasks: Sequence[PointTask], jobs: int | None,
              scheduler: str | None) -> Outcomes:
    try:
        from distributed import Client as _Client
        from distributed import as_completed
    except ImportError:
        raise MpftError("the dask executor needs dask.distributed: "
                        "pip install 'mpft-sim[dask]'") from None
    make_client: Any = _Client  # partly typed: keep mypy strict about our own calls only
    try:
        if scheduler is None:
            client = make_client(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                            processes=True, dashboard_address=None, set_as_default=False)
        else:
            client = make_client(scheduler, timeout=DASK_CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        where = scheduler or "a local Dask cluster"
        raise MpftError(f"cannot reach the Dask scheduler at {where}: {exc}") from None
    return _dask_outcomes(client, as_completed, tasks)


def _dask_outcomes(client: Any, as_completed: Any,
                   tasks: Sequence[PointTask]) -> Outcomes:
    futures: list[Any] = []
    try:
        # pure=False: two points with equal tasks are still two points
        futures = [client.submit(run_point, t, pure=False) for t in tasks]
        # the client is not the default one (set_as_default=False): give its loop
        for future in as_completed(futures, loop=client.loop):
            yield future.result()
    finally:
        unfinished = [f for f in futures if not f.done()]
        if unfinished:  # stopped early: do not leave the cluster busy with an abandoned sweep
            client.cancel(unfinished)
        client.close()
