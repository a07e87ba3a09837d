"""Comparing score weightings without labels: clusters of normal data left out of the banks."""

import numpy as np
import pytest
import torch

from danogan_sk import DAnoGANDetector
from danogan_sk.memory_bank import MemoryBank
from danogan_sk.pseudo_anomalies import group_aucs, left_out_distances, outside_group_minima, pseudo_anomaly_aucs

PATCH_SPLIT = {"neighbor_weight": 0.3, "patch_weight": 0.35}
NEIGHBOR_ONLY = {"critic_weight": 0.0, "neighbor_weight": 1.0, "latent_weight": 0.0}


@pytest.fixture(scope="module")
def blobs():
    """Two far-apart clusters of tabular data and a detector whose classifier routes them apart."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (100, 4)), rng.normal(6, 1, (100, 4))])
    det = DAnoGANDetector(n_generators=3, n_epochs=2, xzx_epochs=0, random_state=0).fit(X)
    return X, det


@pytest.fixture(scope="module")
def striped():
    """Images of two kinds (bright left or right columns), routed to two clusters."""
    rng = np.random.default_rng(0)
    X = rng.random((120, 8, 8)) * 0.1
    X[:60, :, :3] += 0.9
    X[60:, :, 5:] += 0.9
    det = DAnoGANDetector(n_generators=3, n_epochs=2, xzx_epochs=1, base_channels=4, latent_dim=3,
                          memory_bank_size=200, random_state=2).fit(X)
    return X, det


def test_outside_group_minima_matches_brute_force():
    rng = np.random.default_rng(1)
    distances = torch.from_numpy(rng.random((7, 30)))
    groups = rng.integers(0, 4, 30)
    got = outside_group_minima(distances, groups)
    for i, g in enumerate(np.unique(groups)):
        np.testing.assert_allclose(got[i].numpy(), distances[:, groups != g].numpy().min(1))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def testleft_out_distances_match_a_bank_without_the_group(metric):
    rng = np.random.default_rng(2)
    features = rng.normal(size=(40, 3, 2, 2)).astype(np.float32)
    groups = np.repeat([0, 1, 2], [10, 12, 18])
    queries = np.array([0, 5, 11, 20, 39])
    got = left_out_distances(features, groups, queries, None, metric, patches=True)
    for i, g in enumerate((0, 1, 2)):
        outside = np.flatnonzero(groups != g)
        bank = MemoryBank(torch.from_numpy(features[outside].reshape(len(outside), -1)), 1, metric, None,
                          map_shape=(3, 2, 2))
        if metric == "cosine":
            bank.vectors = torch.nn.functional.normalize(bank.vectors, dim=1)
        # A query of another group is itself in that bank: leave its own row out, as the function does.
        own = torch.tensor([int(np.searchsorted(outside, q)) if groups[q] != g else -1 for q in queries])
        expected_patch = bank.patch_distance(torch.from_numpy(features[queries]), exclude=own)
        np.testing.assert_allclose(got["patch"][i].numpy(), expected_patch.numpy(), rtol=1e-4, atol=1e-5)
        # The whole maps' distance is the library's neighbour term against that bank.
        np.testing.assert_allclose(got["neighbor"][i].numpy(),
                                   bank.distance(torch.from_numpy(features[queries]), exclude=own).numpy(),
                                   rtol=1e-4, atol=1e-6)


def test_group_aucs_by_hand():
    left_out = {"neighbor": torch.tensor([[5.0, 6.0, 1.0, 2.0], [1.0, 2.0, 3.0, 0.5]])}
    fixed = {"critic": np.array([0.0, 0.0, 9.0, 9.0])}
    weight = dict(alpha=0.0, critic_weight=0.0, neighbor_weight=1.0, latent_weight=0.0, patch_weight=0.0)
    critic = dict(weight, critic_weight=1.0, neighbor_weight=0.0)
    got = group_aucs(fixed, left_out, np.array([0, 1]), np.array([0, 0, 1, 1]), [weight, critic], 1, True)
    # Group 0 left out: its queries are farther (5, 6) than the others (1, 2); group 1: 3 and 0.5
    # against 1 and 2 win two of four pairs. The critic ranks group 1 above group 0.
    np.testing.assert_allclose(got, [[1.0, 0.0], [0.5, 1.0]])
    with pytest.raises(ValueError, match="at least two clusters"):
        group_aucs(fixed, left_out, np.array([0, 1]), np.array([0, 0, 1, 1]), [weight], 3, True)


def test_a_left_out_cluster_is_found_by_the_neighbour_term(blobs):
    X, det = blobs
    aucs = pseudo_anomaly_aucs(det, X, [{}, NEIGHBOR_ONLY, {"critic_weight": 1.0, "neighbor_weight": 0.0,
                                                            "latent_weight": 0.0}], min_group=5)
    # The other blob is far from every sample the bank keeps, so distances find it.
    assert aucs[1] > 0.95
    # The critic saw both blobs in training: its value alone does not single either out.
    assert aucs[2] < aucs[1] - 0.2


def test_the_detectors_own_weights_are_the_empty_weighting(blobs):
    X, det = blobs
    own = {name: det.get_params()[name] for name in ("alpha", "critic_weight", "neighbor_weight", "latent_weight")}
    first = pseudo_anomaly_aucs(det, X, [{}, own], min_group=5)
    assert first[0] == first[1]
    np.testing.assert_array_equal(first, pseudo_anomaly_aucs(det, X, [{}, own], min_group=5))


def test_nothing_passed_in_changes(blobs):
    X, det = blobs
    X_before, params_before = X.copy(), det.get_params()
    pseudo_anomaly_aucs(det, X, [NEIGHBOR_ONLY], min_group=5)
    np.testing.assert_array_equal(X, X_before)
    assert det.get_params() == params_before


def test_the_sample_follows_random_state(striped):
    X, det = striped
    by_seed = [pseudo_anomaly_aucs(det, X, [{}, PATCH_SPLIT], n_queries=60, min_group=10, random_state=s)
               for s in (0, 0, 1)]
    np.testing.assert_array_equal(by_seed[0], by_seed[1])
    assert not np.array_equal(by_seed[0], by_seed[2])
    assert np.all(np.isfinite(by_seed[0])) and np.all((by_seed[0] >= 0) & (by_seed[0] <= 1))


@pytest.mark.parametrize("weightings, message", [
    ({"patch_weight": 0.1}, "non-empty list"),
    ([], "non-empty list"),
    ([{"n_epochs": 3}], r"not \['n_epochs'\]"),
    ([{"neighbor_weight": 0.9}], "must be at most 1"),
    ([{"neighbor_weight": 0.55, "patch_weight": 0.1}], "tabular data"),
])
def test_invalid_weightings_are_named(blobs, weightings, message):
    X, det = blobs
    with pytest.raises(ValueError, match=message):
        pseudo_anomaly_aucs(det, X, weightings, min_group=5)


def test_one_cluster_is_not_enough(blobs):
    X, det = blobs
    with pytest.raises(ValueError, match="at least two clusters"):
        pseudo_anomaly_aucs(det, X[:100], [{}], min_group=5)
