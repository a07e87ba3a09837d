"""Fit D-AnoGAN on normal Wheel images and score normal and anomalous wheels.

Shows the basic API: ``fit`` on normal data only, ``score_samples`` (higher =
more normal), ``predict`` (+1 / -1) and ``score_components``. Run with
``DANOGAN_FAST=1`` for a seconds-long smoke run.
"""

import os

import numpy as np
from sklearn.metrics import roc_auc_score

from danogan_sk import DAnoGANDetector
from danogan_sk.datasets import make_wheels

FAST = os.environ.get("DANOGAN_FAST") == "1"
SIZE = 32
N_NORMAL = 200 if FAST else 1600

X_normal, _ = make_wheels(N_NORMAL, "normal", image_size=SIZE, random_state=0)
X_new_normal, _ = make_wheels(N_NORMAL // 4, "normal", image_size=SIZE, random_state=1)
X_anomalous, _ = make_wheels(N_NORMAL // 4, "anomalous", image_size=SIZE, random_state=2)

detector = DAnoGANDetector(
    n_epochs=1 if FAST else 10, xzx_epochs=1 if FAST else 2, random_state=0, verbose=1
).fit(X_normal)

X_test = np.concatenate([X_new_normal, X_anomalous])
is_anomaly = np.r_[np.zeros(len(X_new_normal)), np.ones(len(X_anomalous))]
scores = detector.score_samples(X_test)
print(f"ROC AUC (alpha={detector.alpha}): {roc_auc_score(is_anomaly, -scores):.3f}")
mse = detector.score_components(X_test)["mse"]
print(f"ROC AUC of the reconstruction error alone: {roc_auc_score(is_anomaly, mse):.3f}")
print(f"flagged as outliers: {np.mean(detector.predict(X_test) == -1):.0%} of the test images")
