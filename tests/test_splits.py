"""Tests of the evaluation split protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from danogan_sk.datasets.splits import (
    AnomalySplit,
    leave_one_class_out,
    load_protocol_pool,
    normal_anomaly_split,
    normal_validation_split,
)

MNIST_TRAIN_COUNTS = np.array([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
MNIST_TEST_COUNTS = np.array([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
MNIST_POOL_COUNTS = MNIST_TRAIN_COUNTS + MNIST_TEST_COUNTS


@pytest.fixture(scope="module")
def mnist_pool(shared_data_home):
    return load_protocol_pool("mnist", "both", data_home=shared_data_home, download=False)


def toy(counts=(30, 20, 25, 10), dim=3, seed=0):
    """Samples whose first feature is their own index, so rows are traceable."""
    y = np.repeat(np.arange(len(counts)), counts)
    X = np.random.default_rng(seed).normal(size=(len(y), dim))
    X[:, 0] = np.arange(len(y))
    return X, y


def check_invariants(split: AnomalySplit, X, y):
    """Properties every split must have, whatever its arguments."""
    train, test = split.idx_train, split.idx_test
    assert len(np.intersect1d(train, test)) == 0
    assert len(np.unique(train)) == len(train) and len(np.unique(test)) == len(test)
    used = np.flatnonzero(np.isin(y, split.normal_classes + split.anomaly_classes))
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), used)
    np.testing.assert_array_equal(split.X_train, X[train])
    np.testing.assert_array_equal(split.X_test, X[test])
    np.testing.assert_array_equal(split.classes_train, y[train])
    np.testing.assert_array_equal(split.classes_test, y[test])
    assert np.isin(split.classes_train, split.normal_classes).all()
    anomalous = np.isin(split.classes_test, split.anomaly_classes)
    np.testing.assert_array_equal(split.y_test, anomalous.astype(int))
    np.testing.assert_array_equal(split.y_test_sklearn, np.where(anomalous, -1, 1))
    assert split.y_test.dtype == np.int64 and split.y_test_sklearn.dtype == np.int64
    # Every anomalous sample is in the test set.
    assert anomalous.sum() == np.isin(y, split.anomaly_classes).sum()


# ------------------------------------------------------------- real MNIST


@pytest.mark.parametrize("anomaly", [0, 5])
def test_mnist_leave_one_out_counts(mnist_pool, anomaly):
    X, y = mnist_pool
    assert np.bincount(y).tolist() == MNIST_POOL_COUNTS.tolist()
    split = leave_one_class_out(X, y, anomaly, random_state=0)
    expected_train = np.floor(0.8 * MNIST_POOL_COUNTS).astype(int)
    expected_train[anomaly] = 0
    expected_test = MNIST_POOL_COUNTS - expected_train
    assert np.bincount(split.classes_train, minlength=10).tolist() == expected_train.tolist()
    assert np.bincount(split.classes_test, minlength=10).tolist() == expected_test.tolist()
    assert split.X_train.shape == (expected_train.sum(), 28, 28)
    assert split.X_train.dtype == np.uint8
    assert split.y_test.sum() == MNIST_POOL_COUNTS[anomaly]
    assert split.normal_classes == tuple(c for c in range(10) if c != anomaly)
    check_invariants(split, X, y)


def test_mnist_unstratified_matches_reference_cut(mnist_pool):
    X, y = mnist_pool
    split = leave_one_class_out(X, y, 1, random_state=0, stratify=False)
    n_normal = MNIST_POOL_COUNTS.sum() - MNIST_POOL_COUNTS[1]
    assert len(split.idx_train) == int(n_normal * 0.8)
    # Not stratified: per-class counts drift from exact fractions.
    per_class = np.bincount(split.classes_train, minlength=10)
    assert per_class[1] == 0
    assert per_class.tolist() != np.floor(0.8 * MNIST_POOL_COUNTS).astype(int).tolist()
    check_invariants(split, X, y)


def test_fashion_test_pool_counts(shared_data_home):
    X, y = load_protocol_pool("fashion-mnist", "test", data_home=shared_data_home,
                              download=False)
    split = leave_one_class_out(X, y, 9, random_state=0)
    assert np.bincount(split.classes_train, minlength=10).tolist() == [800] * 9 + [0]
    assert np.bincount(split.classes_test).tolist() == [200] * 9 + [1000]
    check_invariants(split, X, y)


def test_protocol_pools(shared_data_home, mnist_pool):
    X, y = load_protocol_pool("mnist", "test", data_home=shared_data_home, download=False)
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS.tolist()
    np.testing.assert_array_equal(X, mnist_pool[0][60000:])
    with pytest.raises(ValueError, match="unknown pool"):
        load_protocol_pool("mnist", "validation")


# ------------------------------------------------------------------ toy data


def test_wheel_style_split_and_test_masks():
    counts = [50] * 8 + [20, 30, 40]
    X, y = toy(counts)
    split = normal_anomaly_split(X, y, range(8), [8, 9, 10], random_state=1)
    check_invariants(split, X, y)
    assert np.bincount(split.classes_train).tolist() == [40] * 8
    for c, n in zip([8, 9, 10], [20, 30, 40]):
        mask = split.test_mask(c)
        assert mask.sum() == 8 * 10 + n
        assert set(split.classes_test[mask].tolist()) == set(range(8)) | {c}
    with pytest.raises(ValueError, match="not an anomaly class"):
        split.test_mask(3)
    assert "n_train=320" in repr(split)


def test_anomaly_classes_default_and_excluded_classes():
    X, y = toy((10, 10, 10, 10))
    split = normal_anomaly_split(X, y, [0, 1], random_state=0)
    assert split.anomaly_classes == (2, 3)
    check_invariants(split, X, y)
    # Classes in neither list are left out entirely.
    split = normal_anomaly_split(X, y, [0], [3], random_state=0)
    assert not np.isin([1, 2], np.concatenate([split.classes_train, split.classes_test])).any()
    check_invariants(split, X, y)


def test_leave_one_class_out_is_normal_anomaly_split():
    X, y = toy()
    a = leave_one_class_out(X, y, 2, train_fraction=0.6, random_state=3)
    b = normal_anomaly_split(X, y, [0, 1, 3], [2], train_fraction=0.6, random_state=3)
    np.testing.assert_array_equal(a.idx_train, b.idx_train)
    np.testing.assert_array_equal(a.idx_test, b.idx_test)
    assert a.normal_classes == (0, 1, 3) and a.anomaly_classes == (2,)


def test_string_labels():
    y = np.array(["cat"] * 10 + ["dog"] * 10 + ["cow"] * 5)
    X = np.arange(len(y))
    split = leave_one_class_out(X, y, "cow", random_state=0)
    assert split.y_test.sum() == 5 and len(split.X_train) == 16
    check_invariants(split, X, y)


def test_deterministic_per_seed_and_global_rng_untouched():
    X, y = toy()
    state = np.random.get_state()
    a = leave_one_class_out(X, y, 0, random_state=42)
    b = leave_one_class_out(X, y, 0, random_state=42)
    c = leave_one_class_out(X, y, 0, random_state=43)
    d = leave_one_class_out(X, y, 0, random_state=np.random.RandomState(42))
    assert np.array_equal(np.random.get_state()[1], state[1])
    np.testing.assert_array_equal(a.idx_train, b.idx_train)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    np.testing.assert_array_equal(a.idx_train, d.idx_train)
    assert not np.array_equal(a.idx_train, c.idx_train)
    assert not np.array_equal(np.sort(a.idx_train), np.sort(c.idx_train))


def test_training_set_is_shuffled_across_classes():
    y = np.repeat([0, 1, 2], 100)
    split = normal_anomaly_split(np.arange(300), y, [0, 1], [2], random_state=0)
    # Not grouped by class: both classes appear in the first 20 training samples.
    assert set(split.classes_train[:20].tolist()) == {0, 1}
    assert np.all(np.diff(split.idx_test) > 0)  # test set keeps input order


def test_inputs_not_modified_and_outputs_are_copies():
    X, y = toy()
    X0, y0 = X.copy(), y.copy()
    split = leave_one_class_out(X, y, 1, random_state=0)
    fit = normal_validation_split(split.X_train, random_state=0, classes=split.classes_train)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert not np.shares_memory(split.X_train, X) and not np.shares_memory(split.X_test, X)
    split.X_train[:] = -1
    np.testing.assert_array_equal(X, X0)
    assert not np.shares_memory(fit.X_fit, split.X_train)


def test_accepts_lists():
    split = leave_one_class_out([[0], [1], [2], [3], [4], [5]], [0, 0, 1, 1, 2, 2], 2,
                                train_fraction=0.5, random_state=0)
    assert split.X_train.shape == (2, 1) and split.y_test.tolist() == [0, 0, 1, 1]


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, float("nan"), True, "0.8", None])
def test_bad_fractions(fraction):
    X, y = toy()
    with pytest.raises(ValueError, match="train_fraction"):
        leave_one_class_out(X, y, 0, train_fraction=fraction)
    with pytest.raises(ValueError, match="validation_fraction"):
        normal_validation_split(X, validation_fraction=fraction)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda X, y: leave_one_class_out(X, y, 10), "class 10 has no samples"),
        (lambda X, y: leave_one_class_out(X[:-1], y, 0), "different lengths"),
        (lambda X, y: leave_one_class_out(X, y[:, None], 0), "1-D"),
        (lambda X, y: leave_one_class_out(1.0, [0], 0), "scalar"),
        (lambda X, y: leave_one_class_out(X[:30], y[:30], 0), "no normal class"),
        (lambda X, y: normal_anomaly_split(X, y, [0, 7], [1]), "normal_classes: class 7"),
        (lambda X, y: normal_anomaly_split(X, y, [0], [1, 9]), "anomaly_classes: class 9"),
        (lambda X, y: normal_anomaly_split(X, y, [], [1]), "normal_classes is empty"),
        (lambda X, y: normal_anomaly_split(X, y, [0], []), "anomaly_classes is empty"),
        (lambda X, y: normal_anomaly_split(X, y, [0, 1], [1, 2]), r"\[1\] are both"),
        (lambda X, y: normal_anomaly_split(X, y, [0, 1, 2, 3]), "every class in y is normal"),
        (lambda X, y: normal_anomaly_split(X, y, [3], [0], 0.05), "training set empty"),
        (lambda X, y: normal_anomaly_split(X, y, [3], [0], 1 - 1e-13), "no normal sample"),
        (lambda X, y: normal_validation_split(X[:5], 1e-14), "0 to validate"),
        (lambda X, y: normal_validation_split(X[:5], 0.9), "0 to fit"),
        (lambda X, y: normal_validation_split(X, classes=y[:-1]), "different lengths"),
        (lambda X, y: normal_validation_split(3.0), "scalar"),
    ],
)
def test_errors(call, match):
    X, y = toy()  # classes 0..3 with 30, 20, 25, 10 samples
    with pytest.raises(ValueError, match=match):
        call(X, y)


# ------------------------------------------------------------- validation


def test_validation_split_sizes_and_disjointness():
    X, y = toy((40, 60))
    res = normal_validation_split(X, 0.25, random_state=0)
    assert (len(res.X_fit), len(res.X_val)) == (75, 25)
    assert len(np.intersect1d(res.idx_fit, res.idx_val)) == 0
    X_fit, X_val, idx_fit, idx_val = res  # a plain tuple as well
    assert X_fit is res.X_fit and idx_val is res.idx_val
    np.testing.assert_array_equal(
        np.sort(np.concatenate([res.idx_fit, res.idx_val])), np.arange(100)
    )
    np.testing.assert_array_equal(res.X_val, X[res.idx_val])
    again = normal_validation_split(X, 0.25, random_state=0)
    np.testing.assert_array_equal(res.idx_val, again.idx_val)
    other = normal_validation_split(X, 0.25, random_state=1)
    assert not np.array_equal(res.idx_val, other.idx_val)


def test_validation_split_stratified():
    X, y = toy((40, 60))
    res = normal_validation_split(X, 0.1, random_state=0, classes=y)
    assert np.bincount(y[res.idx_val]).tolist() == [4, 6]
    assert np.bincount(y[res.idx_fit]).tolist() == [36, 54]


# ------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(2, 40), min_size=2, max_size=6),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**31 - 1),
    stratify=st.booleans(),
    data=st.data(),
)
def test_split_properties(counts, fraction, seed, stratify, data):
    X, y = toy(counts, dim=1)
    anomaly = data.draw(st.integers(0, len(counts) - 1))
    normal_counts = [n for c, n in enumerate(counts) if c != anomaly]
    if stratify:
        n_train = sum(math.floor(n * fraction * (1 + 1e-12)) for n in normal_counts)
    else:
        n_train = math.floor(sum(normal_counts) * fraction * (1 + 1e-12))
    if n_train in (0, sum(normal_counts)):
        with pytest.raises(ValueError):
            leave_one_class_out(X, y, anomaly, fraction, seed, stratify=stratify)
        return
    split = leave_one_class_out(X, y, anomaly, fraction, seed, stratify=stratify)
    assert len(split.idx_train) == n_train
    check_invariants(split, X, y)


@pytest.mark.parametrize("n, fraction, expected", [(100, 0.29, 29), (10, 0.7, 7), (5, 0.5, 2)])
def test_train_size_is_floor_without_float_error(n, fraction, expected):
    X, y = toy((n, 3))
    split = normal_anomaly_split(X, y, [0], [1], fraction, random_state=0)
    assert len(split.idx_train) == expected
