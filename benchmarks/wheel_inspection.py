"""How hard the Wheel inspection preset is for pixel matching, and what it looks like.

Run from the repository root::

    python benchmarks/wheel_inspection.py [--size 64] [--seeds 0 1 2] [--figure]

Prints the ROC AUC of the raw-pixel 1-NN (distance to the nearest normal
training image) against each anomaly of ``wheel-inspection``, on the
benchmark's own protocol (250 images per manifold, normal manifolds split
80/20, as ``danogan bench --dataset wheel-inspection``), and beside it the
same on the thesis's ``wheel``. The preset is meant to keep the 1-NN's mean
AUC at or below 0.75 at 64 px. ``--figure`` also writes
``docs/figures/wheel_inspection.png``: normal and anomalous samples at 64 px.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from danogan_sk.benchmark.data import load_pool, make_tasks
from danogan_sk.benchmark.harness import evaluate
from danogan_sk.benchmark.methods import RawPixelNN
from danogan_sk.datasets.wheel import INSPECTION_ANOMALIES, NORMAL_MANIFOLDS, make_wheels
from danogan_sk.datasets.wheel_figure import wheel_samples_figure

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "figures" / "wheel_inspection.png"


def one_nn_aucs(dataset: str, seed: int, size: int) -> dict:
    """1-NN ROC AUC per anomaly of ``dataset`` for one seed."""
    (task,) = make_tasks(load_pool(dataset, seed, wheel_size=size), None, seed)
    scores = RawPixelNN().fit(task.X_train).anomaly_score(task.X_test)
    return {c: evaluate(task.y_test[m], scores[m])["auc"] for c, m in task.masks.items()}


def report(dataset: str, seeds: list, size: int) -> float:
    runs = [one_nn_aucs(dataset, seed, size) for seed in seeds]
    print(f"\nraw-pixel 1-NN on {dataset} at {size} px, seeds {seeds} (mean ± sd over seeds)")
    print("| anomaly | ROC AUC |\n|---|---|")
    for name in runs[0]:
        values = [run[name] for run in runs]
        print(f"| {name} | {np.mean(values):.3f} ± {np.std(values):.3f} |")
    means = [np.mean(list(run.values())) for run in runs]
    print(f"| mean | {np.mean(means):.3f} ± {np.std(means):.3f} |")
    return float(np.mean(means))


def figure(out: Path = FIGURE, rows: int = 3, size: int = 64) -> Path:
    """Samples of every normal manifold and every anomaly, as the camera sees them, pixel for pixel."""
    specs = NORMAL_MANIFOLDS + INSPECTION_ANOMALIES
    X, y = make_wheels([rows] * len(specs), specs, image_size=size, shuffle=False,
                       random_state=0, variation="inspection")
    return wheel_samples_figure(X, y, specs, len(NORMAL_MANIFOLDS), out, cell=(1.6, 1.7),
                                dpi=100, interpolation="nearest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--figure", action="store_true")
    parser.add_argument("--no-thesis", action="store_true", help="skip the thesis preset")
    args = parser.parse_args()
    report("wheel-inspection", args.seeds, args.size)
    if not args.no_thesis:
        report("wheel", args.seeds, args.size)
    if args.figure:
        print(f"wrote {figure(size=args.size)}")


if __name__ == "__main__":
    main()
