"""``DAnoGANDetector`` as the last step of a scikit-learn ``Pipeline``, saved and loaded with joblib.

The pipeline takes 64 x 64 wheel images, halves their resolution in a
``FunctionTransformer`` step (rows of 32 x 32 = 1024 values) and hands the
rows to the detector with ``image_shape=(32, 32)``, so it builds
convolutional networks. The detector learns its own pixel scale in ``fit``,
so no scaling step is needed for images (``tabular.py`` shows feature data).

A pipeline ending in an outlier detector offers ``predict`` (+1 / -1),
``score_samples`` and ``decision_function``; ``set_params(danogan__alpha=...)``
changes the score weight without refitting. ``joblib.dump`` stores the fitted
networks as CPU tensors, so the file loads on a machine without a GPU. Pickle
stores functions by name: the program that loads the file must be able to
import ``halve_resolution`` (put such functions in a module, not in a
script). Run with ``DANOGAN_FAST=1`` for a seconds-long smoke run.
"""

import os

import joblib
import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from danogan_sk import DAnoGANDetector
from danogan_sk.datasets import make_wheels

FAST = os.environ.get("DANOGAN_FAST") == "1"
N_NORMAL = 96 if FAST else 1600


def halve_resolution(images):
    """(n, 64, 64) images -> (n, 1024) rows of 32 x 32 images (2 x 2 means)."""
    images = np.asarray(images, dtype=np.float32)
    n, height, width = images.shape
    return images.reshape(n, height // 2, 2, width // 2, 2).mean(axis=(2, 4)).reshape(n, -1)


params = {"n_epochs": 10, "xzx_epochs": 2}
if FAST:
    params = {"n_generators": 3, "n_epochs": 1, "xzx_epochs": 1, "batch_size": 32,
              "base_channels": 8, "max_channels": 32}
pipe = Pipeline([
    ("downsample", FunctionTransformer(halve_resolution)),
    ("danogan", DAnoGANDetector(image_shape=(32, 32), random_state=0, **params)),
])

X_normal, _ = make_wheels(N_NORMAL, "normal", image_size=64, random_state=0)
pipe.fit(X_normal)

X_test_normal, _ = make_wheels(N_NORMAL // 4, "normal", image_size=64, random_state=1)
X_test_anomalous, _ = make_wheels(N_NORMAL // 4, "anomalous", image_size=64, random_state=2)
X_test = np.concatenate([X_test_normal, X_test_anomalous])
y_test = np.r_[np.ones(len(X_test_normal)), -np.ones(len(X_test_anomalous))]  # +1 normal

scores = pipe.score_samples(X_test)  # higher = more normal
print(f"ROC AUC of the pipeline (default score): {roc_auc_score(y_test, scores):.3f}")
print(f"predicted outliers: {np.mean(pipe.predict(X_test) == -1):.0%} of the test images")

# The score settings act at scoring time: no refit. The thesis's eq. 5.1:
pipe.set_params(danogan__alpha=0.9, danogan__critic_weight=0.0, danogan__neighbor_weight=0.0,
               danogan__latent_weight=0.0, danogan__scale_terms=False)
print(f"ROC AUC with the thesis's eq. 5.1 (alpha=0.9): "
      f"{roc_auc_score(y_test, pipe.score_samples(X_test)):.3f}")

joblib.dump(pipe, "danogan_pipeline.joblib")
loaded = joblib.load("danogan_pipeline.joblib")
same = np.allclose(loaded.score_samples(X_test), pipe.score_samples(X_test))
size_mb = os.path.getsize("danogan_pipeline.joblib") / 1e6
print(f"saved and loaded danogan_pipeline.joblib ({size_mb:.1f} MB): same scores: {same}")
assert same
