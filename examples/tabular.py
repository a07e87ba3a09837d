"""The fully connected D-AnoGAN on a tabular data set: scikit-learn's breast cancer data.

A 2-D feature table with no ``image_shape`` gets fully connected networks
(two SELU hidden layers of ``4 * base_channels`` units for the generators,
encoders and critic). Each feature is mapped from its training range to
[-1, 1] in ``fit``, so features in different units need no scaler.

The data: 569 tumours described by 30 features, 357 benign and 212
malignant. The benign ones are normal and train the detector; a validation
set of benign and malignant tumours picks the score weights ``alpha``,
``critic_weight``, ``neighbor_weight`` and ``latent_weight`` (on this data the classifier's KL term carries little
signal, and ``alpha=0.9``, the thesis's value for images, is a poor
choice); a separate test set reports the result. Scikit-learn's ``IsolationForest`` and
``LocalOutlierFactor`` run on the same split for comparison. Run with ``DANOGAN_FAST=1`` for a seconds-long smoke run.
"""

import os

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import LocalOutlierFactor

from danogan_sk import DAnoGANDetector

FAST = os.environ.get("DANOGAN_FAST") == "1"

data = load_breast_cancer()
X, benign = data.data, data.target == 1  # target: 0 malignant, 1 benign
# Benign: 60% train, 20% validation, 20% test. Malignant: 30% validation, 70% test.
X_train, X_rest = train_test_split(X[benign], train_size=0.6, random_state=0)
X_val_normal, X_test_normal = train_test_split(X_rest, train_size=0.5, random_state=0)
X_val_malignant, X_test_malignant = train_test_split(X[~benign], train_size=0.3, random_state=0)
X_val = np.concatenate([X_val_normal, X_val_malignant])
y_val = np.r_[np.ones(len(X_val_normal)), -np.ones(len(X_val_malignant))]  # +1 normal
X_test = np.concatenate([X_test_normal, X_test_malignant])
y_test = np.r_[np.ones(len(X_test_normal)), -np.ones(len(X_test_malignant))]
print(f"{X.shape[1]} features; {len(X_train)} benign tumours to train on, "
      f"validation {len(X_val)}, test {len(X_test)} ({len(X_test_malignant)} malignant)")

detector = DAnoGANDetector(
    n_generators=3 if FAST else 5,
    latent_dim=8,
    n_epochs=2 if FAST else 300,
    xzx_epochs=1 if FAST else 100,
    batch_size=32,
    base_channels=16,
    random_state=0,
).fit(X_train)

# alpha (KL term against pixel error), critic_weight (critic term),
# neighbor_weight (memory-bank distance) and latent_weight (latent-code
# distance) act at scoring time: try a grid on the validation set (no refit),
# keep the best, and report it on the test set.
print("alpha  critic_weight  neighbor_weight  latent_weight  validation ROC AUC")
validation_auc = {}
for critic_weight, neighbor_weight, latent_weight in (
    (0.0, 0.0, 0.0), (0.5, 0.0, 0.0), (1.0, 0.0, 0.0), (0.25, 0.75, 0.0), (0.25, 0.65, 0.1), (0.0, 1.0, 0.0)
):
    for alpha in (0.0, 0.5, 0.9):
        settings = dict(alpha=alpha, critic_weight=critic_weight, neighbor_weight=neighbor_weight,
                        latent_weight=latent_weight)
        detector.set_params(**settings)
        validation_auc[tuple(settings.items())] = roc_auc_score(y_val, detector.score_samples(X_val))
        print(f"{alpha:<6} {critic_weight:<14} {neighbor_weight:<16} {latent_weight:<14} "
              f"{validation_auc[tuple(settings.items())]:.3f}")
best = dict(max(validation_auc, key=validation_auc.get))
detector.set_params(**best)
# score_samples and decision_function: higher = more normal (class +1).
print(f"ROC AUC D-AnoGAN on the test set ({best}, chosen on validation): "
      f"{roc_auc_score(y_test, detector.score_samples(X_test)):.3f}")

forest = IsolationForest(random_state=0).fit(X_train)
print(f"ROC AUC IsolationForest: {roc_auc_score(y_test, forest.score_samples(X_test)):.3f}")
lof = LocalOutlierFactor(novelty=True).fit(X_train)
print(f"ROC AUC LocalOutlierFactor: {roc_auc_score(y_test, lof.score_samples(X_test)):.3f}")
