"""Fault handling: fuzzed input, extreme values, memmaps, incompatible pickles."""

import os
import pickle
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import config_context
from sklearn.model_selection import GridSearchCV

import danogan_sk
from conftest import single_thread
from danogan_sk import DAnoGANDetector

FAST = dict(
    n_generators=2, latent_dim=2, n_epochs=1, xzx_epochs=0, batch_size=16, base_channels=4,
    random_state=0,
)


@pytest.fixture(scope="module")
def table_detector():
    X = np.random.default_rng(0).normal(size=(40, 6))
    return DAnoGANDetector(**FAST).fit(X)


@pytest.fixture(scope="module")
def image_detector():
    X = np.random.default_rng(0).random((40, 1, 10, 10))
    return DAnoGANDetector(**FAST).fit(X)


DTYPES = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.uint8, np.bool_])
VALUES = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from(
    [1e300, -1e300, 1e-300, 5e-324, 3e38, 0.0]
)


def _score_or_clear_error(detector, X):
    """Either a ValueError/TypeError with a message, or finite scores; X is never modified."""
    before = np.array(X, copy=True)
    try:
        scores = detector.score_samples(X)
    except (ValueError, TypeError) as exc:
        assert str(exc)
        return None
    finally:
        np.testing.assert_array_equal(X, before)
    assert np.all(np.isfinite(scores)), scores
    return scores


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    X=hnp.arrays(
        dtype=DTYPES,
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=7),
        elements={"allow_nan": True, "allow_infinity": True},
    )
)
def test_any_array_scores_finite_or_raises_clearly(table_detector, X):
    _score_or_clear_error(table_detector, X)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    X=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.just(6)), elements=VALUES),
)
def test_extreme_values_in_the_right_shape(table_detector, X):
    scores = _score_or_clear_error(table_detector, X)
    if np.all(np.isfinite(X)):
        assert scores is not None  # finite input always gets finite scores


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=11))
def test_image_detector_accepts_only_its_shape(image_detector, shape):
    X = np.zeros(shape)
    scores = _score_or_clear_error(image_detector, X)
    fits = shape[1:] in ((10, 10), (1, 10, 10)) or shape[1:] == (100,)
    assert (scores is not None) == fits, shape


@settings(max_examples=12, deadline=None)
@given(
    X=hnp.arrays(
        dtype=DTYPES,
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6),
        elements={"allow_nan": True, "allow_infinity": True},
    ),
    image_shape=st.none() | st.tuples(st.integers(-1, 4), st.integers(1, 4)),
)
def test_fit_on_any_input_trains_or_raises_clearly(X, image_shape):
    before = np.array(X, copy=True)
    try:
        det = DAnoGANDetector(**FAST, image_shape=image_shape).fit(X)
    except (ValueError, TypeError) as exc:
        assert str(exc)
    else:
        assert np.all(np.isfinite(det.score_samples(X)))
    np.testing.assert_array_equal(X, before)


def test_huge_and_tiny_training_values_give_finite_scores():
    rng = np.random.default_rng(0)
    for scale in (1e-300, 1e-30, 1e30, 1e300):
        X = rng.normal(size=(30, 4)) * scale
        det = DAnoGANDetector(**FAST).fit(X)
        assert np.all(np.isfinite(det.score_samples(np.vstack([X, X * 1e6]))))


@pytest.mark.filterwarnings("ignore:Could not adhere to working_memory")
def test_scoring_a_memmap_reads_it_chunk_by_chunk(tmp_path, table_detector):
    X = np.random.default_rng(1).normal(size=(500, 6))
    path = tmp_path / "rows.dat"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    readonly = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    # a working memory so small that every chunk is one row
    with config_context(working_memory=1e-6):
        chunked = table_detector.score_samples(readonly)
    np.testing.assert_allclose(chunked, table_detector.score_samples(X.astype(np.float32)), rtol=1e-5)


def test_scoring_chunks_leave_room_for_the_weights_that_stacked_routing_copies_per_row(monkeypatch):
    # Off the CPU every routed row gets its own copy of its encoder's and generator's weights;
    # a chunk sized for the activations alone took several times working_memory on a GPU.
    X = np.random.default_rng(0).random((300, 1, 10, 10))
    det = DAnoGANDetector(**FAST, device="cpu", memory_bank_size=0, neighbor_weight=0.0,
                          latent_weight=0.0).fit(X[:40])
    chunk_rows = []
    original = danogan_sk.inputs.in_chunks

    def recording(compute, rows, size, *args, **kwargs):
        chunk_rows.append(size)
        return original(compute, rows, size, *args, **kwargs)

    monkeypatch.setattr(danogan_sk.inputs, "in_chunks", recording)
    with config_context(working_memory=0.25):  # MB
        looped = det.score_samples(X)
        det.networks_.routing = "stacked"
        stacked = det.score_samples(X)
    routed = det.networks_.routed_bytes_per_row(det.device_)
    weights = [*det.networks_.encoders[0].parameters(), *det.networks_.generators[0].parameters()]
    assert routed >= 4 * sum(w.numel() for w in weights) > 0
    activations = danogan_sk.inputs._SCORING_BYTES_PER_VALUE * 100
    assert chunk_rows == [int(0.25 * 2**20 // activations), int(0.25 * 2**20 // (activations + routed))]
    np.testing.assert_allclose(stacked, looped, rtol=1e-5)


def test_a_pickle_from_an_incompatible_version_names_both_versions(table_detector):
    state = table_detector.__getstate__()
    state["_danogan_state_format"] = 0
    state["_danogan_version"] = "0.0.1"
    restored = DAnoGANDetector.__new__(DAnoGANDetector)
    current = re.escape(danogan_sk.__version__)
    with pytest.raises(ValueError, match=rf"saved by danogan_sk 0\.0\.1.*danogan_sk {current} reads"):
        restored.__setstate__(state)
    # and a current pickle loads
    pickle.loads(pickle.dumps(table_detector))


class ThreadRecordingDetector(DAnoGANDetector):
    """Records torch's intra-op thread count as seen inside fit."""

    def fit(self, X, y=None):
        self.threads_in_fit_ = torch.get_num_threads()
        return super().fit(X, y)


def test_fit_keeps_the_users_thread_setting():
    with single_thread():
        det = ThreadRecordingDetector(**FAST).fit(np.random.default_rng(0).normal(size=(30, 4)))
        assert det.threads_in_fit_ == 1
        assert torch.get_num_threads() == 1


def test_parallel_grid_search_does_not_oversubscribe_the_cores():
    X = np.random.default_rng(0).normal(size=(60, 4))
    cv = [(np.arange(30), np.arange(30, 60)), (np.arange(30, 60), np.arange(30))]

    def threads_in_worker(estimator, X, y=None):
        return float(torch.get_num_threads())

    search = GridSearchCV(
        DAnoGANDetector(**FAST), {"alpha": [0.1, 0.9]}, cv=cv, scoring=threads_in_worker,
        n_jobs=2, refit=False,
    ).fit(X)
    # joblib caps each worker's OpenMP pool, which torch's intra-op pool is,
    # so two workers share the cores instead of each taking all of them.
    cap = max(1, os.cpu_count() // 2)
    assert np.all(search.cv_results_["mean_test_score"] <= cap)
