"""The PyOD adapter: PyOD's conventions on D-AnoGAN's model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

pytest.importorskip("pyod")

from pyod.models.auto_encoder import AutoEncoder  # noqa: E402
from pyod.models.iforest import IForest  # noqa: E402
from pyod.models.knn import KNN  # noqa: E402

from danogan_sk import DAnoGANDetector  # noqa: E402
from danogan_sk.pyod import DAnoGAN  # noqa: E402

TINY = dict(n_generators=2, latent_dim=4, n_epochs=2, xzx_epochs=1, base_channels=4,
            batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(160, 6))
    X_test = np.vstack([rng.normal(size=(40, 6)), rng.normal(6.0, 1.0, size=(10, 6))])
    y_test = np.r_[np.zeros(40), np.ones(10)]
    return X_train, X_test, y_test


@pytest.fixture(scope="module")
def fitted(data):
    return DAnoGAN(contamination=0.1, **TINY).fit(data[0])


def test_runs_in_a_plain_pyod_comparison_loop(data):
    X_train, X_test, y_test = data
    detectors = {
        "IForest": IForest(random_state=0),
        "KNN": KNN(),
        "AutoEncoder": AutoEncoder(epoch_num=1, verbose=0, random_state=0),
        "D-AnoGAN": DAnoGAN(**TINY),
    }
    for name, clf in detectors.items():
        clf.fit(X_train)
        scores = clf.decision_function(X_test)
        assert scores.shape == (len(X_test),), name
        assert 0.0 <= roc_auc_score(y_test, scores) <= 1.0
        assert set(np.unique(clf.predict(X_test))) <= {0, 1}


def test_attributes_follow_the_pyod_contract(fitted, data):
    X_train, X_test, _ = data
    n = len(X_train)
    assert fitted.decision_scores_.shape == (n,)
    assert set(np.unique(fitted.labels_)) <= {0, 1}
    assert fitted.threshold_ == pytest.approx(np.percentile(fitted.decision_scores_, 90))
    assert np.array_equal(fitted.labels_, (fitted.decision_scores_ > fitted.threshold_).astype(int))
    assert abs(fitted.labels_.mean() - 0.1) <= 1.0 / n
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    assert np.allclose(proba.sum(axis=1), 1.0) and (proba >= 0).all()
    confidence = fitted.predict_confidence(X_test)
    assert confidence.shape == (len(X_test),) and ((0 <= confidence) & (confidence <= 1)).all()
    labels, conf = fitted.predict(X_test, return_confidence=True)
    assert np.array_equal(labels, (fitted.decision_function(X_test) > fitted.threshold_).astype(int))
    assert conf.shape == labels.shape


def test_scores_are_the_opposite_of_the_sklearn_detector(fitted, data):
    X_test = data[1]
    assert isinstance(fitted.detector_, DAnoGANDetector)
    assert np.allclose(fitted.decision_function(X_test), -fitted.detector_.score_samples(X_test))
    twin = DAnoGANDetector(**TINY).fit(data[0])
    assert np.allclose(fitted.decision_function(X_test), -twin.score_samples(X_test))


def test_params_are_explicit_and_shared_with_the_estimator(fitted):
    params = fitted.get_params()
    assert set(DAnoGANDetector().get_params()) <= set(params)
    assert params["n_generators"] == 2
    copy = clone(fitted).set_params(alpha=0.5)
    assert copy.alpha == 0.5 and not hasattr(copy, "detector_")


def test_rejects_bad_contamination():
    with pytest.raises(ValueError):
        DAnoGAN(contamination=0.7)


def test_defaults_are_the_estimators_defaults():
    # The adapter lists the parameters again for PyOD's get_params; their
    # defaults must not drift from the estimator's.
    adapter = DAnoGAN().get_params()
    for name, value in DAnoGANDetector().get_params().items():
        assert adapter[name] == value, name


def test_training_scores_come_from_the_fit_pass(data, monkeypatch):
    """decision_scores_ are the training data's scores, without a second pass through the networks."""
    calls = []
    original = DAnoGANDetector._components
    monkeypatch.setattr(
        DAnoGANDetector,
        "_components",
        lambda self, X, validate, **kwargs: calls.append(len(X)) or original(self, X, validate, **kwargs),
    )
    clf = DAnoGAN(**TINY).fit(data[0])
    assert calls == [len(data[0])]  # the estimator's own pass, for offset_
    np.testing.assert_allclose(clf.decision_scores_, clf.decision_function(data[0]), rtol=1e-5, atol=1e-6)
