"""The ``patch`` score term: each position of a query's critic feature map against the same
position of the training samples' maps, the largest such distance."""

import pickle

import numpy as np
import pytest
import torch

from _terms import assert_score_term_contract
from danogan_sk import DAnoGANDetector
from danogan_sk.memory_bank import MemoryBank
from danogan_sk.scoring import anomaly_score, term_spreads

TINY = dict(n_generators=2, latent_dim=3, n_epochs=1, xzx_epochs=1, base_channels=4, random_state=0,
            critic_weight=0.25, neighbor_weight=0.35, latent_weight=0.1, patch_weight=0.3)


@pytest.fixture(scope="module")
def fitted(images):
    X, _ = images
    return DAnoGANDetector(memory_bank_size=50, **TINY).fit(X)


def _patch_brute_force(queries: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """Per query (n, C, H, W): the largest over positions of the smallest euclidean distance
    to a bank map's (m, C, H, W) values at that position, a bank map equal to the query left out."""
    out = []
    for q in queries:
        others = bank[[not np.allclose(b, q) for b in bank]]
        per_position = np.linalg.norm(others - q[None], axis=1)  # (m, H, W)
        out.append(per_position.min(0).max())
    return np.array(out)


@pytest.mark.parametrize("pool", [None, 2])
def test_patch_distance_matches_brute_force(pool):
    rng = np.random.default_rng(3)
    maps = rng.normal(size=(25, 3, 4, 4)).astype(np.float32)
    bank_maps = torch.from_numpy(maps)
    pooled = torch.nn.functional.adaptive_avg_pool2d(bank_maps, 2).numpy() if pool else maps
    bank = MemoryBank(torch.from_numpy(pooled.reshape(25, -1)), 1, "euclidean", pool,
                      map_shape=pooled.shape[1:])
    queries = np.concatenate([rng.normal(size=(6, 3, 4, 4)).astype(np.float32), maps[[0, 7]]])
    q_pooled = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(queries), 2).numpy() if pool else queries
    got = bank.patch_distance(torch.from_numpy(queries)).numpy()
    np.testing.assert_allclose(got, _patch_brute_force(q_pooled, pooled), rtol=1e-4, atol=1e-5)
    # Positions matched one by one are never farther than whole maps.
    assert np.all(got <= bank.distance(torch.from_numpy(queries)).numpy() + 1e-5)
    # Each position's own distance, in row-major order, for the first query (no bank row equals it).
    by_position = bank.patch_distances(torch.from_numpy(queries)).numpy()
    assert by_position.shape == (len(queries), pooled.shape[2] * pooled.shape[3])
    expected = np.linalg.norm(pooled - q_pooled[0][None], axis=1).min(0).ravel()
    np.testing.assert_allclose(by_position[0], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(by_position.max(1), got, rtol=1e-6)


def test_a_bank_of_vectors_has_no_patches():
    bank = MemoryBank(torch.zeros(3, 4), 1, "euclidean", None)
    with pytest.raises(ValueError, match="feature vectors, not feature maps"):
        bank.patch_distance(torch.zeros(2, 4))


def test_the_bank_knows_the_shape_of_the_maps(images, fitted):
    X, _ = images
    maps = fitted.critic_features(X[:3])
    assert fitted.memory_bank_.map_shape == maps.shape[1:]
    pooled = DAnoGANDetector(memory_bank_size=50, feature_pool=2, **TINY).fit(X)
    assert pooled.memory_bank_.map_shape == (maps.shape[1], 2, 2)


def test_patch_term_is_the_distance_to_the_training_maps(images, fitted):
    _, X_test = images
    components = fitted.score_components(X_test)
    bank_maps = fitted.memory_bank_.vectors.cpu().numpy().reshape(-1, *fitted.memory_bank_.map_shape)
    expected = _patch_brute_force(fitted.critic_features(X_test), bank_maps)
    np.testing.assert_allclose(components["patch"], expected, rtol=1e-4, atol=1e-5)


def test_patch_term_contract_and_patch_weight_at_scoring_time(images, fitted):
    _, X_test = images
    assert_score_term_contract(fitted, X_test, "patch", (0.0, 0.1, 0.3))
    parts = fitted.score_components(X_test)
    without = anomaly_score(parts, fitted.alpha, fitted.critic_weight, term_spreads(fitted._training_components),
                            neighbor_weight=fitted.neighbor_weight, latent_weight=fitted.latent_weight)
    assert not np.allclose(-fitted.score_samples(X_test), without)


def test_pickle_round_trip_keeps_the_patch_term(images, fitted):
    _, X_test = images
    loaded = pickle.loads(pickle.dumps(fitted))
    assert loaded.memory_bank_.map_shape == fitted.memory_bank_.map_shape
    np.testing.assert_allclose(loaded.score_samples(X_test), fitted.score_samples(X_test), rtol=1e-6)


def test_tabular_data_has_no_patch_term():
    X = np.random.default_rng(0).normal(size=(60, 5))
    with pytest.raises(ValueError, match="patch_weight=0.3 needs the critic's feature maps"):
        DAnoGANDetector(memory_bank_size=50, **TINY).fit(X)
    det = DAnoGANDetector(memory_bank_size=50, **dict(TINY, patch_weight=0.0)).fit(X)
    assert "patch" not in det.score_components(X[:5])
    det.set_params(patch_weight=0.3)
    with pytest.raises(ValueError, match="patch_weight=0.3 needs the critic's feature maps"):
        det.score_samples(X[:5])


def test_patch_weight_needs_a_bank(images):
    X, _ = images
    with pytest.raises(ValueError, match="patch_weight=0.3 needs a memory bank"):
        DAnoGANDetector(memory_bank_size=0, **dict(TINY, neighbor_weight=0.0, latent_weight=0.0)).fit(X)


def test_patch_weight_set_after_fit_scores_as_if_given_at_fit(images):
    X, X_test = images
    later = DAnoGANDetector(memory_bank_size=50, **dict(TINY, patch_weight=0.0, neighbor_weight=0.65)).fit(X)
    # Without weight the term costs nothing at scoring time; the training data's is kept.
    assert "patch" not in later.score_components(X_test)
    assert "patch" in later._training_components
    later.set_params(patch_weight=0.3, neighbor_weight=0.35)
    given = DAnoGANDetector(memory_bank_size=50, **TINY).fit(X)
    np.testing.assert_allclose(later.score_samples(X_test), given.score_samples(X_test), rtol=1e-6)
    assert later.offset_ == pytest.approx(given.offset_)
