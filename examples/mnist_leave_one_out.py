"""The thesis's MNIST protocol for one held-out digit, with the bandit's convergence plot.

Protocol (thesis section 5.1): the held-out digit is the anomaly, the other
nine are normal; 80% of the normal images train the model, and the test set
is the other 20% plus every image of the held-out digit. The pool is MNIST's
train and test files together (70,000 images).

The model is the thesis's configuration (``THESIS_PARAMS``: 15 generators,
batch 128, 500 + 500 epochs) on a GPU. Without one, it runs a CPU budget on
10,000 training images with ``entropy_decay="auto"``: the thesis's fixed
decay of 0.999 per bandit step keeps the prior uniform for thousands of
steps, longer than a short run lasts.

Prints the ROC AUC at the thesis's ``alpha = 0.9``, of each score term and
of the detector's default score,
the digits each generator took, and saves ``bandit_probabilities.png``: the
bandit's prior over the generators after every epoch (the thesis's figure
5.4), from ``history_["bandit_probabilities"]``. Run with ``DANOGAN_FAST=1``
for a seconds-long smoke run.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from _data import FAST, FAST_PARAMS, mnist, subsample  # noqa: E402
from danogan_sk import THESIS_PARAMS, DAnoGANDetector  # noqa: E402
from danogan_sk.datasets import leave_one_class_out  # noqa: E402

HELD_OUT_DIGIT = 3

params = dict(THESIS_PARAMS)
max_train = None  # all 50,400 training images
if FAST:
    params.update(FAST_PARAMS, n_epochs=3, entropy_decay="auto")
    max_train = 300
elif not torch.cuda.is_available():
    params.update(n_epochs=20, xzx_epochs=3, batch_size=64, entropy_decay="auto")
    max_train = 10_000

X, y = mnist("test" if FAST else "all")
split = leave_one_class_out(X, y, anomaly_class=HELD_OUT_DIGIT, train_fraction=0.8, random_state=0)
X_train, digits_train = split.X_train[:max_train], split.classes_train[:max_train]  # random order
X_test, y_test = split.X_test, split.y_test  # y_test: 1 = held-out digit
if FAST:
    X_test, y_test = subsample(X_test, y_test, 300)
print(f"held-out digit {HELD_OUT_DIGIT}: training on {len(X_train)} images of the other "
      f"digits; testing on {len(X_test)}, {int(y_test.sum())} of them anomalous")

detector = DAnoGANDetector(**params, random_state=0, verbose=1).fit(X_train)

parts = detector.score_components(X_test)
anomaly_score = -detector.score_samples(X_test)  # THESIS_PARAMS: eq. 5.1 at alpha = 0.9
print(f"ROC AUC (eq. 5.1, alpha={detector.alpha}): {roc_auc_score(y_test, anomaly_score):.3f}")
print(f"ROC AUC of the reconstruction error (alpha=0): {roc_auc_score(y_test, parts['mse']):.3f}")
print(f"ROC AUC of the KL term (alpha=1): {roc_auc_score(y_test, parts['kl']):.3f}")
print(f"ROC AUC of the critic-feature error: {roc_auc_score(y_test, parts['feature_mse']):.3f}")
print(f"ROC AUC of the critic term -D(x): {roc_auc_score(y_test, parts['critic']):.3f}")
print(f"ROC AUC of the memory-bank distance: {roc_auc_score(y_test, parts['neighbor']):.3f}")
# The detector's default score, from the same networks: no refit.
defaults = DAnoGANDetector().get_params()
detector.set_params(**{name: defaults[name] for name in ("alpha", "critic_weight", "neighbor_weight",
                                                        "scale_terms")})
print(f"ROC AUC (default score: critic + memory-bank distance, scaled): "
      f"{roc_auc_score(y_test, -detector.score_samples(X_test)):.3f}")

# Which digits each generator covers: the classifier routes every training
# image to one generator; the bandit's prior says how much each is used.
prior = detector.history_["bandit_probabilities"][-1]
cluster = detector.score_components(X_train)["cluster"]
print("generator  prior   images  most frequent digits (share)")
for k in np.argsort(-prior):
    members = digits_train[cluster == k]
    if len(members) == 0:
        print(f"{k:>9}  {prior[k]:.3f}  {0:>6}")
        continue
    values, counts = np.unique(members, return_counts=True)
    top = np.argsort(-counts)[:3]
    shares = ", ".join(f"{values[i]} ({counts[i] / len(members):.0%})" for i in top)
    print(f"{k:>9}  {prior[k]:.3f}  {len(members):>6}  {shares}")

# The bandit's convergence: prior probability of every generator per epoch.
probabilities = detector.history_["bandit_probabilities"]  # (n_epochs, n_generators)
epochs = np.arange(1, len(probabilities) + 1)
fig, (ax, ax_weight) = plt.subplots(2, 1, figsize=(6, 5.5), sharex=True,
                                    gridspec_kw={"height_ratios": [3, 1]})
for k in range(probabilities.shape[1]):
    ax.plot(epochs, probabilities[:, k], marker="." if len(epochs) < 30 else None, lw=1.2)
ax.axhline(1 / probabilities.shape[1], color="gray", ls=":", lw=1, label="uniform")
ax.set_ylim(0, 1.05 * probabilities.max())
ax.set_ylabel("prior probability p_k")
ax.set_title(f"Bandit prior over {probabilities.shape[1]} generators, "
             f"MNIST without digit {HELD_OUT_DIGIT}")
ax.legend(loc="upper right", fontsize=8)
ax_weight.semilogy(epochs, detector.history_["entropy_weight"], color="black")
ax_weight.set_ylabel("entropy weight")
ax_weight.set_xlabel("epoch")
ax_weight.xaxis.set_major_locator(MaxNLocator(integer=True))
fig.tight_layout()
fig.savefig("bandit_probabilities.png", dpi=120)
print("saved bandit_probabilities.png")
