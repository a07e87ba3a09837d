"""Choose the score weight ``alpha`` with ``GridSearchCV``, training once per fold.

``alpha`` acts at scoring time only, and ``memory`` caches the trained
networks by training data and training parameters, so a grid over ``alpha``
trains one model per fold, not one per (fold, alpha) pair. The search uses:

* an explicit ``cv`` iterable whose training parts hold normal rows only
  (D-AnoGAN is fitted on normal data), and whose test parts are the other
  normal rows plus a small labelled set of anomalies;
* labels ``+1`` normal / ``-1`` anomaly with ``scoring="roc_auc"``: the
  scorer ranks by ``decision_function``, higher = more normal = class +1;
* ``refit=False``: refitting on all of ``X`` would train on the anomalies.

The chosen ``alpha`` is then tested on wheels the search never saw. The
number of trainings is the number of entries in the cache (files named
``output.pkl``). Run with ``DANOGAN_FAST=1`` for a seconds-long smoke run.
"""

import os
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV

from danogan_sk import DAnoGANDetector
from danogan_sk.datasets import make_wheels

FAST = os.environ.get("DANOGAN_FAST") == "1"
SIZE = 32
N_NORMAL = 96 if FAST else 1600
N_FOLDS = 2 if FAST else 3
ALPHAS = [0.0, 0.5, 0.9, 0.99, 1.0]

X_normal, _ = make_wheels(N_NORMAL, "normal", image_size=SIZE, random_state=0)
X_anomalous, _ = make_wheels(N_NORMAL // 8, "anomalous", image_size=SIZE, random_state=1)
X = np.concatenate([X_normal, X_anomalous])
y = np.r_[np.ones(len(X_normal), dtype=int), -np.ones(len(X_anomalous), dtype=int)]

# Fold f trains on the normal rows outside part f; its test part is part f
# plus every anomaly.
normal_rows = np.random.default_rng(0).permutation(len(X_normal))
anomaly_rows = np.arange(len(X_normal), len(X))
parts = np.array_split(normal_rows, N_FOLDS)
cv = [
    (np.sort(np.concatenate(parts[:f] + parts[f + 1:])), np.r_[np.sort(parts[f]), anomaly_rows])
    for f in range(N_FOLDS)
]

params = {"n_epochs": 10, "xzx_epochs": 2}
if FAST:
    params = {"n_generators": 3, "n_epochs": 1, "xzx_epochs": 1, "batch_size": 32,
              "base_channels": 8, "max_channels": 32}

with tempfile.TemporaryDirectory() as cache:
    search = GridSearchCV(
        DAnoGANDetector(**params, memory=cache, random_state=0),
        {"alpha": ALPHAS},
        cv=cv,
        scoring="roc_auc",
        refit=False,
    ).fit(X, y)
    trainings = len(list(Path(cache).rglob("output.pkl")))

    print("alpha   mean ROC AUC over folds (std)")
    results = search.cv_results_
    for alpha, mean, std in zip(
        results["param_alpha"], results["mean_test_score"], results["std_test_score"]
    ):
        print(f"{alpha:<7} {mean:.3f} ({std:.3f})")
    best_alpha = search.best_params_["alpha"]
    print(f"best alpha: {best_alpha}")
    print(f"trainings that ran: {trainings} "
          f"(without memory: {len(cv) * len(ALPHAS)}, one per fold and alpha)")

    # The final model: fold 0's training rows are already in the cache, so
    # this fit loads the networks instead of training them.
    detector = DAnoGANDetector(**params, memory=cache, random_state=0, alpha=best_alpha)
    detector.fit(X[cv[0][0]])
    assert len(list(Path(cache).rglob("output.pkl"))) == trainings

X_test_normal, _ = make_wheels(N_NORMAL // 4, "normal", image_size=SIZE, random_state=2)
X_test_anomalous, _ = make_wheels(N_NORMAL // 4, "anomalous", image_size=SIZE, random_state=3)
X_test = np.concatenate([X_test_normal, X_test_anomalous])
y_test = np.r_[np.ones(len(X_test_normal)), -np.ones(len(X_test_anomalous))]
auc = roc_auc_score(y_test, detector.decision_function(X_test))
print(f"ROC AUC on new wheels at alpha={best_alpha}: {auc:.3f}")
