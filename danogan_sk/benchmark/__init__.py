"""Benchmark harness: the thesis's protocol, D-AnoGAN beside PyOD and the thesis's baselines.

>>> from danogan_sk.benchmark import Budget, METHODS, run_benchmark, write_results
>>> records = run_benchmark("mnist", ["raw-pixel 1-NN", "D-AnoGAN"], seeds=[0],
...                         out="bench", budget=Budget(epochs=3), classes=[3])  # doctest: +SKIP
>>> write_results(records, "bench")  # doctest: +SKIP

PyOD, skorch and matplotlib are imported only by the methods and figures
that need them.
"""

from .data import Budget, Pool, Task, load_pool, make_tasks
from .harness import evaluate, read_runs, run_benchmark
from .methods import METHODS, Method
from .tables import auc_table, write_results

__all__ = [
    "Budget",
    "METHODS",
    "Method",
    "Pool",
    "Task",
    "auc_table",
    "evaluate",
    "load_pool",
    "make_tasks",
    "read_runs",
    "run_benchmark",
    "write_results",
]
