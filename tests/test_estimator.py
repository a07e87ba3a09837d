"""DAnoGANDetector's contract: scoring-time parameters, caching, determinism, input handling, persistence."""

import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from danogan_sk import DAnoGANDetector
from danogan_sk.devices import deterministic_kernels
from danogan_sk.hooks import PHASE1_LOSSES

TINY = dict(
    n_generators=2,
    latent_dim=3,
    n_epochs=2,
    xzx_epochs=1,
    batch_size=16,
    base_channels=4,
    random_state=0,
)


def blobs(n=60, n_features=5, seed=0):
    """Two well separated groups of points: two disconnected manifolds."""
    rng = np.random.default_rng(seed)
    centers = np.array([[-3.0] * n_features, [3.0] * n_features])
    return centers[rng.integers(0, 2, n)] + rng.normal(size=(n, n_features))


def images(n=40, shape=(1, 12, 12), seed=0):
    return np.random.default_rng(seed).random((n, *shape)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    X = blobs()
    return DAnoGANDetector(**TINY).fit(X), X


SCORE_DEFAULTS = {name: DAnoGANDetector().get_params()[name]
                  for name in ("alpha", "critic_weight", "neighbor_weight", "latent_weight", "scale_terms")}


def test_alpha_changes_scores_without_training(fitted):
    det, X = fitted
    weights = {k: v.clone() for k, v in det.networks_.state_dict().items()}
    components = det.score_components(X)
    det.set_params(alpha=0.0, critic_weight=0.0, neighbor_weight=0.0, latent_weight=0.0, scale_terms=False)
    np.testing.assert_allclose(det.score_samples(X), -components["mse"])
    det.set_params(alpha=1.0)
    np.testing.assert_allclose(det.score_samples(X), -components["kl"])
    det.set_params(alpha=0.9)
    np.testing.assert_allclose(
        det.score_samples(X), -(0.1 * components["mse"] + 0.9 * components["kl"])
    )
    assert all(torch.equal(v, weights[k]) for k, v in det.networks_.state_dict().items())
    det.set_params(**SCORE_DEFAULTS)


def iqr(values):
    q1, q3 = np.percentile(values, [25, 75])
    return q3 - q1


def test_critic_weight_and_term_scaling_act_at_scoring_time(fitted):
    det, X = fitted
    train = det.score_components(X)  # the fixture scores its own training data
    query = X[:10] + 1.0
    components = det.score_components(query)
    det.set_params(alpha=0.0, critic_weight=1.0, neighbor_weight=0.0, latent_weight=0.0, scale_terms=False)
    np.testing.assert_allclose(det.score_samples(query), -components["critic"])
    det.set_params(alpha=0.0, critic_weight=0.0, scale_terms=True)
    np.testing.assert_allclose(det.score_samples(query), -components["mse"] / iqr(train["mse"]))
    det.set_params(alpha=0.0, critic_weight=0.5, scale_terms=True)
    expected = 0.5 * components["mse"] / iqr(train["mse"]) + 0.5 * components["critic"] / iqr(train["critic"])
    np.testing.assert_allclose(det.score_samples(query), -expected)
    det.set_params(**SCORE_DEFAULTS)
    c, n, l = (SCORE_DEFAULTS[name] for name in ("critic_weight", "neighbor_weight", "latent_weight"))
    expected = (
        (1 - c - n - l) * components["mse"] / iqr(train["mse"])
        + c * components["critic"] / iqr(train["critic"])
        + n * components["neighbor"] / iqr(train["neighbor"])
        + l * components["latent"] / iqr(train["latent"])
    )
    np.testing.assert_allclose(det.score_samples(query), -expected)
    # offset_ follows the same settings: the contamination share of training samples is flagged.
    assert np.mean(det.predict(X) == -1) == pytest.approx(det.contamination, abs=1.5 / len(X))


def test_anomaly_score_from_components_is_what_score_samples_negates(fitted):
    det, X = fitted
    components = det.score_components(X[:15])
    for settings in (dict(alpha=0.9, critic_weight=0.0, neighbor_weight=0.0, latent_weight=0.0, scale_terms=False),
                     SCORE_DEFAULTS):
        det.set_params(**settings)
        np.testing.assert_allclose(det.anomaly_score_from_components(components), -det.score_samples(X[:15]))
    det.set_params(alpha=2.0)
    with pytest.raises(ValueError, match="alpha"):
        det.anomaly_score_from_components(components)
    det.set_params(**SCORE_DEFAULTS)


def test_critic_component_is_the_negated_critic_value(fitted):
    det, X = fitted
    network_input = torch.from_numpy(det._to_network_input(X.astype(np.float64))).to(det.device_)
    with torch.no_grad():
        value, _ = det.networks_.critic(network_input)
    np.testing.assert_allclose(det.score_components(X)["critic"], -value.cpu().numpy(), rtol=1e-5, atol=1e-6)


def test_contamination_moves_the_threshold_without_training(fitted):
    det, X = fitted
    for contamination in (0.1, 0.3, 0.5):
        det.set_params(contamination=contamination)
        outliers = np.mean(det.predict(X) == -1)
        assert outliers == pytest.approx(contamination, abs=1.5 / len(X))
    det.set_params(contamination=0.1)


def test_scoring_time_parameters_are_validated(fitted):
    det, X = fitted
    det.set_params(alpha=1.5)
    with pytest.raises(ValueError, match="alpha"):
        det.score_samples(X)
    det.set_params(alpha=0.9)


def test_score_components_are_finite_and_consistent(fitted):
    det, X = fitted
    components = det.score_components(X)
    assert set(components) == {"mse", "kl", "feature_mse", "critic", "neighbor", "latent", "cluster"}
    for name in ("mse", "kl", "feature_mse", "latent"):
        assert components[name].shape == (len(X),)
        assert np.all(np.isfinite(components[name]))
        assert np.all(components[name] >= -1e-6)
    assert set(np.unique(components["cluster"])) <= {0, 1}
    np.testing.assert_allclose(det.decision_function(X), det.score_samples(X) - det.offset_)


def test_history_records_every_epoch(fitted):
    det, _ = fitted
    history = det.history_
    for name in (*PHASE1_LOSSES, "bandit_loss", "reconstruction_error"):
        assert history[name].shape == (TINY["n_epochs"],), name
    probabilities = history["bandit_probabilities"]
    assert probabilities.shape == (TINY["n_epochs"], TINY["n_generators"])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert history["xzx_loss"].shape == (TINY["xzx_epochs"],)


def test_grid_search_over_alpha_trains_once_per_fold(tmp_path):
    X_normal = blobs(60)
    X_outliers = np.random.default_rng(1).uniform(-8, 8, size=(20, 5))
    X = np.vstack([X_normal, X_outliers])
    y = np.r_[np.ones(60), -np.ones(20)]
    # Train on normal rows only, test on held-out normals and the outliers.
    cv = [
        (np.arange(0, 30), np.r_[np.arange(30, 60), np.arange(60, 80)]),
        (np.arange(30, 60), np.r_[np.arange(0, 30), np.arange(60, 80)]),
    ]
    search = GridSearchCV(
        DAnoGANDetector(**TINY, memory=str(tmp_path)),
        {"alpha": [0.0, 0.5, 1.0]},
        cv=cv,
        scoring="roc_auc",
    ).fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 3
    # one cached training per fold, plus the refit on all of X
    trainings = [p for p in tmp_path.rglob("output.pkl")]
    assert len(trainings) == len(cv) + 1


def test_memory_returns_the_same_model_without_training(tmp_path):
    X = blobs()
    first = DAnoGANDetector(**TINY, memory=str(tmp_path)).fit(X)
    second = DAnoGANDetector(**TINY, memory=str(tmp_path), alpha=0.2).fit(X)
    assert len(list(tmp_path.rglob("output.pkl"))) == 1
    np.testing.assert_array_equal(first.score_components(X)["mse"], second.score_components(X)["mse"])
    DAnoGANDetector(**{**TINY, "n_epochs": 3}, memory=str(tmp_path)).fit(X)
    assert len(list(tmp_path.rglob("output.pkl"))) == 2  # a training parameter is part of the key


def test_same_seed_same_scores_and_no_global_rng_touched():
    X = blobs()
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    seed = torch.initial_seed()
    a = DAnoGANDetector(**TINY).fit(X).score_samples(X)
    b = DAnoGANDetector(**TINY).fit(X).score_samples(X)
    c = DAnoGANDetector(**{**TINY, "random_state": 1}).fit(X).score_samples(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert torch.initial_seed() == seed
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])


def test_xzx_lowers_reconstruction_error_and_zero_epochs_skip_it():
    X = images(64, (1, 16, 16), seed=3)
    params = {**TINY, "n_epochs": 1, "xzx_epochs": 4, "batch_size": 16}
    history = DAnoGANDetector(**params).fit(X).history_
    assert history["reconstruction_error_after_xzx"][0] < history["reconstruction_error_before_xzx"][0]
    assert history["xzx_loss"][-1] < history["xzx_loss"][0]
    skipped = DAnoGANDetector(**{**params, "xzx_epochs": 0}).fit(X).history_
    assert "xzx_loss" not in skipped
    assert skipped["reconstruction_error_after_xzx"][0] == skipped["reconstruction_error_before_xzx"][0]


def test_bandit_moves_away_from_uniform_with_more_generators_than_clusters():
    # Two tight, far apart clusters and six generators: the classifier sends
    # real data to few clusters, and once the entropy weight has decayed the
    # prior follows it.
    X = blobs(256, n_features=4, seed=0) * 0.5
    det = DAnoGANDetector(
        n_generators=6, latent_dim=2, n_epochs=30, xzx_epochs=0, batch_size=32,
        n_critic=1, lr_bandit=1e-2, base_channels=8, random_state=0,
    ).fit(X)
    probabilities = det.history_["bandit_probabilities"]
    np.testing.assert_allclose(probabilities[0], 1 / 6, atol=0.01)
    final = probabilities[-1]
    entropy = -(final * np.log(final)).sum()
    assert entropy < np.log(6) - 0.1
    det_off = DAnoGANDetector(**{**det.get_params(), "bandit": False}).fit(X)
    np.testing.assert_allclose(det_off.history_["bandit_probabilities"], 1 / 6)


def test_image_arrays_two_d_rows_and_image_shape_agree():
    X = images(32, (1, 12, 12))
    flat = X.reshape(32, -1)
    scores_3d = DAnoGANDetector(**TINY).fit(X[:, 0]).score_samples(X[:, 0])
    scores_4d = DAnoGANDetector(**TINY).fit(X).score_samples(X)
    det_2d = DAnoGANDetector(**TINY, image_shape=(12, 12)).fit(flat)
    np.testing.assert_allclose(scores_3d, scores_4d)
    np.testing.assert_allclose(det_2d.score_samples(flat), scores_4d)
    assert det_2d.image_shape_ == (1, 12, 12)
    # a fitted image detector scores images given in any of the three forms
    np.testing.assert_allclose(det_2d.score_samples(X), scores_4d)


def test_rgb_images():
    X = images(24, (3, 16, 16))
    det = DAnoGANDetector(**TINY).fit(X)
    assert det.image_shape_ == (3, 16, 16)
    assert det.networks_.generators[0].convs[-1].out_channels == 3
    assert np.all(np.isfinite(det.score_samples(X)))


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((10, 5), np.nan), "NaN"),
        (np.full((10, 5), np.inf), "infinity"),
        (np.array([["a", "b"], ["c", "d"]]), "could not convert|dtype"),
        (np.zeros((1, 5)), "1 sample"),
        (np.zeros((0, 5)), "0 sample"),
        (np.zeros(5), "2D array"),
        (np.zeros((4, 12, 12, 3)), "channels-last"),
    ],
)
def test_bad_training_input_gets_a_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        DAnoGANDetector(**TINY).fit(bad)


def test_image_shape_must_match_the_features():
    with pytest.raises(ValueError, match="needs 144 features"):
        DAnoGANDetector(**TINY, image_shape=(12, 12)).fit(np.zeros((10, 100)))
    with pytest.raises(ValueError, match="does not match"):
        DAnoGANDetector(**TINY, image_shape=(10, 10)).fit(np.zeros((10, 12, 12)))
    with pytest.raises(ValueError, match="image_shape"):
        DAnoGANDetector(**TINY, image_shape=(12, -12)).fit(np.zeros((10, 144)))


def test_scoring_input_must_match_the_fitted_shape(fitted):
    det, X = fitted
    with pytest.raises(ValueError, match="X has 4 features, but DAnoGANDetector is expecting 5"):
        det.score_samples(X[:, :4])
    with pytest.raises(ValueError, match="NaN"):
        det.score_samples(np.where(np.eye(len(X), 5, dtype=bool), np.nan, X))
    image_det = DAnoGANDetector(**TINY).fit(images(20, (1, 12, 12)))
    with pytest.raises(ValueError, match="fitted on images of shape"):
        image_det.score_samples(images(3, (1, 10, 10)))


def test_small_and_constant_data_give_finite_scores():
    small = blobs(5)  # fewer samples than batch_size
    det = DAnoGANDetector(**{**TINY, "batch_size": 64}).fit(small)
    assert np.all(np.isfinite(det.score_samples(small)))
    constant = np.full((20, 3), 7.0)
    det = DAnoGANDetector(**TINY).fit(constant)
    scores = det.score_samples(np.vstack([constant, constant + 1]))
    assert np.all(np.isfinite(scores))
    assert det.score_samples(constant[:1]).shape == (1,)


def test_the_callers_array_is_never_modified():
    for X in (blobs(30), images(30, (1, 12, 12)), blobs(30).astype(np.float32)):
        original = X.copy()
        det = DAnoGANDetector(**TINY).fit(X)
        det.score_samples(X)
        det.score_components(X)
        np.testing.assert_array_equal(X, original)
        assert X.dtype == original.dtype


def test_pickle_round_trip_gives_identical_scores_and_holds_cpu_tensors(fitted, tmp_path):
    det, X = fitted
    state = det.__getstate__()
    tensors = state["networks_"]
    assert isinstance(tensors, dict) and all(t.device.type == "cpu" for t in tensors.values())
    loaded = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))
    joblib.dump(det, tmp_path / "det.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "det.joblib").score_samples(X), det.score_samples(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_detector_saved_on_a_missing_gpu_loads_on_the_cpu_with_a_warning(fitted):
    det, X = fitted
    state = det.__getstate__()
    state["device_"] = "cuda:0"  # as if pickled on a GPU machine
    restored = DAnoGANDetector.__new__(DAnoGANDetector)
    with pytest.warns(UserWarning, match="not available here"):
        restored.__setstate__(state)
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.score_samples(X), det.score_samples(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_or_invalid_device_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        DAnoGANDetector(**TINY, device="cuda").fit(blobs())
    with pytest.raises(ValueError, match="not a torch device"):
        DAnoGANDetector(**TINY, device="gpu7").fit(blobs())


@pytest.mark.parametrize("user_benchmark", [False, True])
def test_cudnn_runs_deterministically_on_a_gpu_and_its_switches_are_restored_after(user_benchmark, monkeypatch):
    cudnn = torch.backends.cudnn
    monkeypatch.setattr(cudnn, "benchmark", user_benchmark)  # the user's setting, restored by monkeypatch too
    monkeypatch.setattr(cudnn, "deterministic", False)
    with deterministic_kernels("cpu"):
        assert (cudnn.deterministic, cudnn.benchmark) == (False, user_benchmark)
    with pytest.raises(KeyError), deterministic_kernels(torch.device("cuda", 0)):
        assert (cudnn.deterministic, cudnn.benchmark) == (True, False)
        raise KeyError  # restored on the way out of an error too
    assert (cudnn.deterministic, cudnn.benchmark) == (False, user_benchmark)
    # Overlapping blocks (fits in two threads): the switches hold until the last one ends.
    first, second = deterministic_kernels("cuda"), deterministic_kernels("cuda")
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert (cudnn.deterministic, cudnn.benchmark) == (True, False)
    second.__exit__(None, None, None)
    assert (cudnn.deterministic, cudnn.benchmark) == (False, user_benchmark)


def test_verbose_two_prints_one_line_per_epoch(capsys):
    DAnoGANDetector(**{**TINY, "verbose": 2}).fit(blobs())
    lines = capsys.readouterr().err.strip().splitlines()
    assert sum("[phase 1] epoch" in line for line in lines) == TINY["n_epochs"]
    assert sum("[xzx] epoch" in line for line in lines) == TINY["xzx_epochs"]
    DAnoGANDetector(**TINY).fit(blobs())
    assert capsys.readouterr().err == ""


def test_fit_predict_flags_the_contamination_share(fitted):
    _, X = fitted
    labels = DAnoGANDetector(**{**TINY, "contamination": 0.2}).fit_predict(X)
    assert set(np.unique(labels)) == {-1, 1}
    assert np.mean(labels == -1) == pytest.approx(0.2, abs=1.5 / len(X))


def test_reconstruct_returns_data_in_the_inputs_shape_and_units():
    X = images(32, (1, 12, 12)) * 200 + 10  # pixel values in [10, 210]
    det = DAnoGANDetector(**TINY).fit(X[:, 0])
    X_hat = det.reconstruct(X[:, 0])
    assert X_hat.shape == (32, 12, 12)
    low, high = X.min(), X.max()
    assert X_hat.min() >= low - 1e-3 and X_hat.max() <= high + 1e-3  # tanh range mapped back
    # the mse component is the same error, measured on the [-1, 1] scale
    expected = (((X[:, 0] - X_hat) / (high - low) * 2) ** 2).reshape(32, -1).mean(1)
    np.testing.assert_allclose(det.score_components(X[:, 0])["mse"], expected, rtol=1e-4)


def test_encode_gives_the_latent_code_and_the_cluster_scoring_uses(fitted):
    det, X = fitted
    latent, cluster = det.encode(X)
    assert latent.shape == (len(X), TINY["latent_dim"])
    assert np.all(np.abs(latent) <= 1)  # the encoders end in tanh
    np.testing.assert_array_equal(cluster, det.score_components(X)["cluster"])


def test_nested_lists_of_images_work_like_arrays():
    X = images(24, (1, 12, 12))[:, 0].astype(np.float64)
    from_list = DAnoGANDetector(**TINY).fit(X.tolist())
    from_array = DAnoGANDetector(**TINY).fit(X)
    assert from_list.image_shape_ == (1, 12, 12)
    np.testing.assert_allclose(from_list.score_samples(X[:4].tolist()), from_array.score_samples(X[:4]))
    assert from_list.reconstruct(X[:2].tolist()).shape == (2, 12, 12)


def test_incomplete_components_name_the_missing_terms(fitted):
    det, X = fitted
    parts = det.score_components(X[:4])
    incomplete = {name: values for name, values in parts.items() if name not in ("kl", "critic")}
    det.set_params(alpha=0.5, critic_weight=0.25, neighbor_weight=0.25)  # every term weighs
    try:
        with pytest.raises(ValueError, match=r"components \['critic', 'kl'\], which are missing"):
            det.anomaly_score_from_components(incomplete)
    finally:
        det.set_params(**SCORE_DEFAULTS)


def test_an_empty_image_array_says_fit_needs_two_samples():
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        DAnoGANDetector(**TINY).fit(np.empty((0, 12, 12)))


def test_memory_without_a_fixed_random_state_warns_that_nothing_is_reused(tmp_path):
    X = blobs()
    with pytest.warns(UserWarning, match="random_state"):
        DAnoGANDetector(**{**TINY, "random_state": None}, memory=str(tmp_path)).fit(X)
    assert not list(tmp_path.rglob("output.pkl"))  # nothing cached that no fit could reuse


def test_checkpoint_dir_that_is_a_file_is_a_clear_error(tmp_path):
    a_file = tmp_path / "not_a_folder"
    a_file.write_text("")
    for checkpoint_dir in (a_file, a_file / "below"):
        with pytest.raises(ValueError, match="checkpoint_dir.*is a file"):
            DAnoGANDetector(**TINY, checkpoint_dir=checkpoint_dir).fit(blobs())
    assert a_file.read_text() == ""


@pytest.mark.parametrize("shape", [(4, 64), (100, 4)])
def test_wide_and_tall_images_fit_and_score(shape):
    X = images(20, (1, *shape))
    det = DAnoGANDetector(**{**TINY, "n_epochs": 1, "xzx_epochs": 0}).fit(X)
    assert det.reconstruct(X[:2]).shape == (2, 1, *shape)
    assert np.all(np.isfinite(det.score_samples(X)))
