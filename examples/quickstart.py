"""Fit D-AnoGAN on normal Wheel images and score normal and anomalous wheels.

Shows the basic API: ``fit`` on normal data only, ``score_samples`` (higher =
more normal), ``predict`` (+1 / -1) and ``score_components``, then saves
``quickstart_reconstructions.png``: test wheels, their reconstructions
``G_k(E_k(x))`` and the squared error between the two. Run with
``DANOGAN_FAST=1`` for a seconds-long smoke run.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from danogan_sk import DAnoGANDetector  # noqa: E402
from danogan_sk.datasets import make_wheels  # noqa: E402

FAST = os.environ.get("DANOGAN_FAST") == "1"
SIZE = 32
N_NORMAL = 96 if FAST else 1600

# Eight normal wheel designs to train on; new draws of them and the two
# anomalous designs (a low-contrast fork and mixed bolt patterns) to test on.
X_normal, _ = make_wheels(N_NORMAL, "normal", image_size=SIZE, random_state=0)
X_new_normal, _ = make_wheels(N_NORMAL // 4, "normal", image_size=SIZE, random_state=1)
X_anomalous, kind = make_wheels(N_NORMAL // 4, "anomalous", image_size=SIZE, random_state=2)

params = {"n_epochs": 10, "xzx_epochs": 2}
if FAST:
    params = {"n_generators": 3, "n_epochs": 1, "xzx_epochs": 1, "batch_size": 32,
              "base_channels": 8, "max_channels": 32}
detector = DAnoGANDetector(**params, random_state=0, verbose=1).fit(X_normal)

X_test = np.concatenate([X_new_normal, X_anomalous])
is_anomaly = np.r_[np.zeros(len(X_new_normal)), np.ones(len(X_anomalous))]
scores = detector.score_samples(X_test)
print(f"ROC AUC (default score): {roc_auc_score(is_anomaly, -scores):.3f}")
mse = detector.score_components(X_test)["mse"]
print(f"ROC AUC of the reconstruction error alone: {roc_auc_score(is_anomaly, mse):.3f}")
print(f"flagged as outliers: {np.mean(detector.predict(X_test) == -1):.0%} of the test images")

# Reconstructions G_k(E_k(x)) and error maps of three normal and three
# anomalous wheels, with each one's anomaly score A(x) = -score_samples.
shown = np.concatenate([X_new_normal[:3], X_anomalous[kind == 0][:2], X_anomalous[kind == 1][:1]])
names = ["normal"] * 3 + ["low-contrast fork"] * 2 + ["mixed bolts"]
reconstructed = detector.reconstruct(shown)  # same shape and units as `shown`
error = (shown - reconstructed) ** 2
anomaly_score = -detector.score_samples(shown)
fig, axes = plt.subplots(3, len(shown), figsize=(1.6 * len(shown), 5.4), squeeze=False)
for j, name in enumerate(names):
    axes[0, j].set_title(f"{name}\nA(x) = {anomaly_score[j]:.3f}", fontsize=8,
                         color="black" if name == "normal" else "tab:red")
    axes[0, j].imshow(shown[j], cmap="gray", vmin=0.0, vmax=1.0)
    axes[1, j].imshow(reconstructed[j], cmap="gray", vmin=0.0, vmax=1.0)
    axes[2, j].imshow(error[j], cmap="magma", vmin=0.0, vmax=error.max())
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
for i, label in enumerate(["input", "reconstruction", "squared error"]):
    axes[i, 0].set_ylabel(label, fontsize=8)
fig.tight_layout()
fig.savefig("quickstart_reconstructions.png", dpi=120)
print("saved quickstart_reconstructions.png")
