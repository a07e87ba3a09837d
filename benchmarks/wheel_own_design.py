"""Does a detector see a Wheel preset's faults, or tell its designs apart?

Run from the repository root::

    python benchmarks/wheel_own_design.py [--dataset wheel-inspection] [--split-seed 1234] \
        [--seeds 0 1] [--methods VAE=500 D-AnoGAN=16]

Each Wheel anomaly is one of the normal designs with a fault
(:func:`danogan_sk.datasets.base_design`). The benchmark tests it against the
normal images of all eight designs, so a score that ranks one design above the
others gains or loses AUC on the anomalies made from it without seeing any
fault. On one draw of the preset made from ``--split-seed`` (as
``benchmarks/dev_protocol.py`` draws it; the benchmark's draws come from its
run seeds 0, 1, 2, ...), this prints each anomaly's ROC AUC against all normal
test images (the benchmark's number) and against the normal test images of its
base design alone, for:

* two statistics of the whole image, no model of the designs: its standard
  deviation and its reconstruction error by a 5-component PCA of the training
  images;
* the raw-pixel 1-NN;
* each ``NAME=EPOCHS`` of ``--methods`` (a ``danogan bench`` method fitted with
  that many epochs), every score row it reports except the oracle, once per
  detector seed of ``--seeds``.

A final table gives each row's mean over the seeds and the largest spread
between them. The base design has a fifth of its images in the test set (50 at
the preset's 250 per design), so the second AUC is the noisier one.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from danogan_sk.benchmark.data import load_pool, make_tasks
from danogan_sk.benchmark.methods import METHODS, RawPixelNN, flatten, score_variants
from danogan_sk.datasets import base_design, get_manifold


def image_statistics(X_train: np.ndarray, X_test: np.ndarray) -> dict[str, np.ndarray]:
    """Scores from the whole image, with no model of the designs."""
    train, test = flatten(X_train).astype(np.float64), flatten(X_test).astype(np.float64)
    pca = PCA(5, random_state=0).fit(train)
    return {
        "image standard deviation": test.std(axis=1),
        "PCA-5 reconstruction error": np.linalg.norm(test - pca.inverse_transform(pca.transform(test)), axis=1),
        "raw-pixel 1-NN": RawPixelNN().fit(X_train).anomaly_score(X_test),
    }


def both_aucs(task, scores: np.ndarray) -> list[tuple[float, float]]:
    """Per anomaly: AUC against every normal test image, and against its base design's only."""
    return [tuple(float(roc_auc_score(task.y_test[rows], scores[rows]))
                  for rows in (task.masks[name], task.own_design_masks[name]))
            for name in task.masks]


def print_table(title: str, anomalies: list[str], rows: dict[str, list]) -> None:
    print(f"\n{title}\n")
    print("| score | " + " | ".join(f"{a}: all / own design" for a in anomalies) + " | mean: all / own design |")
    print("|---|" + "---|" * (len(anomalies) + 1))
    for name, cells in rows.items():
        text = [" / ".join(c) for c in cells]
        print(f"| {name} | " + " | ".join(text) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="wheel-inspection", choices=("wheel-inspection", "wheel"))
    parser.add_argument("--split-seed", type=int, default=1234)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="detector seeds")
    parser.add_argument("--methods", nargs="*", default=["VAE=500", "D-AnoGAN=16"],
                        help="danogan bench methods and their epochs, NAME=EPOCHS")
    args = parser.parse_args()
    methods = [(name, int(epochs)) for name, epochs in (m.rsplit("=", 1) for m in args.methods)]
    unknown = [name for name, _ in methods if name not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {sorted(METHODS)}")
    torch.set_num_threads(1)

    pool = load_pool(args.dataset, args.split_seed)
    (task,) = make_tasks(pool, None, args.split_seed)
    anomalies = list(task.masks)
    print(f"{args.dataset} drawn from split seed {args.split_seed}: {len(task.X_train)} normal training "
          f"images; base designs: " + ", ".join(f"{a} -> {base_design(get_manifold(a)).name}" for a in anomalies))

    per_seed = defaultdict(list)  # row name -> one list of (all, own) per anomaly, per seed
    fixed = {name: both_aucs(task, s) for name, s in image_statistics(task.X_train, task.X_test).items()}
    for seed in args.seeds:
        rows = dict(fixed)
        for name, epochs in methods:
            start = time.process_time()
            model = METHODS[name].make(seed, epochs).fit(task.X_train)
            print(f"seed {seed}: {name}, {epochs} epochs, fit {time.process_time() - start:.0f} CPU s", flush=True)
            variants, _ = score_variants(model, name, task.X_test)
            rows.update({row: both_aucs(task, np.asarray(s)) for row, s in variants.items()
                         if "oracle" not in row})
        for row, aucs in rows.items():
            per_seed[row].append(aucs)
        print_table(f"Detector seed {seed}", anomalies, {
            row: [(f"{a:.3f}", f"{o:.3f}") for a, o in aucs] + [tuple(f"{v:.3f}" for v in np.mean(aucs, axis=0))]
            for row, aucs in rows.items()})

    summary = {}
    for row, seeds in per_seed.items():
        values = np.array(seeds)  # (seeds, anomalies, 2)
        cells = np.concatenate([values, values.mean(axis=1, keepdims=True)], axis=1)
        mean, spread = cells.mean(axis=0), cells.max(axis=0) - cells.min(axis=0)
        summary[row] = [tuple(f"{m:.3f}" + (f" ({s:.3f})" if len(seeds) > 1 else "") for m, s in zip(ms, ss))
                        for ms, ss in zip(mean, spread)]
    print_table(f"Mean over detector seeds {args.seeds} (largest spread between them)", anomalies, summary)


if __name__ == "__main__":
    main()
