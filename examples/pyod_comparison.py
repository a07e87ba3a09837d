"""D-AnoGAN next to PyOD's detectors on one MNIST leave-one-digit-out split.

``danogan_sk.pyod.DAnoGAN`` follows PyOD's conventions (``fit`` on training
data, ``decision_function`` higher = more abnormal, ``decision_scores_`` and
``labels_`` in {0, 1} for the training data), so it drops into the usual PyOD
benchmarking loop next to ``KNN``, ``LOF``, ``IForest``, ``PCA`` and
``AutoEncoder`` (not in the fast run). The split is the thesis's protocol
for one digit: the models train on 80% of the other nine digits, and the
test set is the remaining 20% plus every image of the held-out digit
(``y_test``: 1 = anomaly).

The images are flattened to 784 features on [0, 1] for every detector;
``image_shape=(28, 28)`` tells D-AnoGAN to use convolutional networks. Run
with ``DANOGAN_FAST=1`` for a seconds-long smoke run; the full run takes tens
of minutes on a CPU.
"""

import time

import numpy as np
from pyod.models.auto_encoder import AutoEncoder
from pyod.models.iforest import IForest
from pyod.models.knn import KNN
from pyod.models.lof import LOF
from pyod.models.pca import PCA
from sklearn.metrics import roc_auc_score

from _data import FAST, FAST_PARAMS, mnist, subsample
from danogan_sk.datasets import leave_one_class_out
from danogan_sk.pyod import DAnoGAN

HELD_OUT_DIGIT = 7
N_TRAIN = 300 if FAST else 10_000
N_TEST = 300 if FAST else 5_000

X, y = mnist("test" if FAST else "all")
split = leave_one_class_out(X, y, anomaly_class=HELD_OUT_DIGIT, random_state=0)
X_train = split.X_train[:N_TRAIN].reshape(-1, 784) / 255.0  # X_train is in random order
X_test, y_test = subsample(split.X_test.reshape(-1, 784) / 255.0, split.y_test, N_TEST)
print(f"held-out digit {HELD_OUT_DIGIT}: {len(X_train)} training images (normal only), "
      f"{len(X_test)} test images, {int(y_test.sum())} of them anomalous")

danogan_params = FAST_PARAMS if FAST else {"n_epochs": 10, "xzx_epochs": 2}
detectors = {
    "D-AnoGAN": DAnoGAN(image_shape=(28, 28), random_state=0, **danogan_params),
    "KNN": KNN(),
    "LOF": LOF(),
    "IForest": IForest(random_state=0),
    "PCA": PCA(random_state=0),
}
if not FAST:  # its first fit alone costs seconds of set-up: left out of the smoke run
    detectors["AutoEncoder"] = AutoEncoder(epoch_num=20, random_state=0, verbose=0)

print(f"{'detector':<12} {'fit s':>7} {'score s':>8}   ROC AUC on the test set")
for name, clf in detectors.items():
    start = time.perf_counter()
    clf.fit(X_train)
    fitted = time.perf_counter()
    scores = clf.decision_function(X_test)  # higher = more abnormal, for every PyOD detector
    scored = time.perf_counter()
    auc = roc_auc_score(y_test, scores)
    print(f"{name:<12} {fitted - start:7.1f} {scored - fitted:8.1f}   {auc:.3f}")

# PyOD's other outputs: training-set scores and 0/1 labels at `contamination`.
danogan = detectors["D-AnoGAN"]
print(f"D-AnoGAN flags {danogan.labels_.mean():.0%} of its training images "
      f"(contamination={danogan.contamination}, threshold_={danogan.threshold_:.4f}); "
      f"test images above threshold_: {np.mean(danogan.predict(X_test) == 1):.0%}")
