"""The ``latent`` score term: a query's latent code against the training codes of its cluster."""

import pickle

import numpy as np
import pytest
import torch

from _terms import assert_score_term_contract
from danogan_sk import DAnoGANDetector
from danogan_sk.memory_bank import MemoryBank

TINY = dict(n_generators=3, latent_dim=3, n_epochs=1, xzx_epochs=1, base_channels=4, random_state=0,
            critic_weight=0.25, neighbor_weight=0.5, latent_weight=0.25)


@pytest.fixture(scope="module")
def fitted(images):
    X, _ = images
    return DAnoGANDetector(memory_bank_size=50, **TINY).fit(X)


def _grouped_brute_force(queries, query_groups, bank, bank_groups, k):
    """Mean distance to the k nearest rows of the query's group, or of all rows when the group
    has k rows or fewer; a row identical to the query is left out."""
    out = []
    for q, g in zip(queries, query_groups):
        d = np.linalg.norm(bank - q, axis=1)
        d[d < 1e-6] = np.inf
        same = bank_groups == g
        if same.sum() > k:
            d = np.where(same, d, np.inf)
        out.append(np.sort(d)[:k].mean())
    return np.array(out)


@pytest.mark.parametrize("k", [1, 2])
def test_grouped_distance_matches_brute_force(k):
    rng = np.random.default_rng(2)
    bank = rng.normal(size=(30, 4))
    # Group 2 holds two rows: too few for k=2 once a query's own row is left out.
    groups = np.array([0] * 14 + [1] * 14 + [2] * 2)
    queries = np.concatenate([rng.normal(size=(9, 4)), bank[[0, 20, 28]]])
    query_groups = np.array([0, 1, 2] * 3 + [0, 1, 2])
    memory = MemoryBank(torch.from_numpy(bank).float(), k, "euclidean", None, groups=torch.from_numpy(groups))
    got = memory.distance(torch.from_numpy(queries).float(), groups=torch.from_numpy(query_groups)).numpy()
    expected = _grouped_brute_force(queries, query_groups, bank, groups, k)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # Without the queries' groups the bank is searched whole.
    whole = memory.distance(torch.from_numpy(queries).float()).numpy()
    assert np.all(whole <= got + 1e-6) and np.any(whole < got - 1e-3)


def test_the_bank_holds_each_training_sample_s_code_under_its_cluster(images, fitted):
    X, _ = images
    assert len(fitted.latent_bank_) == len(fitted.memory_bank_) == 50
    assert fitted.latent_bank_.dim == fitted.latent_dim
    clusters = fitted.latent_bank_.groups.cpu().numpy()
    # The bank's rows are the memory bank's rows: the same samples, in the same order.
    features = fitted.critic_features(X)
    bank_features = fitted.memory_bank_.vectors.cpu().numpy()
    matches = [int(np.argmin(np.linalg.norm(features.reshape(len(X), -1) - row, axis=1))) for row in bank_features]
    routed = fitted.score_components(X[matches])["cluster"]
    np.testing.assert_array_equal(clusters, routed)
    with torch.no_grad():
        codes = fitted.networks_.encode(torch.from_numpy(fitted._to_network_input(X[matches])),
                                        torch.from_numpy(routed))
    np.testing.assert_allclose(fitted.latent_bank_.vectors.cpu().numpy(), codes.numpy(), rtol=1e-4, atol=1e-5)


def test_latent_term_is_the_distance_to_codes_of_the_query_s_cluster(images, fitted):
    _, X_test = images
    detector = pickle.loads(pickle.dumps(fitted))
    # A tiny fit routes everything to one cluster; spread the bank's rows over three,
    # so that only a search within the queries' own cluster gives the expected distances.
    bank = detector.latent_bank_
    groups = torch.arange(len(bank)) % 3
    detector.latent_bank_ = MemoryBank(bank.vectors, 1, "euclidean", None, groups=groups)
    components = detector.score_components(X_test)
    with torch.no_grad():
        rec = detector.networks_.reconstruct(torch.from_numpy(detector._to_network_input(X_test)))
    codes, clusters = rec.latent.numpy(), rec.cluster.numpy()
    expected = _grouped_brute_force(codes, clusters, bank.vectors.numpy(), groups.numpy(), 1)
    np.testing.assert_allclose(components["latent"], expected, rtol=1e-4, atol=1e-5)
    anywhere = _grouped_brute_force(codes, clusters, bank.vectors.numpy(), np.full(len(bank), -1), 1)
    assert np.all(expected >= anywhere - 1e-6) and np.any(expected > anywhere + 1e-3)


def test_latent_term_contract_and_latent_weight_at_scoring_time(images, fitted):
    _, X_test = images
    assert_score_term_contract(fitted, X_test, "latent", (0.0, 0.1, 0.25))


def test_pickle_round_trip_keeps_the_latent_bank(images, fitted):
    _, X_test = images
    state = fitted.__getstate__()
    assert state["latent_bank_"].vectors.device.type == "cpu"
    loaded = pickle.loads(pickle.dumps(fitted))
    assert loaded.latent_bank_.vectors.device == fitted.latent_bank_.vectors.device
    assert loaded.latent_bank_.groups.device == fitted.latent_bank_.vectors.device
    np.testing.assert_array_equal(loaded.latent_bank_.groups.cpu().numpy(), fitted.latent_bank_.groups.cpu().numpy())
    np.testing.assert_allclose(loaded.decision_function(X_test), fitted.decision_function(X_test), rtol=1e-6)


def test_a_detector_saved_before_the_latent_term_scores_as_it_did(images):
    X, X_test = images
    old = DAnoGANDetector(memory_bank_size=50, **dict(TINY, latent_weight=0.0)).fit(X)
    state = old.__getstate__()
    # What such a pickle holds: no latent_weight parameter and no latent codes.
    del state["latent_weight"], state["latent_bank_"]
    loaded = DAnoGANDetector.__new__(DAnoGANDetector)
    loaded.__setstate__(state)
    assert loaded.latent_weight == 0.0 and loaded.latent_bank_ is None
    np.testing.assert_allclose(loaded.decision_function(X_test), old.decision_function(X_test), rtol=1e-6)
    with pytest.raises(ValueError, match="did not keep; refit it, or set latent_weight=0"):
        loaded.set_params(latent_weight=0.2).decision_function(X_test)


def test_without_a_bank_there_is_no_latent_term(images):
    X, X_test = images
    det = DAnoGANDetector(**dict(TINY, memory_bank_size=0, neighbor_weight=0.0, latent_weight=0.0)).fit(X)
    assert det.latent_bank_ is None and "latent" not in det.score_components(X_test)
    with pytest.raises(ValueError, match="latent_weight=0.5 needs a memory bank"):
        det.set_params(latent_weight=0.5).decision_function(X_test)
    with pytest.raises(ValueError, match="latent_weight=0.5 needs a memory bank"):
        DAnoGANDetector(**dict(TINY, memory_bank_size=0, neighbor_weight=0.0, latent_weight=0.5)).fit(X)


def test_latent_term_on_tabular_rows():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(-3, 0.3, size=(60, 4)), rng.normal(3, 0.3, size=(60, 4))])
    det = DAnoGANDetector(**dict(TINY, n_generators=2)).fit(X)
    latent = det.score_components(rng.normal(0, 0.3, size=(10, 4)))["latent"]
    assert np.all(np.isfinite(latent)) and np.all(latent > 0)
    assert det.latent_bank_.dim == 3 and set(det.latent_bank_.groups.tolist()) <= {0, 1}
