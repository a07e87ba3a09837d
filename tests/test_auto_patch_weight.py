"""``patch_weight="auto"``: the patch term's weight chosen at fit from pseudo-anomalies."""

import copy
import pickle

import numpy as np
import pytest

import danogan_sk.detector_scoring as detector_scoring
import danogan_sk.pseudo_anomalies as pseudo_module
from danogan_sk import DAnoGANDetector
from danogan_sk.pseudo_anomalies import AUTO_PATCH_WEIGHT, choose_patch_weight

TINY = dict(n_generators=3, n_epochs=2, xzx_epochs=1, base_channels=4, latent_dim=3, random_state=2)


def _striped(n=120, seed=0):
    """Images of two kinds (bright left or right columns): two clusters for the classifier."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, 8, 8)) * 0.1
    X[: n // 2, :, :3] += 0.9
    X[n // 2:, :, 5:] += 0.9
    return X


@pytest.fixture(scope="module")
def fitted():
    X = _striped()
    return X, DAnoGANDetector(**TINY).fit(X)


def test_the_default_is_auto_and_fit_keeps_the_larger_pseudo_auc(fitted):
    X, det = fitted
    assert DAnoGANDetector().patch_weight == "auto" and det.patch_weight == "auto"
    aucs = det.pseudo_anomaly_aucs_
    assert aucs.shape == (2,) and np.all((aucs >= 0) & (aucs <= 1))
    assert det.patch_weight_ == (AUTO_PATCH_WEIGHT if aucs[1] > aucs[0] else 0.0)


def test_auto_scores_as_the_chosen_weights_given_explicitly(fitted):
    X, det = fitted
    for chosen in (0.0, AUTO_PATCH_WEIGHT):
        forced = copy.copy(det)
        forced.patch_weight_ = chosen
        explicit = copy.copy(det).set_params(patch_weight=chosen, neighbor_weight=round(0.65 - chosen, 12))
        np.testing.assert_allclose(forced.score_samples(X), explicit.score_samples(X))
        assert ("patch" in forced.score_components(X[:3])) == (chosen > 0)
    # Both choices score differently here, so the comparison above could fail.
    zero, split = (copy.copy(det) for _ in range(2))
    zero.patch_weight_, split.patch_weight_ = 0.0, AUTO_PATCH_WEIGHT
    assert not np.allclose(zero.score_samples(X), split.score_samples(X))


@pytest.mark.parametrize("aucs, expected", [([0.6, 0.7], AUTO_PATCH_WEIGHT), ([0.7, 0.6], 0.0), ([0.6, 0.6], 0.0)])
def test_choose_patch_weight_takes_the_larger_and_keeps_0_on_a_tie(fitted, monkeypatch, aucs, expected):
    X, det = fitted
    seen = []

    def fake(detector, data, weightings, random_state):
        seen.append(weightings)
        return np.array(aucs)

    monkeypatch.setattr(pseudo_module, "pseudo_anomaly_aucs", fake)
    chosen, got = choose_patch_weight(det, X, random_state=0)
    assert chosen == expected and list(got) == aucs
    assert seen == [[{"patch_weight": 0.0}, {"neighbor_weight": 0.65 - AUTO_PATCH_WEIGHT, "patch_weight": AUTO_PATCH_WEIGHT}]]


def test_the_choice_at_fit_is_choose_patch_weight_on_the_bank_rows(fitted):
    X, det = fitted
    # Fit reuses its training terms and the bank's vectors; the public function computes both afresh.
    # All 120 rows are in the bank and all are sampled, so the seed does not matter here.
    assert len(det.memory_bank_) == len(X)
    chosen, aucs = choose_patch_weight(det, X, random_state=0)
    np.testing.assert_allclose(det.pseudo_anomaly_aucs_, aucs, atol=1e-12)
    assert det.patch_weight_ == chosen


def test_too_few_clusters_keep_0(fitted):
    X, det = fitted
    # With 20 sampled rows required inside and outside, 30 rows cannot give two clusters.
    assert choose_patch_weight(det, X[:30], random_state=0) == (0.0, None)


@pytest.mark.parametrize("params", [dict(neighbor_weight=0.3), dict(memory_bank_size=0, neighbor_weight=0.0,
                                                                      latent_weight=0.0)])
def test_nothing_to_choose_keeps_0(params):
    X = _striped()
    det = DAnoGANDetector(**TINY, **params).fit(X)
    assert det.patch_weight_ == 0.0 and det.pseudo_anomaly_aucs_ is None
    explicit = DAnoGANDetector(**TINY, **params, patch_weight=0.0).fit(X)
    np.testing.assert_array_equal(det.score_samples(X), explicit.score_samples(X))


def test_tabular_data_keeps_0():
    X = np.random.default_rng(0).normal(size=(100, 4))
    det = DAnoGANDetector(n_generators=2, n_epochs=1, xzx_epochs=0, random_state=0).fit(X)
    assert det.patch_weight_ == 0.0 and det.pseudo_anomaly_aucs_ is None


def test_a_given_patch_weight_is_kept():
    X = _striped()
    det = DAnoGANDetector(**TINY, patch_weight=0.2, neighbor_weight=0.45).fit(X)
    assert det.patch_weight_ == 0.2 and det.pseudo_anomaly_aucs_ is None


def test_the_choice_follows_random_state():
    X = _striped()
    first, second = (DAnoGANDetector(**TINY).fit(X) for _ in range(2))
    np.testing.assert_array_equal(first.pseudo_anomaly_aucs_, second.pseudo_anomaly_aucs_)
    np.testing.assert_array_equal(first.score_samples(X), second.score_samples(X))


def test_neighbor_weight_below_the_chosen_split_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(detector_scoring, "choose_patch_weight_on_bank",
                        lambda detector, components, random_state: (AUTO_PATCH_WEIGHT, np.array([0.5, 0.6])))
    X = _striped()
    det = DAnoGANDetector(**TINY).fit(X)
    assert det.patch_weight_ == AUTO_PATCH_WEIGHT
    det.set_params(neighbor_weight=0.2)
    with pytest.raises(ValueError, match=r"patch_weight='auto' chose patch_weight_=0.35 at fit, taken from "
                                         r"neighbor_weight, but neighbor_weight=0.2 is smaller"):
        det.score_samples(X)
    # A number for patch_weight overrides the choice at scoring time.
    det.set_params(neighbor_weight=0.65, patch_weight=0.0)
    explicit = DAnoGANDetector(**TINY, patch_weight=0.0).fit(X)
    np.testing.assert_allclose(det.score_samples(X), explicit.score_samples(X))


def test_the_choice_survives_pickling(fitted):
    X, det = fitted
    loaded = pickle.loads(pickle.dumps(det))
    assert loaded.patch_weight_ == det.patch_weight_
    np.testing.assert_array_equal(loaded.pseudo_anomaly_aucs_, det.pseudo_anomaly_aucs_)
    np.testing.assert_allclose(loaded.score_samples(X), det.score_samples(X), rtol=1e-6)
