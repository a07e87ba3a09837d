"""``danogan bench``: the thesis's tables 5.1-5.3, reproduced with baselines.

Example::

    danogan bench --dataset mnist --classes 0 3 --methods "raw-pixel 1-NN" KNN D-AnoGAN \\
        --seeds 0 --epochs 3 --max-train 10000 --out bench/mnist --n-jobs 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .data import DATASETS
from .engines import BACKENDS

__all__ = ["add_bench_parser"]

_DEFAULT_METHODS = ["D-AnoGAN", "D-AnoGAN THESIS_PARAMS", "raw-pixel 1-NN", "KNN", "IForest",
                    "AutoEncoder", "VAE", "DeepSVDD", "ALAD", "f-AnoGAN", "GANomaly", "OCGAN",
                    "conv VAE"]


def add_bench_parser(subparsers) -> None:
    """Register ``bench`` on the ``danogan`` command's subparsers."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark D-AnoGAN and baselines on the thesis protocol (resumable)",
        description=(
            "Run every method on every held-out class and seed, append each finished run to "
            "OUT/runs.jsonl (finished runs are skipped when rerun), then write results.csv, "
            "results.json, table_<dataset>.md and figures to OUT (a Wheel preset also gets "
            "table_<dataset>_own_design.md: each anomaly against its own design's normal images)."
        ),
    )
    parser.add_argument("--dataset", choices=DATASETS, required=True,
                        help="wheel-inspection: Wheel under a production-line camera's variation")
    parser.add_argument(
        "--classes", nargs="+", default=["all"],
        help="'all' or held-out class indices (Wheel: anomalous manifold indices 8 9; "
             "wheel-inspection: 8 9 10 11)",
    )
    parser.add_argument("--methods", nargs="+", default=_DEFAULT_METHODS,
                        help="method names (quote names with spaces); default: all")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument("--epochs", type=int, default=5,
                        help="training epochs of iterative methods (upper bound with --seconds)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="per-run training time budget of iterative methods, in seconds")
    parser.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall",
        help="what --seconds count: elapsed time (default), or the CPU time of the process that "
             "fits, which other work on the machine does not use up (CPU runs only: it does not "
             "count time on a GPU)",
    )
    parser.add_argument(
        "--rerun-outside", type=float, default=None, metavar="FRACTION",
        help="with --seconds, run an iterative run again once when its fit missed the budget by "
             "more than FRACTION of it either way (0.15: outside 255-345 s of 300 s, e.g. when "
             "other work shared the CPU), with epochs planned from the first fit's cost per epoch; "
             "the rerun stands, the first is kept in runs_replaced.jsonl",
    )
    parser.add_argument("--max-train", type=int, default=None, help="cap on training images")
    parser.add_argument("--data-home", type=Path, default=None,
                        help="folder with mnist/ and fashion-mnist/ (default: the data home)")
    parser.add_argument("--wheel-size", type=int, default=None,
                        help="Wheel image side (default 32 for wheel, 64 for wheel-inspection)")
    parser.add_argument("--wheel-per-manifold", type=int, default=250)
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    parser.add_argument(
        "--n-jobs", type=int, default=None,
        help="runs at a time (joblib; -1: every core or every cluster worker), each with "
             "cores // N torch threads; with --threads fixed, results do not depend on it "
             "(default: 1, or -1: every worker, with --backend dask or ray; there a positive N "
             "also sets cores // N threads from this machine's cores unless --threads is given)",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, default="loky",
        help="joblib backend: loky (processes on this machine), dask or ray (the workers of "
             "the cluster at --scheduler; they load the data from --data-home themselves)",
    )
    parser.add_argument("--scheduler", default=None,
                        help="address of the Dask or Ray scheduler, e.g. tcp://10.0.0.5:8786")
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch threads of every run (default: cores // N with --n-jobs N); a GAN trained "
             "with other threads rounds differently, so fix it to compare runs across --n-jobs",
    )
    parser.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from ..cli import output_folder
    from .data import Budget, PoolLoader
    from .engines import joblib_engine
    from .harness import run_benchmark
    from .methods import METHODS
    from .tables import write_results

    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    classes = None if args.classes == ["all"] else [int(c) for c in args.classes]
    budget = Budget(epochs=args.epochs, seconds=args.seconds, max_train=args.max_train, clock=args.clock)
    n_jobs = args.n_jobs if args.n_jobs is not None else (1 if args.backend == "loky" else -1)
    with joblib_engine(args.backend, args.scheduler):
        records = run_benchmark(
            args.dataset,
            args.methods,
            args.seeds,
            output_folder(args.out),
            budget,
            classes,
            pool_loader=PoolLoader(args.dataset, args.data_home, args.wheel_size,
                                   args.wheel_per_manifold),
            n_jobs=n_jobs,
            threads=args.threads,
            rerun_outside=args.rerun_outside,
        )
    written = write_results(records, args.out)
    if not args.no_figures:
        from .plots import make_figures

        written += make_figures(args.out, [args.dataset])
    for table in (f"table_{args.dataset}.md", f"table_{args.dataset}_own_design.md"):
        if (Path(args.out) / table).exists():
            print((Path(args.out) / table).read_text())
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
