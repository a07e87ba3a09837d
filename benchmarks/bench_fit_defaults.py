"""What ``DAnoGANDetector`` costs and gives on a development split of MNIST or Fashion-MNIST.

The thesis protocol for held-out classes, run on the *training file* only, so
that settings can be compared without touching the test file the benchmark
tables (``danogan bench``) are computed on. For each held-out class the
detector is fitted on ``--n-train`` images of the other classes, drawn from
the protocol's 80 % training part of the training file, and scored on
``--n-test`` rows of its test part (held-out normal images plus the anomalous
class). Prints a markdown table, one row per class and their mean: fit and
scoring time, the ROC AUC of the detector's score, of the thesis's eq. 5.1 at
alpha = 0.9 and of each score term, and a raw-pixel nearest-neighbour AUC on
the same split. Nothing is tuned on the test labels.

    python benchmarks/bench_fit_defaults.py                       # digit 7, the defaults
    python benchmarks/bench_fit_defaults.py --classes 0 1 2 3 4 5 6 7 8 9 \\
        --n-train 2000 --n-test 2000 --seed 100 --params '{"n_epochs": 5}'
    python benchmarks/bench_fit_defaults.py --dataset fashion-mnist --params '{"n_critic": 2}'
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from danogan_sk import DAnoGANDetector
from danogan_sk.benchmark.methods import RawPixelNN
from danogan_sk.datasets import leave_one_class_out, load_dataset

TERMS = ("mse", "kl", "feature_mse", "critic")
COLUMNS = ("fit s", "score s", "AUC score", "AUC eq. 5.1 (alpha=0.9)") + tuple(f"AUC {t}" for t in TERMS) + (
    "raw-pixel 1-NN AUC",
)


def evaluate_class(X, y, anomaly_class: int, args, params: dict) -> list[float]:
    """One fit on the normal classes; the row of the table for ``anomaly_class``."""
    split = leave_one_class_out(X, y, anomaly_class, random_state=args.seed)
    rows = np.random.default_rng(args.seed).choice(len(split.X_test), args.n_test, replace=False)
    X_test, y_test = split.X_test[rows], split.y_test[rows]
    X_train = split.X_train[: args.n_train]

    detector = DAnoGANDetector(random_state=args.seed, **params)
    start = time.perf_counter()
    detector.fit(X_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    components = detector.score_components(X_test)
    score_seconds = time.perf_counter() - start
    scores = detector.anomaly_score_from_components(components)
    eq_5_1 = 0.1 * components["mse"] + 0.9 * components["kl"]
    # The floor any detector should clear: distance to the nearest training image.
    distance = RawPixelNN().fit(X_train).anomaly_score(X_test)
    aucs = [roc_auc_score(y_test, s) for s in (scores, eq_5_1, *(components[t] for t in TERMS), distance)]
    return [fit_seconds, score_seconds, *aucs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--classes", type=int, nargs="+", default=[7], help="held-out classes, one fit each")
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--n-test", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=0, help="split and detector seed")
    parser.add_argument("--params", default="{}", help="JSON of DAnoGANDetector parameters to override")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--data-home", default=None)
    args = parser.parse_args()
    params = json.loads(args.params)
    if args.threads:
        torch.set_num_threads(args.threads)

    X, y = load_dataset(args.dataset, "train", data_home=args.data_home)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.dataset} training file, "
          f"{args.n_train} training and {args.n_test} test images per class, seed {args.seed}, "
          f"parameters {json.dumps(params)}\n")
    print("| held out | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    table = []
    for anomaly_class in args.classes:
        row = evaluate_class(X, y, anomaly_class, args, params)
        table.append(row)
        print(f"| {anomaly_class} | {row[0]:.0f} | {row[1]:.1f} | " + " | ".join(f"{v:.3f}" for v in row[2:]) + " |",
              flush=True)
    if len(table) > 1:
        mean = np.mean(table, axis=0)
        print(f"| mean | {mean[0]:.0f} | {mean[1]:.1f} | " + " | ".join(f"{v:.3f}" for v in mean[2:]) + " |")


if __name__ == "__main__":
    main()
