"""What ``DAnoGANDetector()`` costs and gives at its defaults on 10,000 MNIST images.

The thesis protocol for one held-out digit (default 7): the detector is fitted
on 10,000 images of the other nine digits, drawn from the protocol's 80 %
training part of MNIST's training set, and scored on 3,000 rows of the test
part (held-out normal digits plus the anomalous digit). Prints a markdown
table with fit and scoring time, the ROC AUC of the default score, of the
thesis's eq. 5.1 at alpha = 0.9 and of each score term, and a raw-pixel
nearest-neighbour AUC on the same split.
Nothing is tuned on the test labels.

    python benchmarks/bench_fit_defaults.py [--digit 7] [--n-train 10000] [--seed 0]
"""

import argparse
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from danogan_sk import DAnoGANDetector
from danogan_sk.datasets import leave_one_class_out, load_mnist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digit", type=int, default=7)
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--n-test", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)
    args = parser.parse_args()

    X, y = load_mnist("train", data_home=args.data_home)
    split = leave_one_class_out(X, y, args.digit, random_state=args.seed)
    rows = np.random.default_rng(args.seed).choice(len(split.X_test), args.n_test, replace=False)
    X_test, y_test = split.X_test[rows], split.y_test[rows]
    X_train = split.X_train[: args.n_train]

    detector = DAnoGANDetector(random_state=args.seed)
    start = time.perf_counter()
    detector.fit(X_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    components = detector.score_components(X_test)
    score_seconds = time.perf_counter() - start
    scores = detector.score_samples(X_test)
    # The floor any detector should clear: distance to the nearest training image.
    neighbours = NearestNeighbors(n_neighbors=1).fit(X_train.reshape(len(X_train), -1) / 255.0)
    distance, _ = neighbours.kneighbors(X_test.reshape(len(X_test), -1) / 255.0)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {detector.device_}")
    print(f"MNIST, digit {args.digit} held out, {len(X_train)} training images, "
          f"{len(X_test)} test images ({int(y_test.sum())} anomalous), seed {args.seed}\n")
    eq_5_1 = 0.1 * components["mse"] + 0.9 * components["kl"]
    print("| fit s | score s | AUC default score | AUC eq. 5.1 (alpha=0.9) | AUC mse | AUC kl "
          "| AUC feature_mse | AUC critic | raw-pixel 1-NN AUC |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {fit_seconds:.0f} | {score_seconds:.1f} | {roc_auc_score(y_test, -scores):.3f} "
        f"| {roc_auc_score(y_test, eq_5_1):.3f} "
        + "".join(f"| {roc_auc_score(y_test, components[k]):.3f} "
                  for k in ("mse", "kl", "feature_mse", "critic"))
        + f"| {roc_auc_score(y_test, distance[:, 0]):.3f} |"
    )


if __name__ == "__main__":
    main()
