"""scikit-learn's estimator checks on a tiny configuration."""

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from danogan_sk import DAnoGANDetector

TINY = dict(
    n_generators=2,
    latent_dim=2,
    n_epochs=1,
    xzx_epochs=1,
    batch_size=32,
    base_channels=4,
    random_state=0,
)

#: The networks compute in float32, whose kernels round differently for
#: different batch sizes (about 1e-7 of a value). sklearn's subset check asks
#: for an absolute 1e-7, below float32 resolution once the default score
#: (terms divided by their spreads) is of order 1.
#: ``test_scores_do_not_depend_on_the_batch`` checks the same property at a
#: float32 tolerance.
EXPECTED_FAILED_CHECKS = {
    "check_methods_subset_invariance": "float32 networks: rounding differs by batch size "
    "at ~1e-7 relative, sklearn's tolerance is 1e-7 absolute on O(1) scores",
}


@parametrize_with_checks([DAnoGANDetector(**TINY)], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_scores_do_not_depend_on_the_batch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    det = DAnoGANDetector(**TINY).fit(X)
    full = det.decision_function(X)
    by_row = np.concatenate([det.decision_function(X[i:i + 1]) for i in range(len(X))])
    by_batch = np.concatenate([det.decision_function(X[i:i + 7]) for i in range(0, len(X), 7)])
    scale = np.max(np.abs(full))
    np.testing.assert_allclose(by_row, full, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(by_batch, full, rtol=0, atol=1e-5 * scale)
