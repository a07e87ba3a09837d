"""Wall time of a ``danogan bench`` grid of cheap methods at ``--n-jobs 1`` and ``--n-jobs 2``.

Run from the repository root::

    python benchmarks/bench_n_jobs.py --data-home ../shared/data
    python benchmarks/bench_n_jobs.py --data-home ../shared/data --classes 0 1 --max-train 1000

Each setting runs the whole grid (every method on every held-out class)
into a fresh results folder, alternately, ``--repeats`` times; the table
gives the median wall time and the speed-up of 2 jobs over 1. The AUCs of
both settings are checked equal. Both use ``--threads 1``, so the speed-up
is that of running runs side by side, not of giving each more threads.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from danogan_sk.benchmark import Budget, run_benchmark
from danogan_sk.benchmark.data import PoolLoader


def _grid_seconds(args: argparse.Namespace, n_jobs: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        records = run_benchmark("mnist", args.methods, [0], Path(out), Budget(max_train=args.max_train),
                                args.classes, pool_loader=PoolLoader("mnist", args.data_home),
                                progress=lambda line: None, n_jobs=n_jobs, threads=1)
        seconds = time.perf_counter() - start
    return seconds, {(r["method"], r["anomaly_class"]): r["auc"] for r in records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", required=True, help="folder with mnist/")
    parser.add_argument("--methods", nargs="+", default=["raw-pixel 1-NN", "KNN", "IForest"])
    parser.add_argument("--classes", nargs="+", type=int, default=[0, 1, 2, 3])
    parser.add_argument("--max-train", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    times: dict[int, list[float]] = {1: [], 2: []}
    aucs = {}
    for _ in range(args.repeats):
        for n_jobs in (1, 2):
            seconds, aucs[n_jobs] = _grid_seconds(args, n_jobs)
            times[n_jobs].append(seconds)
    if aucs[1] != aucs[2]:
        raise SystemExit("the AUCs of --n-jobs 1 and --n-jobs 2 differ")
    runs = len(args.methods) * len(args.classes)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"MNIST, {runs} runs ({', '.join(args.methods)} x classes "
          f"{' '.join(map(str, args.classes))}), max_train {args.max_train}, "
          f"median of {args.repeats}; AUCs equal")
    print()
    print("| --n-jobs | wall s | speed-up |")
    print("|---|---|---|")
    print(f"| 1 | {one:.1f} | 1.00 |")
    print(f"| 2 | {two:.1f} | {one / two:.2f} |")


if __name__ == "__main__":
    main()
