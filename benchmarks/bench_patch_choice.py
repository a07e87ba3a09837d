"""What ``patch_weight="auto"`` adds to a fit: the pseudo-anomaly comparison, timed.

Fits one detector for a few epochs on ``--n-train`` images of a data set's
training file (MNIST or Fashion-MNIST, 28x28), then times the comparison ``fit`` runs with ``patch_weight="auto"``
on the memory bank's rows) against one phase-1 epoch of the same fit, in CPU
seconds of this process (median of ``--repeats``), two ways side by side:
as ``fit`` runs it (:func:`danogan_sk.pseudo_anomalies.choose_patch_weight_on_bank`,
from the terms and bank vectors ``fit`` has computed) and from the images
alone (:func:`danogan_sk.pseudo_anomalies.choose_patch_weight`, which
computes both again)::

    python benchmarks/bench_patch_choice.py --dataset mnist --data-home ../shared/data
    python benchmarks/bench_patch_choice.py --dataset fashion-mnist --data-home ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from danogan_sk import DAnoGANDetector
from danogan_sk.datasets import load_dataset
from danogan_sk.memory_bank import bank_rows
from danogan_sk.pseudo_anomalies import choose_patch_weight, choose_patch_weight_on_bank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist"))
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X, _ = load_dataset(args.dataset, data_home=args.data_home)
    X = X[np.random.default_rng(0).permutation(len(X))[: args.n_train]]
    detector = DAnoGANDetector(n_epochs=args.epochs, xzx_epochs=1, patch_weight=0.0, random_state=0)
    start = time.process_time()
    detector.fit(X)
    fit_seconds = time.process_time() - start

    rows = bank_rows(len(X), detector.memory_bank_size, 0)
    # What fit passes: its training terms at the bank's rows (a private attribute, read here to time fit's path).
    components = {name: values[rows] for name, values in detector._training_components.items()}
    ways = {"at fit (terms reused)": lambda: choose_patch_weight_on_bank(detector, components, random_state=0),
            "from the images": lambda: choose_patch_weight(detector, X[rows], random_state=0)}
    per_epoch = fit_seconds / (args.epochs + 1)  # a rough phase-1 epoch: the fit's seconds per epoch
    print(f"fit ({args.epochs} + 1 epochs): {fit_seconds:.1f} CPU s, {per_epoch:.1f} per epoch\n")
    print("| data | images | choice | CPU s | choice / epoch | chosen | pseudo-AUCs |\n|---|---:|---|---:|---:|---:|---|")
    for way, choose in ways.items():
        seconds = []
        for _ in range(args.repeats):
            start = time.process_time()
            chosen, aucs = choose()
            seconds.append(time.process_time() - start)
        choice = statistics.median(seconds)
        print(f"| {args.dataset} {tuple(X.shape[1:])} | {len(X)} | {way} | {choice:.1f} | {choice / per_epoch:.2f} | "
              f"{chosen} | {np.round(aucs, 6).tolist() if aucs is not None else None} |")


if __name__ == "__main__":
    main()
