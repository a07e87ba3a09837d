"""scikit-learn's estimator checks on a tiny configuration."""

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


@parametrize_with_checks([DAnoGANDetector(**TINY)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
