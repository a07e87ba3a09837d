"""Independent runs through joblib, results handed back as each run finishes.

The runs go to whatever joblib backend is active: loky processes on this
machine by default, or a cluster's (``joblib.parallel_config(backend="dask")``
with a ``distributed.Client``; Ray's where it is installed). Nothing here
schedules: joblib and the engine do. The caller, in the parent process,
receives every result as soon as its run finishes, in finishing order, and
is the only one who writes anything down.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import joblib

__all__ = ["threads_per_job", "run_unordered", "Progress"]

Spec = TypeVar("Spec")
Result = TypeVar("Result")


def threads_per_job(n_jobs: int, threads: int | None = None, cores: int | None = None) -> int | None:
    """Torch threads of each run: ``threads`` if given, else ``max(1, cores // n_jobs)``.

    Without ``threads``: ``None`` (torch's setting left alone) for
    ``n_jobs == 1``, where the runs share the calling process, and for
    ``n_jobs < 1`` (joblib's "every worker of the backend"), where the engine
    owns the worker processes and their threads.

    Examples
    --------
    >>> threads_per_job(2, cores=8), threads_per_job(3, cores=2), threads_per_job(1, cores=8)
    (4, 1, None)
    >>> threads_per_job(1, threads=1)
    1
    """
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        return threads
    if n_jobs == 1 or n_jobs < 1:
        return None
    cores = cores or os.cpu_count() or 1
    return max(1, cores // n_jobs)


def _call_with_threads(function: Callable[[Spec], Result], spec: Spec, threads: int | None) -> Result:
    """``function(spec)`` with torch limited to ``threads`` threads when given, then restored."""
    if threads is None:
        return function(spec)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return function(spec)
    finally:
        torch.set_num_threads(before)


def run_unordered(function: Callable[[Spec], Result], specs: Iterable[Spec], n_jobs: int = 1,
                  threads: int | None = None) -> Iterator[Result]:
    """``function(spec)`` for every spec through ``joblib.Parallel``, yielded as each finishes.

    Parameters
    ----------
    function : callable (spec) -> result
        Picklable (joblib pickles it with cloudpickle); it runs in a worker.
    specs : iterable
        Small descriptions of the runs, shipped to the workers.
    n_jobs : int, default=1
        Runs at a time; 1 runs them one after the other in this process,
        -1 uses every worker of the active backend.
    threads : int or None
        Torch threads of each run (:func:`threads_per_job`). Torch's CPU
        kernels split their sums by thread, so a network trained with other
        threads ends with other rounding, and a GAN's weights drift apart
        from there: fix ``threads`` to compare runs across ``n_jobs``.

    Yields
    ------
    result
        In the order the runs finish. An exception raised by a run is
        raised here once the results finished before it have been yielded
        (those still running are lost); stopping the iteration cancels the
        runs not yet started.
    """
    threads = threads_per_job(n_jobs, threads)
    parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    yield from parallel(joblib.delayed(_call_with_threads)(function, spec, threads) for spec in specs)


class Progress:
    """Finished/total runs and the time left, estimated from the runs finished so far.

    Examples
    --------
    >>> progress = Progress(total=4, clock=iter([0.0, 10.0]).__next__)
    >>> progress.finish()
    '[1/4, about 30 s left]'
    """

    def __init__(self, total: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.total = total
        self.finished = 0
        self.clock = clock
        self.start = clock()

    def finish(self) -> str:
        """Count one more finished run; its ``[k/n, time left]`` label."""
        self.finished += 1
        left = self.total - self.finished
        if left == 0:
            return f"[{self.finished}/{self.total}, done]"
        seconds = (self.clock() - self.start) / self.finished * left
        return f"[{self.finished}/{self.total}, about {_duration(seconds)} left]"


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 10 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
