"""The memory bank of critic features and the ``neighbor`` score term."""

import pickle

import numpy as np
import pytest
import torch

from _terms import assert_score_term_contract
from danogan_sk import DAnoGANDetector
from danogan_sk.memory_bank import MemoryBank, feature_vectors
from danogan_sk.scoring import neighbor_offsets, shifted_images

# The neighbour term with the critic, without the latent term (tests/test_latent_term.py has that).
TINY = dict(n_generators=2, latent_dim=3, n_epochs=1, xzx_epochs=1, base_channels=4, random_state=0,
            neighbor_weight=0.5, latent_weight=0.0)


@pytest.fixture(scope="module")
def fitted(images):
    X, _ = images
    # Queries moved by a pixel too, so that every test below covers that path.
    return DAnoGANDetector(memory_bank_size=50, neighbor_shift=1, **TINY).fit(X)


def _brute_force(queries: np.ndarray, bank: np.ndarray, k: int, metric: str) -> np.ndarray:
    if metric == "cosine":
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        b = bank / np.linalg.norm(bank, axis=1, keepdims=True)
        d = 1.0 - q @ b.T
    else:
        d = np.linalg.norm(queries[:, None, :] - bank[None, :, :], axis=2)
    return np.sort(d, axis=1)[:, :k].mean(1)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("k", [1, 3])
def test_distance_matches_brute_force(metric, k):
    rng = np.random.default_rng(1)
    bank, queries = rng.normal(size=(40, 6)), rng.normal(size=(15, 6))
    memory = MemoryBank(feature_vectors(torch.from_numpy(bank), None, metric), k, metric, None)
    got = memory.distance(torch.from_numpy(queries)).numpy()
    np.testing.assert_allclose(got, _brute_force(queries, bank, k, metric), rtol=1e-4, atol=1e-5)


def test_neighbors_name_the_nearest_rows_leaving_a_query_s_own_row_out():
    rng = np.random.default_rng(3)
    bank = rng.normal(size=(30, 5))
    queries = np.concatenate([rng.normal(size=(8, 5)), bank[:4]])  # new samples, then bank rows
    memory = MemoryBank(torch.from_numpy(bank).float(), 3, "euclidean", None)
    distances, rows = memory.neighbors(torch.from_numpy(queries).float())
    full = np.linalg.norm(queries[:, None, :] - bank[None, :, :], axis=2)
    full[np.arange(8, 12), np.arange(4)] = np.inf  # a bank row is not its own neighbour
    expected_rows = np.argsort(full, axis=1)[:, :3]
    np.testing.assert_array_equal(rows.numpy(), expected_rows)
    np.testing.assert_allclose(distances.numpy(), np.take_along_axis(full, expected_rows, 1), rtol=1e-4)
    np.testing.assert_allclose(memory.distance(torch.from_numpy(queries).float()).numpy(),
                               distances.mean(1).numpy(), rtol=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_a_bank_row_is_scored_by_its_other_rows(metric):
    """A training sample kept in the bank gets the distance an unseen sample would."""
    rng = np.random.default_rng(2)
    bank = rng.normal(size=(30, 5))
    memory = MemoryBank(feature_vectors(torch.from_numpy(bank), None, metric), 2, metric, None)
    got = memory.distance(torch.from_numpy(bank[:10])).numpy()
    expected = [_brute_force(bank[i:i + 1], np.delete(bank, i, axis=0), 2, metric)[0] for i in range(10)]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert np.all(got > 0)


def test_pooling_shrinks_the_vectors():
    features = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    pooled = feature_vectors(features, 2, "euclidean")
    assert pooled.shape == (2, 12)
    np.testing.assert_allclose(pooled[0, 0], features[0, 0, :4, :4].mean())


def test_bank_needs_more_rows_than_neighbours():
    with pytest.raises(ValueError, match="n_neighbors=3"):
        MemoryBank(torch.zeros(3, 2), 3, "cosine", None)
    with pytest.raises(ValueError, match="metric"):
        MemoryBank(torch.zeros(3, 2), 1, "manhattan", None)


def test_bank_is_bounded_by_its_size(images, fitted):
    X, _ = images
    assert len(fitted.memory_bank_) == 50
    assert fitted.memory_bank_.dim == int(np.prod(fitted.critic_features(X[:1]).shape[1:]))
    small = DAnoGANDetector(memory_bank_size=500, **TINY).fit(X)
    assert len(small.memory_bank_) == len(X)  # never more rows than the training set
    pooled = DAnoGANDetector(memory_bank_size=50, feature_pool=1, **TINY).fit(X)
    assert pooled.memory_bank_.dim == fitted.critic_features(X[:1]).shape[1]


def test_training_rows_are_scored_like_unseen_normal_data(images, fitted):
    """offset_ and the term's scale come from distances to *other* training samples."""
    X, _ = images
    neighbor = fitted.score_components(X)["neighbor"]
    assert np.all(neighbor > 1e-4)  # no training row is its own neighbour
    np.testing.assert_allclose(neighbor, fitted._training_components["neighbor"], rtol=1e-5, atol=1e-6)
    # predict on the training data flags the contamination's share, as sklearn expects.
    assert np.mean(fitted.predict(X) == -1) == pytest.approx(fitted.contamination, abs=1 / len(X))


def test_neighbor_term_contract_and_neighbor_weight_at_scoring_time(images, fitted):
    _, X_test = images
    assert_score_term_contract(fitted, X_test, "neighbor", (0.0, 0.3, 0.5))
    fitted.set_params(neighbor_weight=0.5)
    with pytest.raises(ValueError, match="critic_weight \\+ neighbor_weight \\+ latent_weight \\+ patch_weight must be at most 1"):
        fitted.set_params(critic_weight=0.8).score_samples(X_test)
    fitted.set_params(critic_weight=0.5)


def test_pickle_round_trip_keeps_the_bank(images, fitted):
    _, X_test = images
    loaded = pickle.loads(pickle.dumps(fitted))
    assert fitted.__getstate__()["memory_bank_"].vectors.device.type == "cpu"  # pickled from the CPU
    assert loaded.memory_bank_.vectors.device == fitted.memory_bank_.vectors.device  # back where it was
    np.testing.assert_array_equal(loaded.memory_bank_.vectors.cpu().numpy(), fitted.memory_bank_.vectors.cpu().numpy())
    np.testing.assert_allclose(loaded.decision_function(X_test), fitted.decision_function(X_test), rtol=1e-6)


def test_without_a_bank(images):
    X, X_test = images
    det = DAnoGANDetector(**dict(TINY, memory_bank_size=0, neighbor_weight=0.0)).fit(X)
    assert det.memory_bank_ is None
    assert "neighbor" not in det.score_components(X_test)
    assert np.all(np.isfinite(det.decision_function(X_test)))
    with pytest.raises(ValueError, match="needs a memory bank"):
        det.set_params(neighbor_weight=0.5).decision_function(X_test)


def test_bad_bank_settings_fail_before_training(images):
    X, _ = images
    with pytest.raises(ValueError, match="n_neighbors=5 needs a memory bank of more than 5"):
        DAnoGANDetector(memory_bank_size=5, n_neighbors=5, **TINY).fit(X)
    with pytest.raises(ValueError, match="critic_weight \\+ neighbor_weight"):
        DAnoGANDetector(**dict(TINY, critic_weight=0.7, neighbor_weight=0.7)).fit(X)
    with pytest.raises(ValueError, match="needs a memory bank"):
        DAnoGANDetector(**dict(TINY, memory_bank_size=0, neighbor_weight=0.5)).fit(X)


def test_offset_is_computed_once_per_change_of_the_score_settings(images, fitted, monkeypatch):
    _, X_test = images
    calls = []
    original = type(fitted)._training_anomaly_scores
    monkeypatch.setattr(type(fitted), "_training_anomaly_scores",
                        lambda self: calls.append(1) or original(self))
    fitted.set_params(contamination=0.2)
    first = fitted.offset_
    fitted.predict(X_test)
    fitted.decision_function(X_test)
    assert len(calls) == 1 and fitted.offset_ == first
    fitted.set_params(neighbor_weight=0.0)
    assert fitted.offset_ != first and len(calls) == 2
    fitted.set_params(neighbor_weight=0.5, contamination=0.1)


def test_exclude_leaves_out_the_named_row_instead_of_the_identical_one():
    rng = np.random.default_rng(4)
    bank = rng.normal(size=(20, 4))
    queries = np.concatenate([bank[:3], rng.normal(size=(3, 4))])
    exclude = np.array([5, -1, 0, 7, -1, 19])
    memory = MemoryBank(torch.from_numpy(bank).float(), 2, "euclidean", None)
    distances, rows = memory.neighbors(torch.from_numpy(queries).float(), exclude=torch.from_numpy(exclude))
    full = np.linalg.norm(queries[:, None, :] - bank[None, :, :], axis=2)
    for i, row in enumerate(exclude):
        if row >= 0:
            full[i, row] = np.inf  # only the named row: query 0 keeps its identical row 0
    expected_rows = np.argsort(full, axis=1)[:, :2]
    np.testing.assert_array_equal(rows.numpy(), expected_rows)
    np.testing.assert_allclose(distances.numpy(), np.take_along_axis(full, expected_rows, 1), rtol=1e-4, atol=1e-6)
    assert rows[0, 0] == 0 and distances[0, 0] < 1e-3


def test_own_rows_are_the_rows_distance_leaves_out():
    rng = np.random.default_rng(5)
    bank = rng.normal(size=(12, 3))
    queries = torch.from_numpy(np.concatenate([bank[[7, 2]], bank[[7]] + 0.1, rng.normal(size=(2, 3))]))
    memory = MemoryBank(feature_vectors(torch.from_numpy(bank), None, "cosine"), 2, "cosine", None)
    distance, own = memory.distance_and_own_rows(queries)
    np.testing.assert_array_equal(own.numpy(), [7, 2, -1, -1, -1])
    np.testing.assert_allclose(distance.numpy(), memory.distance(queries).numpy(), rtol=1e-6)
    np.testing.assert_allclose(memory.distance(queries, exclude=own).numpy(), distance.numpy(), rtol=1e-6)


def test_shifted_images_move_and_fill():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    np.testing.assert_array_equal(shifted_images(x, -1, 1, fill=-1.0)[0, 0].numpy(),
                                  [[-1, 4, 5, 6], [-1, 8, 9, 10], [-1, -1, -1, -1]])
    np.testing.assert_array_equal(shifted_images(x, 0, 0, fill=-1.0).numpy(), x.numpy())
    assert shifted_images(x, 3, 0, fill=7.0).eq(7.0).all()
    assert set(neighbor_offsets(2)) == {(r, c) for r in range(-2, 3) for c in range(-2, 3)
                                        if 0 < abs(r) + abs(c) <= 2}
    assert len(neighbor_offsets(2)) == 12


def test_shifted_neighbor_term_matches_brute_force(images, fitted):
    """The smallest distance over the query and its moved copies; a training row's copies skip its own row."""
    X, X_test = images
    bank = fitted.memory_bank_.vectors.cpu().numpy()
    assert fitted.memory_bank_.shifts == neighbor_offsets(1)
    low = float(np.min(X))  # the fill, -1 on the networks' scale

    def vectors(A):
        return fitted.critic_features(A).reshape(len(A), -1).astype(np.float64)

    for queries in (X_test, X):
        plain = np.linalg.norm(vectors(queries)[:, None] - bank[None], axis=2)
        own = np.where(plain.min(1) < 1e-3, plain.argmin(1), -1)
        best = np.full(len(queries), np.inf)
        for rows, columns in ((0, 0), *neighbor_offsets(1)):
            moved = shifted_images(torch.from_numpy(queries), rows, columns, fill=low).numpy()
            d = np.linalg.norm(vectors(moved)[:, None] - bank[None], axis=2)
            d[own >= 0, own[own >= 0]] = np.inf
            best = np.minimum(best, d.min(1))
        np.testing.assert_allclose(fitted.score_components(queries)["neighbor"], best, rtol=1e-4, atol=1e-5)
    assert (own >= 0).sum() == len(fitted.memory_bank_)  # the bank's rows were found as themselves


def test_neighbor_shift_only_lowers_the_neighbor_term(images, fitted):
    X, X_test = images
    unshifted = DAnoGANDetector(memory_bank_size=50, neighbor_shift=0, **TINY).fit(X)
    assert unshifted.memory_bank_.shifts == ()
    np.testing.assert_array_equal(unshifted.memory_bank_.vectors.cpu().numpy(), fitted.memory_bank_.vectors.cpu().numpy())
    plain, moved = unshifted.score_components(X_test), fitted.score_components(X_test)
    np.testing.assert_array_equal(plain["critic"], moved["critic"])
    assert np.all(moved["neighbor"] <= plain["neighbor"] + 1e-6)
    assert np.mean(moved["neighbor"] < plain["neighbor"] - 1e-6) > 0.5


def test_tabular_rows_are_never_moved():
    X = np.random.default_rng(0).normal(size=(60, 4))
    det = DAnoGANDetector(**dict(TINY, neighbor_shift=2)).fit(X)
    assert det.memory_bank_.shifts == ()


def test_a_detector_saved_before_neighbor_shift_scores_as_it_did(images):
    X, X_test = images
    old = DAnoGANDetector(memory_bank_size=50, neighbor_shift=0, **TINY).fit(X)
    state = old.__getstate__()
    # What such a pickle holds: no neighbor_shift parameter, a bank without shifts.
    del state["neighbor_shift"]
    del state["memory_bank_"].__dict__["shifts"]
    loaded = DAnoGANDetector.__new__(DAnoGANDetector)
    loaded.__setstate__(state)
    assert loaded.neighbor_shift == 0 and loaded.memory_bank_.shifts == ()
    np.testing.assert_allclose(loaded.decision_function(X_test), old.decision_function(X_test), rtol=1e-6)
